import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalog, Change } from '../../shared/board.js';
import type { Write } from '../../shared/peer/store.js';
import { OlympixError } from '../../server/errors.js';
import { SqliteStore } from '../../server/store/sqlite-store.js';

const catalog: Catalog = { teams: ['Gaul', 'Rome'], events: ['Stone Curling', 'Luge'] };
const NODE = 'node-1';

function memoryStore(): SqliteStore {
  return SqliteStore.open(':memory:', catalog);
}

let writeCounter = 0;
/** Writes with a fresh write id and updatedAt = 1000 + counter, so that times are distinct and known. */
function write(store: SqliteStore, w: Write): { change: Change; duplicate: boolean } {
  writeCounter++;
  return store.write(`w-${writeCounter}`, w, 1000 + writeCounter, NODE);
}

const medal = (team: string, kind: 'gold' | 'silver' | 'bronze', delta: number): Write => ({ kind: 'medal', team, medal: kind, delta });
const score = (event: string, scores: Record<string, number>): Write => ({ kind: 'score', event, scores });

/** Asserts that fn throws an OlympixError with this status and code. */
function assertRefused(fn: () => unknown, statusCode: number, code: string, messageIncludes?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof OlympixError, `expected OlympixError, got ${String(error)}`);
    assert.equal(error.statusCode, statusCode);
    assert.equal(error.code, code);
    if (messageIncludes !== undefined) assert.ok(error.message.includes(messageIncludes), error.message);
    return true;
  });
}

describe('SqliteStore sequence numbers and medals', () => {
  test('a new store starts at seq 0 and numbers writes 1, 2, 3... without gaps', () => {
    // Checks seq after each of 10 mixed writes, and that changesAfter(0) lists seq 1..10 in order.
    const store = memoryStore();
    assert.equal(store.seq, 0);
    for (let i = 1; i <= 10; i++) {
      const { change, duplicate } = i % 2 === 0 ? write(store, medal('Gaul', 'gold', 1)) : write(store, score('Luge', { Rome: i }));
      assert.equal(duplicate, false);
      assert.equal(change.seq, i);
      assert.equal(store.seq, i);
    }
    assert.deepEqual(store.changesAfter(0, 100).map((change) => change.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    store.close();
  });

  test('medal deltas add up per team and medal, and each change carries the count after it', () => {
    // Checks a table of deltas against the running count in the change and the snapshot.
    const store = memoryStore();
    const table: Array<[team: string, kind: 'gold' | 'silver' | 'bronze', delta: number, count: number]> = [
      ['Gaul', 'gold', 1, 1],
      ['Gaul', 'gold', 3, 4],
      ['Rome', 'gold', 2, 2],
      ['Gaul', 'silver', 5, 5],
      ['Gaul', 'gold', -4, 0],
      ['Gaul', 'gold', 100, 100],
      ['Rome', 'bronze', 1, 1],
    ];
    for (const [team, kind, delta, count] of table) {
      const { change } = write(store, medal(team, kind, delta));
      assert.equal(change.kind, 'medal');
      if (change.kind !== 'medal') continue;
      assert.deepEqual(
        { team: change.team, medal: change.medal, delta: change.delta, count: change.count, node: change.node },
        { team, medal: kind, delta, count, node: NODE },
      );
    }
    const medals = store.snapshot().data.medals;
    assert.equal(medals['Gaul']!.gold.value, 100);
    assert.equal(medals['Gaul']!.silver.value, 5);
    assert.equal(medals['Gaul']!.bronze.value, 0);
    assert.equal(medals['Rome']!.gold.value, 2);
    assert.equal(medals['Rome']!.bronze.value, 1);
    store.close();
  });

  test('a delta that would take a count below 0 is refused with 409 and changes nothing', () => {
    // Checks seq, snapshot and change log before and after refused take-backs (from 0 and from 2).
    const store = memoryStore();
    write(store, medal('Gaul', 'gold', 2));
    const seqBefore = store.seq;
    const snapshotBefore = store.snapshot();
    const table: Write[] = [medal('Gaul', 'gold', -3), medal('Gaul', 'silver', -1), medal('Rome', 'bronze', -100)];
    for (const w of table) {
      assertRefused(() => store.write(`refused-${JSON.stringify(w)}`, w, 5000, NODE), 409, 'OLX_CONFLICT');
      assert.equal(store.seq, seqBefore);
      assert.deepEqual(store.snapshot(), snapshotBefore);
      assert.equal(store.changesAfter(0, 100).length, seqBefore);
    }
    // The next good write still takes the next number: a refusal burns no seq.
    assert.equal(write(store, medal('Gaul', 'gold', -2)).change.seq, seqBefore + 1);
    store.close();
  });

  test('a refused write id is not remembered: the same id may be used again for a good write', () => {
    // Checks that a write id whose write was refused does not later answer as a duplicate.
    const store = memoryStore();
    assertRefused(() => store.write('id-x', medal('Gaul', 'gold', -1), 10, NODE), 409, 'OLX_CONFLICT');
    const { change, duplicate } = store.write('id-x', medal('Gaul', 'gold', 1), 11, NODE);
    assert.equal(duplicate, false);
    assert.equal(change.seq, 1);
    store.close();
  });
});

describe('SqliteStore refusals', () => {
  test('unknown teams and events are refused with 404 naming them, and nothing is written', () => {
    // Checks a table of bad writes: status, code, the name in the message, seq and snapshot unchanged.
    const store = memoryStore();
    write(store, score('Luge', { Gaul: 1 }));
    const snapshotBefore = store.snapshot();
    const table: Array<[w: Write, code: string, name: string]> = [
      [medal('Atlantis', 'gold', 1), 'OLX_UNKNOWN_TEAM', 'Atlantis'],
      [medal('gaul', 'gold', 1), 'OLX_UNKNOWN_TEAM', 'gaul'],
      [score('Chariot Race', { Gaul: 1 }), 'OLX_UNKNOWN_EVENT', 'Chariot Race'],
      [score('Luge', { Atlantis: 1 }), 'OLX_UNKNOWN_TEAM', 'Atlantis'],
    ];
    for (const [w, code, name] of table) {
      assertRefused(() => store.write(`bad-${name}-${w.kind}`, w, 9000, NODE), 404, code, name);
      assert.equal(store.seq, 1);
      assert.deepEqual(store.snapshot(), snapshotBefore);
    }
    store.close();
  });

  test('a score write with one unknown team among known ones writes nothing (atomic)', () => {
    // Checks that Gaul's and Rome's scores are untouched when the same write names Atlantis, first or last.
    const store = memoryStore();
    write(store, score('Stone Curling', { Gaul: 1, Rome: 2 }));
    const snapshotBefore = store.snapshot();
    const table: Array<Record<string, number>> = [{ Gaul: 10, Rome: 20, Atlantis: 30 }, { Atlantis: 30, Gaul: 10, Rome: 20 }, { Gaul: 10, Atlantis: 30 }];
    for (const scores of table) {
      assertRefused(() => write(store, score('Stone Curling', scores)), 404, 'OLX_UNKNOWN_TEAM', 'Atlantis');
      assert.equal(store.seq, 1);
      assert.deepEqual(store.snapshot(), snapshotBefore);
      assert.deepEqual(store.changesAfter(0, 10).map((change) => change.seq), [1]);
    }
    store.close();
  });

  test('a score write with a non-finite score after a good one is rolled back entirely', () => {
    // Checks the transaction: the store's own finite check fails on the second team, the first team's score stays.
    const store = memoryStore();
    write(store, score('Luge', { Gaul: 1, Rome: 2 }));
    const snapshotBefore = store.snapshot();
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      assertRefused(() => write(store, score('Luge', { Gaul: 99, Rome: bad })), 400, 'OLX_BAD_BODY', 'Rome');
      assert.deepEqual(store.snapshot(), snapshotBefore);
      assert.equal(store.seq, 1);
    }
    store.close();
  });

  test('a medal delta of 0 is refused with 400 and writes nothing', () => {
    // Checks the store's own guard (the HTTP schema is not the only line of defence).
    const store = memoryStore();
    assertRefused(() => write(store, medal('Gaul', 'gold', 0)), 400, 'OLX_BAD_BODY');
    assert.equal(store.seq, 0);
    assert.deepEqual(store.changesAfter(0, 10), []);
    store.close();
  });
});

describe('SqliteStore idempotent writes', () => {
  test('a repeated writeId returns the first change with duplicate: true and takes no new seq', () => {
    // Checks that resending the same id, even with a different body and time, returns the first change verbatim.
    const store = memoryStore();
    const first = store.write('node-1:t:1', medal('Gaul', 'gold', 2), 1234, NODE);
    assert.equal(first.duplicate, false);
    const again = store.write('node-1:t:1', medal('Gaul', 'gold', 2), 1234, NODE);
    const different = store.write('node-1:t:1', medal('Rome', 'silver', 7), 9999, 'node-2');
    for (const repeat of [again, different]) {
      assert.equal(repeat.duplicate, true);
      assert.deepEqual(repeat.change, first.change);
    }
    assert.equal(store.seq, 1);
    assert.equal(store.snapshot().data.medals['Gaul']!.gold.value, 2);
    assert.equal(store.snapshot().data.medals['Rome']!.silver.value, 0);
    // A duplicate of an older write still answers with that write, after later ones.
    write(store, score('Luge', { Rome: 5 }));
    assert.deepEqual(store.write('node-1:t:1', medal('Gaul', 'gold', 2), 1234, NODE), { change: first.change, duplicate: true });
    assert.equal(store.seq, 2);
    store.close();
  });
});

describe('SqliteStore snapshot', () => {
  test('a fresh snapshot lists every team and event with value 0 and updatedAt null', () => {
    // Checks the full shape of a new store's snapshot, including its epoch and seq.
    const store = memoryStore();
    const snapshot = store.snapshot();
    assert.equal(typeof snapshot.epoch, 'string');
    assert.ok(snapshot.epoch.length > 0);
    assert.equal(snapshot.epoch, store.epoch);
    assert.equal(snapshot.seq, 0);
    assert.deepEqual(snapshot.catalog, catalog);
    const never = { value: 0, updatedAt: null };
    assert.deepEqual(snapshot.data, {
      medals: {
        Gaul: { gold: never, silver: never, bronze: never },
        Rome: { gold: never, silver: never, bronze: never },
      },
      scores: {
        'Stone Curling': { Gaul: never, Rome: never },
        Luge: { Gaul: never, Rome: never },
      },
    });
    store.close();
  });

  test('only updated values get an updatedAt; the rest stay null', () => {
    // Checks that one medal and one score write stamp exactly the values they set.
    const store = memoryStore();
    store.write('a', medal('Rome', 'bronze', 1), 1_700_000_000_123, NODE);
    store.write('b', score('Luge', { Gaul: 61.5 }), 1_700_000_000_456, NODE);
    const { data } = store.snapshot();
    assert.deepEqual(data.medals['Rome']!.bronze, { value: 1, updatedAt: 1_700_000_000_123 });
    assert.deepEqual(data.medals['Rome']!.gold, { value: 0, updatedAt: null });
    assert.deepEqual(data.medals['Gaul']!.bronze, { value: 0, updatedAt: null });
    assert.deepEqual(data.scores['Luge']!['Gaul'], { value: 61.5, updatedAt: 1_700_000_000_456 });
    assert.deepEqual(data.scores['Luge']!['Rome'], { value: 0, updatedAt: null });
    assert.deepEqual(data.scores['Stone Curling']!['Gaul'], { value: 0, updatedAt: null });
    store.close();
  });

  test('two stores have different epochs', () => {
    // Checks that a new database is a new history (clients of another must take a snapshot).
    const a = memoryStore();
    const b = memoryStore();
    assert.notEqual(a.epoch, b.epoch);
    a.close();
    b.close();
  });
});

describe('SqliteStore changesAfter', () => {
  test('pages through the log in order with a limit, and returns [] past the end', () => {
    // Checks pages of 3 over 8 changes, each page starting after the last seq of the previous one.
    const store = memoryStore();
    for (let i = 0; i < 8; i++) write(store, medal(i % 2 === 0 ? 'Gaul' : 'Rome', 'gold', 1));
    const pages: number[][] = [];
    let position = 0;
    for (;;) {
      const page = store.changesAfter(position, 3);
      if (page.length === 0) break;
      pages.push(page.map((change) => change.seq));
      position = page[page.length - 1]!.seq;
    }
    assert.deepEqual(pages, [[1, 2, 3], [4, 5, 6], [7, 8]]);
    assert.deepEqual(store.changesAfter(8, 3), []);
    assert.deepEqual(store.changesAfter(100, 3), []);
    assert.deepEqual(store.changesAfter(5, 100).map((change) => change.seq), [6, 7, 8]);
    store.close();
  });

  test('returns the same change objects that write returned', () => {
    // Checks that the logged body is the committed change, field for field.
    const store = memoryStore();
    const written = [write(store, medal('Gaul', 'silver', 3)).change, write(store, score('Luge', { Gaul: 1.25, Rome: -2 })).change];
    assert.deepEqual(store.changesAfter(0, 10), written);
    store.close();
  });
});

describe('SqliteStore on disk', () => {
  test('survives close and reopen with the same epoch, seq, data and changes', () => {
    // Checks a store in a mkdtemp directory: writes, close, reopen, compare everything, and keep numbering.
    const dir = mkdtempSync(join(tmpdir(), 'olympix-store-'));
    try {
      const first = SqliteStore.open(dir, catalog);
      first.write('a', medal('Gaul', 'gold', 3), 100, NODE);
      first.write('b', score('Stone Curling', { Gaul: 7, Rome: 5 }), 200, NODE);
      first.write('c', medal('Gaul', 'gold', -1), 300, NODE);
      const before = { epoch: first.epoch, seq: first.seq, snapshot: first.snapshot(), changes: first.changesAfter(0, 100) };
      first.close();

      const second = SqliteStore.open(dir, catalog);
      assert.equal(second.epoch, before.epoch);
      assert.equal(second.seq, 3);
      assert.deepEqual(second.snapshot(), before.snapshot);
      assert.deepEqual(second.changesAfter(0, 100), before.changes);
      // Write ids survive too: a resend after the restart is still a duplicate.
      assert.equal(second.write('b', score('Stone Curling', { Gaul: 7, Rome: 5 }), 200, NODE).duplicate, true);
      assert.equal(second.write('d', medal('Rome', 'bronze', 1), 400, NODE).change.seq, 4);
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reopening with an extra team adds it after the old ones and keeps the old data', () => {
    // Checks the catalog merge: new team and event appended, old results kept, old names kept even if no longer configured.
    const dir = mkdtempSync(join(tmpdir(), 'olympix-store-'));
    try {
      const first = SqliteStore.open(dir, catalog);
      first.write('a', medal('Rome', 'gold', 2), 100, NODE);
      first.write('b', score('Luge', { Gaul: 3 }), 200, NODE);
      first.close();

      const second = SqliteStore.open(dir, { teams: ['Gaul', 'Rome', 'Britons'], events: ['Luge', 'Stone Skating'] });
      assert.deepEqual(second.catalog, { teams: ['Gaul', 'Rome', 'Britons'], events: ['Stone Curling', 'Luge', 'Stone Skating'] });
      const snapshot = second.snapshot();
      assert.deepEqual(snapshot.catalog, second.catalog);
      assert.deepEqual(snapshot.data.medals['Rome']!.gold, { value: 2, updatedAt: 100 });
      assert.deepEqual(snapshot.data.medals['Britons'], {
        gold: { value: 0, updatedAt: null },
        silver: { value: 0, updatedAt: null },
        bronze: { value: 0, updatedAt: null },
      });
      assert.deepEqual(snapshot.data.scores['Luge']!['Gaul'], { value: 3, updatedAt: 200 });
      assert.deepEqual(snapshot.data.scores['Luge']!['Britons'], { value: 0, updatedAt: null });
      assert.deepEqual(snapshot.data.scores['Stone Skating']!['Gaul'], { value: 0, updatedAt: null });
      // The new team can be written to at once, and numbering goes on.
      assert.equal(second.write('c', medal('Britons', 'silver', 1), 300, NODE).change.seq, 3);
      second.close();

      // A third open with the original catalog still lists Britons: configuration edits never drop data.
      const third = SqliteStore.open(dir, catalog);
      assert.deepEqual(third.catalog.teams, ['Gaul', 'Rome', 'Britons']);
      assert.equal(third.snapshot().data.medals['Britons']!.silver.value, 1);
      third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

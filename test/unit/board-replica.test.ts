import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyTally, medalTopic, scoreTopic, type BoardData, type Catalog, type Change } from '../../shared/board.js';
import { BoardReplica } from '../../server/node/board-replica.js';

const catalog: Catalog = { teams: ['Gaul', 'Rome'], events: ['Luge', 'Stone Curling'] };

function emptyBoard(): BoardData {
  return {
    medals: { Gaul: emptyTally(), Rome: emptyTally() },
    scores: {
      Luge: { Gaul: { value: 0, updatedAt: null }, Rome: { value: 0, updatedAt: null } },
      'Stone Curling': { Gaul: { value: 0, updatedAt: null }, Rome: { value: 0, updatedAt: null } },
    },
  };
}

function medalChange(seq: number, team = 'Gaul', count = seq): Change {
  return { kind: 'medal', seq, team, medal: 'gold', count, delta: 1, updatedAt: 1000 + seq, node: 'node-1' };
}
function scoreChange(seq: number, event = 'Luge', scores: Record<string, number> = { Rome: seq }): Change {
  return { kind: 'score', seq, event, scores, updatedAt: 1000 + seq, node: 'node-1' };
}

/** A replica loaded at seq `from` with an empty board. */
function loaded(historyLimit: number, from = 0): BoardReplica {
  const replica = new BoardReplica(historyLimit);
  replica.load('e1', from, catalog, emptyBoard());
  return replica;
}

const ALL = new Set([medalTopic('Gaul'), medalTopic('Rome'), scoreTopic('Luge'), scoreTopic('Stone Curling')]);
const seqs = (changes: Change[] | null): number[] | null => (changes === null ? null : changes.map((change) => change.seq));

describe('BoardReplica construction and load', () => {
  test('historyLimit must be a positive integer', () => {
    // Checks a table of bad limits throw RangeError and good ones do not.
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new BoardReplica(bad), RangeError, `limit ${bad}`);
    for (const good of [1, 3, 10_000]) assert.equal(new BoardReplica(good).historyLimit, good);
  });

  test('is not ready until loaded, then holds the snapshot epoch, seq and catalog', () => {
    // Checks the getters before and after load().
    const replica = new BoardReplica(3);
    assert.equal(replica.ready, false);
    assert.equal(replica.epoch, null);
    assert.equal(replica.seq, 0);
    replica.load('e1', 41, catalog, emptyBoard());
    assert.equal(replica.ready, true);
    assert.equal(replica.epoch, 'e1');
    assert.equal(replica.seq, 41);
    assert.deepEqual(replica.catalog, catalog);
    assert.deepEqual(replica.topics(), ['medals:Gaul', 'medals:Rome', 'score:Luge', 'score:Stone Curling']);
  });
});

describe('BoardReplica.apply', () => {
  test('applies changes in order, reports duplicates and gaps, and changes nothing on either', () => {
    // Checks a table of (change, expected result, seq after) from seq 5.
    const replica = loaded(10, 5);
    const table: Array<[change: Change, result: 'applied' | 'duplicate' | 'gap', seqAfter: number]> = [
      [medalChange(6), 'applied', 6],
      [medalChange(6), 'duplicate', 6],
      [medalChange(3), 'duplicate', 6],
      [medalChange(8), 'gap', 6],
      [scoreChange(7), 'applied', 7],
      [medalChange(100), 'gap', 7],
      [medalChange(8, 'Rome', 4), 'applied', 8],
    ];
    for (const [change, result, seqAfter] of table) {
      const boardBefore = structuredClone(replica.board());
      assert.equal(replica.apply(change), result, `seq ${change.seq}`);
      assert.equal(replica.seq, seqAfter, `seq ${change.seq}`);
      if (result !== 'applied') assert.deepEqual(replica.board(), boardBefore, `seq ${change.seq} must not change the board`);
    }
    assert.deepEqual(replica.board().medals['Gaul']!.gold, { value: 6, updatedAt: 1006 });
    assert.deepEqual(replica.board().medals['Rome']!.gold, { value: 4, updatedAt: 1008 });
    assert.deepEqual(replica.board().scores['Luge']!['Rome'], { value: 7, updatedAt: 1007 });
    assert.deepEqual(replica.board().scores['Luge']!['Gaul'], { value: 0, updatedAt: null });
    // A duplicate is not kept in the history twice, nor a gap at all.
    assert.deepEqual(seqs(replica.changesAfter(5, ALL)), [6, 7, 8]);
  });
});

describe('BoardReplica history and changesAfter', () => {
  test('the history ring buffer wraps: with limit 3 only the last 3 changes are kept', () => {
    // Checks changesAfter at every position after 1..7 were applied with limit 3: positions 4..7 resume, older ones need a snapshot.
    const replica = loaded(3);
    for (let seq = 1; seq <= 7; seq++) assert.equal(replica.apply(seq % 2 === 0 ? medalChange(seq) : scoreChange(seq)), 'applied');
    const table: Array<[position: number, expected: number[] | null]> = [
      [0, null],
      [1, null],
      [2, null],
      [3, null],
      [4, [5, 6, 7]],
      [5, [6, 7]],
      [6, [7]],
      [7, []],
    ];
    for (const [position, expected] of table) assert.deepEqual(seqs(replica.changesAfter(position, ALL)), expected, `after ${position}`);
  });

  test('the ring buffer keeps the right order across many wraps', () => {
    // Checks 1..50 applied with limit 3, position 47 gets 48, 49, 50 in order, 46 gets null.
    const replica = loaded(3);
    for (let seq = 1; seq <= 50; seq++) replica.apply(medalChange(seq));
    assert.deepEqual(seqs(replica.changesAfter(47, ALL)), [48, 49, 50]);
    assert.equal(replica.changesAfter(46, ALL), null);
  });

  test('with a history of 1, only the last change can be resumed', () => {
    // Checks the smallest ring buffer.
    const replica = loaded(1);
    replica.apply(medalChange(1));
    replica.apply(medalChange(2));
    assert.deepEqual(seqs(replica.changesAfter(1, ALL)), [2]);
    assert.equal(replica.changesAfter(0, ALL), null);
  });

  test('changesAfter returns exactly the missed changes on the asked topics', () => {
    // Checks a table of topic sets over a mixed history of six changes.
    const replica = loaded(10);
    const changes = [
      medalChange(1, 'Gaul'),
      scoreChange(2, 'Luge'),
      medalChange(3, 'Rome'),
      scoreChange(4, 'Stone Curling', { Gaul: 9 }),
      medalChange(5, 'Gaul'),
      scoreChange(6, 'Luge'),
    ];
    for (const change of changes) replica.apply(change);
    const table: Array<[topics: string[], after: number, expected: number[]]> = [
      [['medals:Gaul'], 0, [1, 5]],
      [['medals:Gaul'], 1, [5]],
      [['score:Luge'], 0, [2, 6]],
      [['score:Luge', 'medals:Rome'], 2, [3, 6]],
      [['score:Stone Curling'], 4, []],
      [['medals:Atlantis'], 0, []],
      [[], 0, []],
      [['medals:Gaul', 'medals:Rome', 'score:Luge', 'score:Stone Curling'], 3, [4, 5, 6]],
    ];
    for (const [topics, after, expected] of table) {
      const missed = replica.changesAfter(after, new Set(topics));
      assert.deepEqual(seqs(missed), expected, `${topics.join('+')} after ${after}`);
    }
    // The changes returned are the applied ones, field for field.
    assert.deepEqual(replica.changesAfter(3, ALL), changes.slice(3));
  });

  test('a client level with or ahead of the replica gets [], not null', () => {
    // Checks positions equal to and beyond the replica's seq, with and without history.
    const fresh = loaded(3, 10);
    assert.deepEqual(fresh.changesAfter(10, ALL), []);
    assert.deepEqual(fresh.changesAfter(11, ALL), []);
    assert.deepEqual(fresh.changesAfter(1_000_000, ALL), []);
    fresh.apply(medalChange(11));
    assert.deepEqual(fresh.changesAfter(11, ALL), []);
    assert.deepEqual(fresh.changesAfter(12, ALL), []);
  });

  test('a client older than the snapshot the replica loaded gets null (it needs a snapshot)', () => {
    // Checks that a replica loaded at seq 10 with no history cannot serve position 9, but with change 11 applied can serve 10.
    const replica = loaded(3, 10);
    assert.equal(replica.changesAfter(9, ALL), null);
    assert.equal(replica.changesAfter(0, ALL), null);
    replica.apply(medalChange(11));
    assert.deepEqual(seqs(replica.changesAfter(10, ALL)), [11]);
    assert.equal(replica.changesAfter(9, ALL), null);
  });

  test('load() resets the history: earlier positions then need a snapshot', () => {
    // Checks that after a reload at seq 20, positions served before the reload give null, and new changes resume from 20.
    const replica = loaded(5);
    for (let seq = 1; seq <= 4; seq++) replica.apply(medalChange(seq));
    assert.deepEqual(seqs(replica.changesAfter(2, ALL)), [3, 4]);
    replica.load('e2', 20, catalog, emptyBoard());
    assert.equal(replica.epoch, 'e2');
    assert.equal(replica.changesAfter(2, ALL), null);
    assert.equal(replica.changesAfter(19, ALL), null);
    assert.deepEqual(replica.changesAfter(20, ALL), []);
    assert.equal(replica.apply(medalChange(5)), 'duplicate');
    assert.equal(replica.apply(medalChange(21)), 'applied');
    assert.deepEqual(seqs(replica.changesAfter(20, ALL)), [21]);
  });
});

describe('BoardReplica.slice', () => {
  test('returns only the asked topics, and only names in the catalog', () => {
    // Checks a table of topic sets against the medals and scores keys of the slice.
    const replica = loaded(3);
    replica.apply(medalChange(1, 'Rome', 1));
    const table: Array<[topics: string[], medals: string[], scores: string[]]> = [
      [[], [], []],
      [['medals:Gaul'], ['Gaul'], []],
      [['medals:Rome', 'score:Luge'], ['Rome'], ['Luge']],
      [['score:Luge', 'score:Stone Curling'], [], ['Luge', 'Stone Curling']],
      [['medals:Atlantis', 'raffle', 'cluster'], [], []],
      [[...ALL], ['Gaul', 'Rome'], ['Luge', 'Stone Curling']],
    ];
    for (const [topics, medals, scores] of table) {
      const slice = replica.slice(new Set(topics));
      assert.deepEqual(Object.keys(slice.medals), medals, topics.join('+'));
      assert.deepEqual(Object.keys(slice.scores), scores, topics.join('+'));
    }
    assert.deepEqual(replica.slice(new Set(['medals:Rome'])).medals['Rome']!.gold, { value: 1, updatedAt: 1001 });
  });

  test('the full slice equals the whole board', () => {
    // Checks slice(all topics) against board() after a few changes.
    const replica = loaded(3);
    replica.apply(medalChange(1));
    replica.apply(scoreChange(2, 'Stone Curling', { Gaul: 4, Rome: 5 }));
    assert.deepEqual(replica.slice(ALL), replica.board());
  });
});

import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Catalog, Change } from '../../shared/board.js';
import type { StoreMessage, Write } from '../../shared/peer/store.js';
import { seededRandom } from '../../server/algorithms/random.js';
import { CommitPacer } from '../../server/store/commit-pacer.js';
import { SqliteStore } from '../../server/store/sqlite-store.js';
import { StoreService } from '../../server/store/store-service.js';
import { describeSeed, seedsFromEnv } from '../sim/simulator.js';

// The store's commits paced by the nodes' pushes: the pure CommitPacer, and the
// StoreService that queues writes behind it, with a real (in-memory) SQLite store and
// mocked timers.

const catalog: Catalog = { teams: ['Gaul', 'Rome'], events: ['Luge'] };
const HOLD_MS = 500;

describe('CommitPacer', () => {
  test('open until something is committed that a reporting node has not pushed', () => {
    // Checks open() through commit, reports, and a node that never reported (it does not pace).
    const pacer = new CommitPacer();
    assert.equal(pacer.open(), true, 'nobody paces yet');
    pacer.pushed('node-1', 0);
    pacer.pushed('node-2', 0);
    pacer.committed(3);
    assert.deepEqual(pacer.behind(), ['node-1', 'node-2']);
    assert.equal(pacer.open(), false);
    pacer.pushed('node-1', 3);
    assert.equal(pacer.open(), false);
    pacer.pushed('node-2', 2);
    assert.equal(pacer.open(), false, 'node-2 is still one change behind');
    pacer.pushed('node-2', 3);
    assert.equal(pacer.open(), true);
    pacer.pushed('node-2', 1); // an old report changes nothing
    assert.equal(pacer.open(), true);
  });

  test('a hold that runs out makes the late nodes lagging until they catch up', () => {
    // Checks holdExpired(): who lags, that it no longer closes the pacer, and its return once it reports the committed seq.
    const pacer = new CommitPacer({ holdMaxMs: 100 });
    pacer.pushed('node-1', 0);
    pacer.pushed('node-2', 0);
    pacer.committed(1);
    pacer.pushed('node-1', 1);
    assert.deepEqual(pacer.holdExpired(), ['node-2']);
    assert.equal(pacer.open(), true);
    assert.deepEqual(pacer.status().lagging, ['node-2']);
    pacer.committed(2);
    assert.deepEqual(pacer.behind(), ['node-1'], 'a lagging node does not pace');
    pacer.pushed('node-2', 1);
    assert.deepEqual(pacer.status().lagging, ['node-2'], 'still behind the latest commit');
    pacer.pushed('node-2', 2);
    assert.deepEqual(pacer.status().lagging, []);
    pacer.pushed('node-1', 2);
    pacer.committed(3);
    assert.deepEqual(pacer.behind(), ['node-1', 'node-2'], 'caught up: it paces again');
  });

  test('a node whose link went down stops pacing until it reports again', () => {
    // Checks linkDown() against a node that is behind.
    const pacer = new CommitPacer();
    pacer.pushed('node-3', 0);
    pacer.committed(5);
    assert.equal(pacer.open(), false);
    pacer.linkDown('node-3');
    assert.equal(pacer.open(), true);
    pacer.pushed('node-3', 4);
    assert.equal(pacer.open(), false);
  });

  test('refuses a negative hold', () => {
    // Checks the constructor's range check.
    assert.throws(() => new CommitPacer({ holdMaxMs: -1 }), RangeError);
    assert.throws(() => new CommitPacer({ holdMaxMs: Number.NaN }), RangeError);
  });
});

/** A pacer that fails the test if anything is committed while a pacing node is behind. */
class CheckedPacer extends CommitPacer {
  commits = 0;
  constructor(private readonly seedText: string) {
    super({ holdMaxMs: HOLD_MS });
  }
  override committed(seq: number): void {
    const behind = this.behind();
    assert.deepEqual(behind, [], `committed up to ${seq} while ${behind.join(', ')} had not pushed, ${this.seedText}`);
    this.commits++;
    super.committed(seq);
  }
}

/** A StoreService on an in-memory store; records what it sends, with a clock the test moves. */
function service(t: TestContext, options: { clockReady?: boolean; pacer?: CommitPacer } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const store = SqliteStore.open(':memory:', catalog);
  const sent: Array<{ to: string; message: StoreMessage }> = [];
  const broadcasts: Change[][] = [];
  const logs: Array<{ event: string; fields: Record<string, unknown> }> = [];
  let nowMs = 1_800_000_000_000;
  const storeService = new StoreService({
    store,
    log: (event, fields = {}) => logs.push({ event, fields }),
    send: (to, message) => {
      sent.push({ to, message });
      return true;
    },
    broadcast: (message) => {
      if (message.type === 'store.changes') broadcasts.push(message.changes);
    },
    now: () => nowMs,
    pacer: options.pacer ?? new CommitPacer({ holdMaxMs: HOLD_MS }),
  });
  if (options.clockReady !== false) storeService.clockReady();
  t.after(() => {
    storeService.close();
    store.close();
  });
  let requestId = 0;
  return {
    store,
    storeService,
    sent,
    broadcasts,
    logs,
    advanceClock: (ms: number) => (nowMs += ms),
    write(from: string, write: Write = { kind: 'medal', team: 'Gaul', medal: 'gold', delta: 1 }): number {
      const id = ++requestId;
      storeService.receive(from, { type: 'store.write', requestId: id, writeId: `${from}:w${id}`, write });
      return id;
    },
    results: () => sent.filter((entry) => entry.message.type === 'store.write-result'),
  };
}

describe('StoreService paced by the pushes', () => {
  test('with every node caught up a write commits at once, stamped with the store clock at the commit', (t) => {
    // Checks the stamp (the store's now(), not anything the node sent), the broadcast and the answer.
    const s = service(t);
    s.storeService.receive('node-1', { type: 'store.pushed', seq: 0 });
    s.write('node-1');
    assert.equal(s.broadcasts.length, 1);
    assert.equal(s.broadcasts[0]![0]!.updatedAt, 1_800_000_000_000);
    assert.equal(s.broadcasts[0]![0]!.node, 'node-1');
    const [result] = s.results();
    assert.equal(result!.to, 'node-1');
    assert.equal(result!.message.type === 'store.write-result' && result!.message.ok, true);
  });

  test('writes that come while a node pushes wait, then commit together in one message, in arrival order', (t) => {
    // Checks the queue: nothing committed or answered until the last node reports, then one broadcast of three changes.
    const s = service(t);
    for (const node of ['node-1', 'node-2']) s.storeService.receive(node, { type: 'store.pushed', seq: 0 });
    s.write('node-1');
    assert.equal(s.store.seq, 1);
    s.advanceClock(10);
    s.write('node-2', { kind: 'score', event: 'Luge', scores: { Gaul: 61.5 } });
    s.write('node-1', { kind: 'medal', team: 'Rome', medal: 'silver', delta: 2 });
    s.write('node-2');
    assert.equal(s.store.seq, 1, 'held while node-1 and node-2 push seq 1');
    assert.equal(s.results().length, 1);
    assert.equal(s.storeService.queuedWrites, 3);
    s.storeService.receive('node-1', { type: 'store.pushed', seq: 1 });
    assert.equal(s.store.seq, 1, 'node-2 has not pushed yet');
    s.advanceClock(30);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 1 });
    assert.equal(s.store.seq, 4);
    assert.equal(s.broadcasts.length, 2);
    assert.deepEqual(s.broadcasts[1]!.map((change) => [change.seq, change.kind, change.node]), [
      [2, 'score', 'node-2'],
      [3, 'medal', 'node-1'],
      [4, 'medal', 'node-2'],
    ]);
    // Stamped when committed, not when they arrived.
    for (const change of s.broadcasts[1]!) assert.equal(change.updatedAt, 1_800_000_000_040);
    assert.deepEqual(s.results().map((entry) => entry.to), ['node-1', 'node-2', 'node-1', 'node-2']);
  });

  test('a node that does not report within the hold stops holding writes, and is logged', (t) => {
    // Checks holdMaxMs: a SIGSTOPped node costs the writes at most one hold.
    const s = service(t);
    for (const node of ['node-1', 'node-2']) s.storeService.receive(node, { type: 'store.pushed', seq: 0 });
    s.write('node-1');
    s.storeService.receive('node-1', { type: 'store.pushed', seq: 1 });
    s.write('node-1');
    t.mock.timers.tick(HOLD_MS - 1);
    assert.equal(s.store.seq, 1);
    t.mock.timers.tick(1);
    assert.equal(s.store.seq, 2);
    assert.deepEqual(s.logs.find((line) => line.event === 'store.push-lagging')?.fields.nodes, ['node-2']);
    // node-2 lags: the next write only waits for node-1.
    s.storeService.receive('node-1', { type: 'store.pushed', seq: 2 });
    s.write('node-1');
    assert.equal(s.store.seq, 3);
  });

  test('a node whose link goes down releases the writes it holds', (t) => {
    // Checks linkDown() on the service: the queued write commits at once.
    const s = service(t);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 0 });
    s.write('node-1');
    s.write('node-1');
    assert.equal(s.store.seq, 1);
    s.storeService.linkDown('node-2');
    assert.equal(s.store.seq, 2);
  });

  test('a backlog longer than one message goes out a message at a time, each after the push of the one before', (t) => {
    // Checks 1,500 held writes: 1,000 (the most one store.changes may hold), then, once pushed, the other 500.
    const s = service(t);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 0 });
    s.write('node-1');
    for (let i = 0; i < 1500; i++) s.write('node-1');
    assert.equal(s.store.seq, 1);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 1 });
    assert.deepEqual(s.broadcasts.map((changes) => changes.length), [1, 1000]);
    assert.equal(s.store.seq, 1001);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 1001 });
    assert.deepEqual(s.broadcasts.map((changes) => changes.length), [1, 1000, 500]);
    assert.equal(s.results().length, 1501);
  });

  test('with no node pacing, a backlog still leaves in messages of at most 1,000 changes', (t) => {
    // Checks 2,500 writes queued before the clock is ready: three messages, all at once.
    const s = service(t, { clockReady: false });
    for (let i = 0; i < 2500; i++) s.write('node-1');
    s.storeService.clockReady();
    assert.deepEqual(s.broadcasts.map((changes) => changes.length), [1000, 1000, 500]);
    assert.equal(s.store.seq, 2500);
  });

  test('writes wait for the store clock to be synchronised, since it stamps them', (t) => {
    // Checks clockReady(): nothing is committed before it.
    const s = service(t, { clockReady: false });
    s.write('node-1');
    t.mock.timers.tick(HOLD_MS * 4);
    assert.equal(s.store.seq, 0);
    s.storeService.clockReady();
    assert.equal(s.store.seq, 1);
  });

  test('a refused write and a resent write in a held batch get their own answers', (t) => {
    // Checks an unknown team (refused) and a write id seen before (the first change again) inside one batch.
    const s = service(t);
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 0 });
    s.storeService.receive('node-1', { type: 'store.write', requestId: 1, writeId: 'node-1:a', write: { kind: 'medal', team: 'Gaul', medal: 'gold', delta: 1 } });
    s.storeService.receive('node-1', { type: 'store.write', requestId: 2, writeId: 'node-1:b', write: { kind: 'medal', team: 'Atlantis', medal: 'gold', delta: 1 } });
    s.storeService.receive('node-1', { type: 'store.write', requestId: 3, writeId: 'node-1:a', write: { kind: 'medal', team: 'Gaul', medal: 'gold', delta: 1 } });
    s.storeService.receive('node-2', { type: 'store.pushed', seq: 1 });
    const answers = s.results().map((entry) => entry.message);
    assert.equal(answers.length, 3);
    assert.deepEqual(answers.map((answer) => answer.type === 'store.write-result' && [answer.requestId, answer.ok]), [[1, true], [2, false], [3, true]]);
    const [first, , resent] = answers;
    assert.deepEqual(resent!.type === 'store.write-result' && resent!.ok && resent!.change, first!.type === 'store.write-result' && first!.ok && first!.change);
    assert.equal(s.store.seq, 1, 'one change for the two copies');
  });
});

describe('StoreService paced by the pushes: seeded runs', () => {
  // Three nodes that push with random delays, links that drop and come back, writes at
  // random times. After every step: every commit happened with every pacing node
  // caught up or a hold run out; changes go out in seq order without gaps; stamps
  // never go backwards; no write waits longer than the hold once the clock is ready;
  // every write gets exactly one answer.
  for (const seed of seedsFromEnv(300)) {
    test(`seed ${seed}`, (t) => {
      const random = seededRandom(seed);
      const pacer = new CheckedPacer(describeSeed(seed));
      const s = service(t, { pacer });
      const nodes = ['node-1', 'node-2', 'node-3'];
      const linkUp = new Map(nodes.map((node) => [node, true]));
      // What each node has received and when it will report having pushed it (simulated ms).
      const received = new Map(nodes.map((node) => [node, 0]));
      const pushAt = new Map<string, number>();
      const waiting = new Map<number, number>(); // requestId -> arrival (simulated ms)
      let nowMs = 0;
      let lastSeq = 0;
      let lastStamp = -Infinity;
      let broadcastsSeen = 0;
      let answers = 0;
      for (let step = 0; step < 300; step++) {
        const action = random.int(10);
        const node = nodes[random.int(nodes.length)]!;
        if (action < 4) {
          waiting.set(s.write(node), nowMs);
        } else if (action < 7) {
          const due = [...pushAt].filter(([, at]) => at <= nowMs);
          for (const [pusher] of due) {
            pushAt.delete(pusher);
            if (linkUp.get(pusher)) s.storeService.receive(pusher, { type: 'store.pushed', seq: received.get(pusher)! });
          }
        } else if (action < 8) {
          linkUp.set(node, !linkUp.get(node));
          if (!linkUp.get(node)) {
            s.storeService.linkDown(node);
            pushAt.delete(node);
          } else {
            // Back: it syncs (it receives everything) and reports after its push.
            received.set(node, s.store.seq);
            pushAt.set(node, nowMs + random.int(300));
          }
        } else {
          const ms = 1 + random.int(120);
          nowMs += ms;
          s.advanceClock(ms);
          t.mock.timers.tick(ms);
        }
        // New broadcasts reach the nodes whose link is up; each reports after a random push time.
        for (; broadcastsSeen < s.broadcasts.length; broadcastsSeen++) {
          const changes = s.broadcasts[broadcastsSeen]!;
          for (const change of changes) {
            assert.equal(change.seq, lastSeq + 1, `gap or reorder at seq ${change.seq}, ${describeSeed(seed)}`);
            lastSeq = change.seq;
            assert.ok(change.updatedAt >= lastStamp, `stamp went backwards at seq ${change.seq}, ${describeSeed(seed)}`);
            lastStamp = change.updatedAt;
          }
          for (const receiver of nodes) {
            if (!linkUp.get(receiver)) continue;
            received.set(receiver, lastSeq);
            if (!pushAt.has(receiver)) pushAt.set(receiver, nowMs + random.int(200));
          }
        }
        for (const entry of s.results().slice(answers)) {
          assert.equal(entry.message.type, 'store.write-result');
          if (entry.message.type === 'store.write-result') {
            assert.ok(waiting.has(entry.message.requestId), `an answer to an unknown or already answered write, ${describeSeed(seed)}`);
            waiting.delete(entry.message.requestId);
          }
          answers++;
        }
        for (const [requestId, arrivedMs] of waiting) {
          assert.ok(nowMs - arrivedMs <= HOLD_MS, `write ${requestId} waited ${nowMs - arrivedMs} ms, past the hold, ${describeSeed(seed)}`);
        }
      }
      assert.equal(pacer.status().committedSeq, s.store.seq, describeSeed(seed));
      assert.ok(pacer.commits > 0, `the run committed nothing, ${describeSeed(seed)}`);
    });
  }
});

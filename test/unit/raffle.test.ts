import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Raffle, drawSeed, type RaffleEvent } from '../../server/algorithms/raffle.js';
import { RaffleState, type MulticastPayload } from '../../shared/peer/multicast.js';

// Table tests of the raffle: it is a pure function of the ordered payloads, so each case
// feeds a sequence and checks the events and the state it ends in.

const validState = TypeCompiler.Compile(RaffleState);

type Step = { payload: MulticastPayload; sender?: string };

function read(client: string): Step {
  return { payload: { kind: 'read', client } };
}

function tickets(count: number, prefix = 'c'): Step[] {
  return Array.from({ length: count }, (_, i) => read(`${prefix}${i + 1}`));
}

function close(seed: number, by = 'node-1'): Step {
  return { payload: { kind: 'close', seed, by } };
}

function feed(raffle: Raffle, steps: Step[], firstIndex = 0): RaffleEvent[] {
  const events: RaffleEvent[] = [];
  steps.forEach((step, i) => {
    const event = raffle.apply(step.payload, firstIndex + i, step.sender ?? 'node-2');
    if (event !== null) events.push(event);
  });
  return events;
}

const entryCases: Array<{ name: string; every: number; steps: Step[]; entered: string[]; tickets: number }> = [
  { name: 'every 3rd of 10', every: 3, steps: tickets(10), entered: ['c3', 'c6', 'c9'], tickets: 10 },
  { name: 'every ticket', every: 1, steps: tickets(3), entered: ['c1', 'c2', 'c3'], tickets: 3 },
  { name: 'fewer tickets than N', every: 100, steps: tickets(99), entered: [], tickets: 99 },
  { name: 'exactly N', every: 100, steps: tickets(100), entered: ['c100'], tickets: 100 },
  { name: 'kinds all count', every: 2, steps: [
      { payload: { kind: 'subscribe', client: 's' } },
      { payload: { kind: 'snapshot', client: 'n' } },
      { payload: { kind: 'refresh', client: 'r' } },
      { payload: { kind: 'read', client: 'd', detail: '/getScore/Luge' } },
    ], entered: ['n', 'd'], tickets: 4 },
  { name: 'tickets after the close are ignored', every: 2, steps: [...tickets(4), close(1), ...tickets(4, 'late')], entered: ['c2', 'c4'], tickets: 4 },
];

for (const c of entryCases) {
  test(`entries: ${c.name}`, () => {
    const raffle = new Raffle({ every: c.every });
    const events = feed(raffle, c.steps);
    assert.deepEqual(events.filter((e) => e.type === 'entered').map((e) => (e.type === 'entered' ? e.entry.client : '')), c.entered);
    assert.deepEqual(raffle.entries.map((entry) => entry.client), c.entered);
    assert.equal(raffle.status().tickets, c.tickets);
    raffle.entries.forEach((entry, i) => {
      assert.equal(entry.ordinal, i + 1);
      assert.equal(entry.ticket, (i + 1) * c.every);
      assert.equal(entry.node, 'node-2');
      assert.equal(entry.index, c.steps.findIndex((step) => 'client' in step.payload && step.payload.client === entry.client));
    });
  });
}

test('the entry records its position in the total order, the ticket number and the node', () => {
  const raffle = new Raffle({ every: 2 });
  const first = raffle.apply({ kind: 'read', client: 'a' }, 40, 'node-1');
  const second = raffle.apply({ kind: 'subscribe', client: 'b', detail: 'medals:Gaul' }, 41, 'node-3');
  assert.equal(first, null);
  assert.deepEqual(second, { type: 'entered', entry: { ordinal: 1, index: 41, ticket: 2, client: 'b', kind: 'subscribe', node: 'node-3' } });
});

test('the draw is a function of the entries, the seed and the close position only', () => {
  const draw = (seed: number, closeIndex: number, count = 50) => {
    const raffle = new Raffle({ every: 1 });
    feed(raffle, tickets(count));
    const event = raffle.apply({ kind: 'close', seed, by: 'node-3' }, closeIndex, 'node-3');
    assert.ok(event !== null && event.type === 'winner');
    return event.winner;
  };
  assert.deepEqual(draw(42, 50), draw(42, 50), 'same inputs, same winner');
  const winners = new Set<string>();
  for (let seed = 0; seed < 40; seed++) winners.add(draw(seed, 50).entry!.client);
  assert.ok(winners.size > 15, `seeds pick different winners (${winners.size} of 40)`);
  const byIndex = new Set<string>();
  for (let index = 50; index < 90; index++) byIndex.add(draw(7, index).entry!.client);
  assert.ok(byIndex.size > 15, `the close position changes the draw (${byIndex.size} of 40)`);
  const winner = draw(9, 60);
  assert.equal(winner.seed, 9);
  assert.equal(winner.closeIndex, 60);
  assert.equal(winner.entries, 50);
  assert.equal(winner.by, 'node-3');
  assert.equal(winner.round, 0);
});

test('every entry has about the same chance', () => {
  // 10 entries, 20,000 seeds: each should win about 2,000 times; the bounds are ~7 sigma.
  const counts = new Array<number>(10).fill(0);
  for (let seed = 0; seed < 20_000; seed++) {
    const raffle = new Raffle({ every: 1 });
    feed(raffle, tickets(10));
    const event = raffle.apply({ kind: 'close', seed, by: 'node-1' }, 10, 'node-1');
    assert.ok(event !== null && event.type === 'winner' && event.winner.entry !== null);
    counts[event.winner.entry.ordinal - 1]!++;
  }
  for (const count of counts) assert.ok(count > 1700 && count < 2300, `counts ${counts.join(',')}`);
});

const closeCases: Array<{ name: string; steps: Step[]; winner: 'none' | 'entry' | 'no-event' }> = [
  { name: 'no entries: the round closes without a winner', steps: [...tickets(3), close(5)], winner: 'none' },
  { name: 'entries: one of them wins', steps: [...tickets(30), close(5)], winner: 'entry' },
  { name: 'a second close is ignored', steps: [...tickets(30), close(5), close(6)], winner: 'entry' },
  { name: 'a reopen while open is ignored', steps: [...tickets(30), { payload: { kind: 'reopen', by: 'node-1' } }], winner: 'no-event' },
];

for (const c of closeCases) {
  test(`close: ${c.name}`, () => {
    const raffle = new Raffle({ every: 10 });
    const events = feed(raffle, c.steps);
    const winners = events.filter((e) => e.type === 'winner');
    if (c.winner === 'no-event') {
      assert.equal(winners.length, 0);
      assert.equal(raffle.status().closed, false);
      assert.equal(events.filter((e) => e.type === 'reopened').length, 0);
      return;
    }
    assert.equal(winners.length, 1);
    const winner = winners[0]!.type === 'winner' ? winners[0]!.winner : null;
    assert.deepEqual(raffle.winner, winner);
    if (c.winner === 'none') assert.equal(winner?.entry, null);
    else assert.ok(raffle.entries.includes(winner!.entry!));
    assert.equal(winner?.seed, 5, 'the first close decides');
  });
}

test('reopen after a close starts a new round from zero', () => {
  const raffle = new Raffle({ every: 2 });
  feed(raffle, [...tickets(4), close(1)]);
  const events = feed(raffle, [{ payload: { kind: 'reopen', by: 'node-2' } }, ...tickets(3, 'r'), close(2)], 5);
  assert.deepEqual(events[0], { type: 'reopened', round: 1, by: 'node-2' });
  assert.deepEqual(raffle.entries.map((entry) => [entry.client, entry.ticket, entry.index]), [['r2', 2, 7]]);
  assert.equal(raffle.winner?.round, 1);
  assert.equal(raffle.winner?.entry?.client, 'r2');
});

test('entries beyond maxEntries are counted, not kept', () => {
  const raffle = new Raffle({ every: 1, maxEntries: 3 });
  const events = feed(raffle, tickets(5));
  assert.equal(events.length, 3);
  assert.deepEqual(raffle.status(), { round: 0, tickets: 5, entries: 3, overflow: 2, closed: false, winner: null });
});

test('a snapshot restored elsewhere continues exactly as the original', () => {
  const steps = [...tickets(57), close(77), ...tickets(5, 'late')];
  for (const cut of [0, 1, 20, 57, 58, 63]) {
    const original = new Raffle({ every: 7 });
    feed(original, steps.slice(0, cut));
    const snapshot = original.snapshot();
    assert.ok(validState.Check(snapshot), `snapshot at ${cut} matches the schema`);
    const copy = new Raffle({ every: 7 });
    copy.restore(JSON.parse(JSON.stringify(snapshot)) as typeof snapshot);
    const a = feed(original, steps.slice(cut), cut);
    const b = feed(copy, steps.slice(cut), cut);
    assert.deepEqual(b, a, `events after a cut at ${cut}`);
    assert.deepEqual(copy.snapshot(), original.snapshot(), `state after a cut at ${cut}`);
  }
});

test('restore refuses a state from a differently configured raffle', () => {
  const state = new Raffle({ every: 100 }).snapshot();
  assert.throws(() => new Raffle({ every: 50 }).restore(state), /every/);
  const big = new Raffle({ every: 1, maxEntries: 10 });
  feed(big, tickets(10));
  assert.throws(() => new Raffle({ every: 1, maxEntries: 5 }).restore(big.snapshot()), /maxEntries/);
});

test('options are checked', () => {
  assert.throws(() => new Raffle({ every: 0 }), RangeError);
  assert.throws(() => new Raffle({ every: 1.5 }), RangeError);
  assert.throws(() => new Raffle({ maxEntries: -1 }), RangeError);
  assert.equal(new Raffle().every, 100);
});

test('drawSeed mixes the seed with the full close index', () => {
  assert.equal(drawSeed(1, 5), drawSeed(1, 5));
  assert.notEqual(drawSeed(1, 5), drawSeed(2, 5));
  assert.notEqual(drawSeed(1, 5), drawSeed(1, 6));
  assert.notEqual(drawSeed(1, 5), drawSeed(1, 5 + 2 ** 32), 'indexes past 2^32 differ too');
  for (const value of [drawSeed(0, 0), drawSeed(0xffff_ffff, Number.MAX_SAFE_INTEGER)]) {
    assert.ok(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, type MemberId, type StateMachine } from '../../server/algorithms/machine.js';
import { Simulator, describeSeed, seedsFromEnv, type SimMemberContext, type SimulatorOptions } from '../sim/simulator.js';

// A toy machine that makes the network visible: on every tick it sends a numbered
// ping to every peer it believes is up, and it reports everything it sees as events.
type Ping = { type: 'ping'; n: number };
type Seen =
  | { type: 'tick'; localMs: number }
  | { type: 'recv'; from: MemberId; n: number }
  | { type: 'up'; peer: MemberId }
  | { type: 'down'; peer: MemberId }
  | { type: 'start'; incarnation: number; boots: number };

class PingMachine implements StateMachine<Ping, Seen> {
  private readonly outbox = new Outbox<Ping, Seen>();
  private readonly up = new Set<MemberId>();
  private n = 0;

  constructor(private readonly ctx: SimMemberContext, private readonly pingEveryTick = true) {
    const boots = ((ctx.storage.get('boots') as number | undefined) ?? 0) + 1;
    ctx.storage.set('boots', boots);
    this.outbox.emit({ type: 'start', incarnation: ctx.incarnation, boots });
  }

  step(from: MemberId, message: Ping): void {
    this.outbox.emit({ type: 'recv', from, n: message.n });
  }

  tick(): void {
    this.outbox.emit({ type: 'tick', localMs: this.ctx.clock.nowMs() });
    if (!this.pingEveryTick) return;
    this.n++;
    for (const peer of [...this.up].sort()) this.outbox.send(peer, { type: 'ping', n: this.n });
  }

  peerUp(peer: MemberId): void {
    this.up.add(peer);
    this.outbox.emit({ type: 'up', peer });
  }

  peerDown(peer: MemberId): void {
    this.up.delete(peer);
    this.outbox.emit({ type: 'down', peer });
  }

  drain() {
    return this.outbox.drain();
  }
}

const members = ['a', 'b', 'c'];

function pingSim(seed: number, extra: Partial<SimulatorOptions<Ping, Seen>> = {}): Simulator<Ping, Seen> {
  return new Simulator<Ping, Seen>({ seed, members, create: (ctx) => new PingMachine(ctx), ...extra });
}

function received(sim: Simulator<Ping, Seen>, to: MemberId, from: MemberId): Array<{ time: number; n: number }> {
  const result: Array<{ time: number; n: number }> = [];
  for (const entry of sim.events) {
    if (entry.member === to && entry.event.type === 'recv' && entry.event.from === from) result.push({ time: entry.time, n: entry.event.n });
  }
  return result;
}

test('same seed gives the same event log; another seed gives another', () => {
  // Runs the same faulty scenario three times and compares the JSON of the event logs.
  const run = (seed: number): string => {
    const sim = pingSim(seed, { lossRate: 0.1, duplicateRate: 0.1, clockSkewMs: 50, clockDriftPpm: 200 });
    sim.runFor(200);
    sim.crash('b');
    sim.runFor(100);
    sim.restart('b');
    sim.partition(['a'], ['b', 'c']);
    sim.runFor(150);
    sim.heal();
    sim.runFor(150);
    return JSON.stringify(sim.events);
  };
  assert.equal(run(42), run(42), describeSeed(42));
  assert.notEqual(run(42), run(43));
});

test('each member ticks on its own skewed, drifting clock', () => {
  // Gives members skew and drift, runs 10 s and compares every clock with its formula
  // and every member's tick count with its own elapsed local time.
  const sim = pingSim(7, { clockSkewMs: 100, clockDriftPpm: 1000, tickMs: 10 });
  sim.runFor(10_000);
  const drifts = new Set<number>();
  for (const id of members) {
    const clock = sim.clock(id);
    assert.ok(Math.abs(clock.skewMs) <= 100);
    assert.ok(Math.abs(clock.driftPpm) <= 1000);
    drifts.add(clock.driftPpm);
    assert.ok(Math.abs(clock.nowMs() - (10_000 * (1 + clock.driftPpm / 1e6) + clock.skewMs)) < 1e-6);
    const ticks = sim.events.filter((entry) => entry.member === id && entry.event.type === 'tick');
    const localElapsedMs = 10_000 * (1 + clock.driftPpm / 1e6);
    assert.ok(Math.abs(ticks.length - localElapsedMs / 10) <= 1, `${id}: ${ticks.length} ticks for ${localElapsedMs} local ms`);
    // Consecutive ticks are exactly tickMs apart on the member's own clock.
    for (let i = 1; i < ticks.length; i++) {
      const previous = ticks[i - 1]!.event as { localMs: number };
      const current = ticks[i]!.event as { localMs: number };
      assert.ok(Math.abs(current.localMs - previous.localMs - 10) < 1e-6);
    }
  }
  assert.equal(drifts.size, 3, 'members draw different drifts');
});

test('without skew or drift a clock is true time', () => {
  // Checks the defaults: local time equals simulated time.
  const sim = pingSim(1);
  sim.runFor(123);
  for (const id of members) assert.equal(sim.clock(id).nowMs(), 123);
  assert.equal(sim.now, 123);
});

test('a partition stops messages across it at once and reports peerDown after failureDetectionMs', () => {
  // Cuts {a} from {b, c} at a known time, checks that nothing crosses the cut after it,
  // that both sides hear peerDown exactly failureDetectionMs later, and peerUp after heal.
  const sim = pingSim(3, { failureDetectionMs: 50 });
  sim.runFor(100);
  const cutAt = sim.now;
  sim.partition(['a'], ['b', 'c']);
  assert.equal(sim.connected('a', 'b'), false);
  assert.equal(sim.connected('b', 'c'), true);
  sim.runFor(300);
  assert.ok(received(sim, 'a', 'b').every((entry) => entry.time <= cutAt));
  assert.ok(received(sim, 'c', 'a').every((entry) => entry.time <= cutAt));
  assert.ok(received(sim, 'b', 'c').some((entry) => entry.time > cutAt + 100), 'b and c still talk');
  const downs = sim.events.filter((entry) => entry.event.type === 'down');
  assert.deepEqual(
    downs.map((entry) => [entry.member, (entry.event as { peer: string }).peer, entry.time - cutAt]).sort(),
    [['a', 'b', 50], ['a', 'c', 50], ['b', 'a', 50], ['c', 'a', 50]],
  );
  const healAt = sim.now;
  sim.heal();
  sim.runFor(100);
  const ups = sim.events.filter((entry) => entry.event.type === 'up' && entry.time > healAt);
  assert.equal(ups.length, 4);
  assert.ok(received(sim, 'a', 'b').some((entry) => entry.time > healAt));
});

test('a cut that mends before failure detection still gives peerDown then peerUp, in order', () => {
  // Cuts and mends a link within 5 ms and checks that each side sees down, then up.
  const sim = pingSim(4, { failureDetectionMs: 50 });
  sim.runFor(30);
  const start = sim.events.length;
  sim.cut('a', 'b');
  sim.runFor(5);
  sim.mend('a', 'b');
  sim.runFor(200);
  const notes = sim.events.slice(start).filter((entry) => entry.event.type === 'up' || entry.event.type === 'down');
  for (const id of ['a', 'b']) {
    assert.deepEqual(notes.filter((entry) => entry.member === id).map((entry) => entry.event.type), ['down', 'up']);
  }
});

test('FIFO mode keeps per-link order; the default reorders', () => {
  // Sends a numbered ping per tick with delays wider than a tick and checks the order
  // of arrival per link.
  const isOrdered = (sim: Simulator<Ping, Seen>): boolean =>
    members.every((to) => members.every((from) => {
      const ns = received(sim, to, from).map((entry) => entry.n);
      return ns.every((n, i) => i === 0 || n > ns[i - 1]!);
    }));
  const fifo = pingSim(5, { fifo: true, delayMs: { min: 1, max: 60 } });
  fifo.runFor(2000);
  assert.ok(isOrdered(fifo));
  const loose = pingSim(5, { fifo: false, delayMs: { min: 1, max: 60 } });
  loose.runFor(2000);
  assert.ok(!isOrdered(loose), 'random delays reorder');
});

test('loss and duplication happen at about their rates', () => {
  // Counts deliveries on one link against the pings sent, with 20 % loss, then with 20 % duplication.
  const lossy = pingSim(6, { lossRate: 0.2 });
  lossy.runFor(20_000);
  const sent = lossy.events.filter((entry) => entry.member === 'a' && entry.event.type === 'tick').length;
  const ratio = received(lossy, 'b', 'a').length / sent;
  assert.ok(ratio > 0.75 && ratio < 0.85, `delivered ratio ${ratio}`);
  const dup = pingSim(6, { duplicateRate: 0.2 });
  dup.runFor(20_000);
  const dupSent = dup.events.filter((entry) => entry.member === 'a' && entry.event.type === 'tick').length;
  const dupRatio = received(dup, 'b', 'a').length / dupSent;
  assert.ok(dupRatio > 1.15 && dupRatio < 1.25, `delivered ratio ${dupRatio}`);
});

test('crash drops in-flight messages; restart keeps storage and continues the clock', () => {
  // Crashes b with pings in flight to and from it, checks none arrives, then restarts it.
  const sim = pingSim(8, { delayMs: { min: 5, max: 5 }, clockSkewMs: 30 });
  sim.runFor(52);
  assert.ok(sim.messagesInFlight().some((entry) => entry.to === 'b'));
  const crashAt = sim.now;
  sim.crash('b');
  assert.throws(() => sim.machine('b'));
  assert.deepEqual(sim.alive(), ['a', 'c']);
  assert.equal(sim.connected('a', 'b'), false);
  sim.runFor(100);
  assert.ok(received(sim, 'a', 'b').every((entry) => entry.time <= crashAt));
  assert.ok(!sim.events.some((entry) => entry.member === 'b' && entry.time > crashAt));
  const clockBefore = sim.clock('b').nowMs();
  sim.restart('b');
  assert.equal(sim.clock('b').nowMs(), clockBefore, 'the clock continues across a restart');
  assert.equal(sim.incarnation('b'), 1);
  sim.runFor(100);
  const starts = sim.events.filter((entry) => entry.member === 'b' && entry.event.type === 'start').map((entry) => entry.event);
  assert.deepEqual(starts, [{ type: 'start', incarnation: 0, boots: 1 }, { type: 'start', incarnation: 1, boots: 2 }]);
  assert.ok(received(sim, 'a', 'b').some((entry) => entry.time > crashAt + 100));
});

test('runUntil stops as soon as the predicate holds', () => {
  // Waits for c's first ping from a and checks the time it stopped at.
  const sim = pingSim(9);
  assert.equal(sim.runUntil(() => received(sim, 'c', 'a').length > 0, 1000), true);
  assert.equal(sim.now, received(sim, 'c', 'a')[0]!.time);
  assert.equal(sim.runUntil(() => false, 50), false);
});

test('afterStep hooks run after every step and can fail a run', () => {
  // Counts hook calls, then installs a hook that throws and checks the throw reaches the test.
  const sim = pingSim(10);
  let calls = 0;
  sim.afterStep(() => calls++);
  sim.runFor(100);
  assert.ok(calls > 20);
  sim.afterStep(() => {
    if (sim.now > 150) throw new Error('invariant broken');
  });
  assert.throws(() => sim.runFor(100), /invariant broken/);
});

test('manual mode holds messages until the test delivers or drops them', () => {
  // Ticks once, then delivers only a->b, drops a->c, and checks what each member saw.
  const sim = new Simulator<Ping, Seen>({ seed: 11, members, manual: true, create: (ctx) => new PingMachine(ctx) });
  assert.equal(sim.messagesInFlight().length, 0);
  sim.tickAll();
  assert.equal(sim.now, 10);
  assert.equal(sim.messagesInFlight().length, 6);
  assert.equal(sim.deliver({ from: 'a', to: 'b' }), 1);
  assert.equal(sim.drop({ from: 'a' }), 1);
  assert.equal(sim.deliver((entry) => entry.from === 'b' && entry.message.n === 1), 2);
  assert.deepEqual(received(sim, 'b', 'a').map((entry) => entry.n), [1]);
  assert.deepEqual(received(sim, 'c', 'a'), []);
  assert.equal(sim.messagesInFlight().length, 2);
  sim.cut('c', 'a');
  assert.equal(sim.deliver(), 1, 'the c->a message is dropped by the cut');
  sim.inject('a', 'c', { type: 'ping', n: 99 });
  assert.deepEqual(received(sim, 'a', 'c').map((entry) => entry.n), [99]);
  assert.throws(() => sim.runFor(10));
});

test('seedsFromEnv reads SEED and SEEDS', () => {
  // Sets the variables and checks the seed lists.
  const saved = { one: process.env['SEED'], count: process.env['SEEDS'] };
  try {
    delete process.env['SEED'];
    delete process.env['SEEDS'];
    assert.deepEqual(seedsFromEnv(3), [1, 2, 3]);
    process.env['SEEDS'] = '2';
    assert.deepEqual(seedsFromEnv(3, 10), [10, 11]);
    process.env['SEED'] = '77';
    assert.deepEqual(seedsFromEnv(3), [77]);
  } finally {
    if (saved.one === undefined) delete process.env['SEED']; else process.env['SEED'] = saved.one;
    if (saved.count === undefined) delete process.env['SEEDS']; else process.env['SEEDS'] = saved.count;
  }
});

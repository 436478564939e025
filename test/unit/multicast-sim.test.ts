import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberId, Output, StateMachine } from '../../server/algorithms/machine.js';
import {
  TotalOrderMulticast,
  ViewCoordinator,
  type MulticastEvent,
  type MulticastWire,
} from '../../server/algorithms/total-order-multicast.js';
import { Raffle } from '../../server/algorithms/raffle.js';
import type { MulticastPayload, RaffleState } from '../../shared/peer/multicast.js';
import { Simulator, describeSeed, seedsFromEnv, type SimMemberContext } from '../sim/simulator.js';

// Seeded simulations of the total-order multicast and the raffle among three nodes and
// a store, over a network that delays, reorders, loses and duplicates messages. Each
// run has one fault: a node crashes (and maybe restarts and rejoins), possibly the
// coordinator itself (the test then plays the election and names another leader), or a
// node is cut off from everyone for a while and comes back. Invariants are checked on
// every delivery: every index of the total order holds the same ticket on every node
// (agreement, total order), a ticket is delivered at most once anywhere and only if it
// was multicast (integrity), and each node's indexes follow each other without a gap
// since it last joined. At the end every live node is in one view, has delivered the
// same count, every ticket of a node that never crashed was delivered, and every node's
// raffle equals the raffle recomputed from the global order. A quarter of the runs offer
// bursts against small queues, so that windows fill and tickets are refused mid-fault.
// SEED=n replays one run; MULTICAST_SIM_TRACE=1 (or =all) prints its views and deliveries.

type Message = MulticastWire<MulticastPayload, RaffleState>;
type Event = MulticastEvent<MulticastPayload, RaffleState>;

const nodes = ['node-1', 'node-2', 'node-3'];
const raffleEvery = 10;

function ticketKey(payload: MulticastPayload): string {
  if (payload.kind === 'close') return `close/${payload.by}/${payload.seed}`;
  if (payload.kind === 'reopen') return `reopen/${payload.by}`;
  if (payload.kind === 'start') return `start/${payload.generation}`;
  return payload.client;
}

/** What all the machines of one run agree on, checked as it happens. */
class Checker {
  readonly keyAt = new Map<number, string>();
  readonly indexOf = new Map<string, number>();
  /** Key -> the incarnation that multicast it ("node-2#0"). */
  readonly origin = new Map<string, string>();
  failures: string[] = [];

  fail(text: string): void {
    if (this.failures.length < 5) this.failures.push(text);
    throw new Error(text);
  }

  multicast(key: string, incarnation: string): void {
    this.origin.set(key, incarnation);
  }

  delivered(node: string, index: number, key: string): void {
    if (!this.origin.has(key)) this.fail(`${node} delivered ${key}, which nobody multicast`);
    const there = this.keyAt.get(index);
    if (there !== undefined && there !== key) this.fail(`${node} delivered ${key} at index ${index}, where another node delivered ${there}`);
    const at = this.indexOf.get(key);
    if (at !== undefined && at !== index) this.fail(`${node} delivered ${key} at index ${index}; it was delivered at ${at} before`);
    this.keyAt.set(index, key);
    this.indexOf.set(key, index);
  }
}

interface Run {
  checker: Checker;
  leader: MemberId;
  term: number;
  generating: boolean;
  quota: number;
  /** Tickets offered per tick are up to 4 x burst: with 8, windows and queues fill up. */
  burst: number;
  /** Incarnations ("node-1#0") that crashed. */
  crashed: Set<string>;
  /** MULTICAST_SIM_TRACE=1 with SEED=n prints what happens. */
  trace: ((text: string) => void) | null;
}

class NodeHarness implements StateMachine<Message, Event> {
  readonly tom: TotalOrderMulticast<MulticastPayload, RaffleState>;
  raffle = new Raffle({ every: raffleEvery });
  expectedIndex = 0;
  deliveries = 0;
  sent = 0;
  refused = 0;
  readonly name: string;

  constructor(private readonly ctx: SimMemberContext, private readonly run: Run) {
    this.name = `${ctx.id}#${ctx.incarnation}`;
    this.tom = new TotalOrderMulticast<MulticastPayload, RaffleState>({
      id: ctx.id,
      group: nodes,
      joining: ctx.incarnation > 0,
      leader: run.leader,
      term: run.term,
      maxBatch: 8,
      // Burst runs have small queues, so that windows fill and tickets are refused mid-fault.
      maxUnstable: run.burst > 1 ? 12 : 64,
      maxPending: run.burst > 1 ? 24 : 256,
      retransmitTicks: 5,
      statusTicks: 10,
      coordinator: { flushTimeoutTicks: 60, settleTicks: 5 },
    });
  }

  multicast(payload: MulticastPayload): boolean {
    const ok = this.tom.multicast(payload);
    if (ok) this.run.checker.multicast(ticketKey(payload), this.name);
    else this.refused++;
    return ok;
  }

  setLeader(leader: MemberId, term: number): void {
    this.tom.setLeader(leader, term);
  }

  step(from: MemberId, message: Message): void {
    this.tom.step(from, message);
  }

  tick(): void {
    const run = this.run;
    if (run.generating && this.sent < run.quota && this.ctx.random.next() < 0.3) {
      const count = 1 + this.ctx.random.int(4 * run.burst);
      for (let i = 0; i < count; i++) {
        this.multicast({ kind: 'read', client: `${this.name}/${this.sent}` });
        this.sent++;
      }
    }
    this.tom.tick();
  }

  peerUp(peer: MemberId): void {
    this.tom.peerUp(peer);
  }

  peerDown(peer: MemberId): void {
    this.tom.peerDown(peer);
  }

  drain(): Output<Message, Event> {
    const messages = [];
    for (;;) {
      const output = this.tom.drain();
      messages.push(...output.messages);
      if (output.events.length === 0) break;
      for (const event of output.events) this.handle(event);
    }
    return { messages, events: [] };
  }

  private handle(event: Event): void {
    if (this.run.trace !== null && (event.type !== 'deliver' || process.env['MULTICAST_SIM_TRACE'] === 'all')) {
      this.run.trace(`${this.name} ${JSON.stringify(event)}`);
    }
    if (event.type === 'deliver') {
      if (event.index !== this.expectedIndex) {
        this.run.checker.fail(`${this.name} delivered index ${event.index}, expected ${this.expectedIndex}`);
      }
      this.expectedIndex++;
      this.deliveries++;
      this.run.checker.delivered(this.name, event.index, ticketKey(event.payload));
      this.raffle.apply(event.payload, event.index, event.sender);
    } else if (event.type === 'view') {
      if (event.joined) {
        this.raffle = new Raffle({ every: raffleEvery });
        if (event.appState !== undefined) this.raffle.restore(event.appState);
        this.expectedIndex = event.delivered;
      } else if (event.delivered !== this.expectedIndex) {
        this.run.checker.fail(`${this.name} view ${event.viewId} says ${event.delivered} delivered, it delivered up to ${this.expectedIndex}`);
      }
      if (event.transferTo.length > 0) this.tom.transferState(event.viewId, this.raffle.snapshot());
    }
  }
}

class StoreHarness implements StateMachine<Message, Event> {
  readonly coordinator: ViewCoordinator<MulticastPayload, RaffleState>;

  constructor(ctx: SimMemberContext, private readonly run: Run) {
    this.coordinator = new ViewCoordinator<MulticastPayload, RaffleState>({
      id: ctx.id,
      group: nodes,
      leader: run.leader,
      term: run.term,
      retransmitTicks: 5,
      flushTimeoutTicks: 60,
      settleTicks: 5,
    });
  }

  setLeader(leader: MemberId, term: number): void {
    this.coordinator.setLeader(leader, term);
  }

  step(from: MemberId, message: Message): void {
    this.coordinator.step(from, message);
  }

  tick(): void {
    this.coordinator.tick();
  }

  peerUp(peer: MemberId): void {
    this.coordinator.peerUp(peer);
  }

  peerDown(peer: MemberId): void {
    this.coordinator.peerDown(peer);
  }

  drain(): Output<Message, Event> {
    const output = this.coordinator.drain();
    for (const event of output.events) this.run.trace?.(`store ${JSON.stringify(event)}`);
    return { messages: output.messages, events: [] };
  }
}

type Fault = 'crash' | 'crash-restart' | 'crash-leader' | 'isolate' | 'isolate-leader';

interface Outcome {
  fault: Fault;
  delivered: number;
  viewId: number;
  refused: number;
}

function simulate(seed: number): Outcome {
  const checker = new Checker();
  const scenario = seededScenario(seed);
  let now = (): number => 0;
  const trace = process.env['MULTICAST_SIM_TRACE'] ? (text: string) => console.log(`${now().toFixed(1)} ${text}`) : null;
  trace?.(JSON.stringify(scenario));
  const run: Run = { checker, leader: scenario.leader, term: 1, generating: true, quota: scenario.quota, burst: scenario.burst, crashed: new Set(), trace };
  const sim = new Simulator<Message, Event>({
    seed,
    members: ['store', ...nodes],
    create: (ctx) => (ctx.id === 'store' ? new StoreHarness(ctx, run) : new NodeHarness(ctx, run)),
    tickMs: 10,
    delayMs: { min: 1, max: scenario.delayMaxMs },
    fifo: scenario.fifo,
    lossRate: scenario.lossRate,
    duplicateRate: scenario.duplicateRate,
    failureDetectionMs: 50,
  });
  now = () => sim.now;
  const harness = (id: MemberId): NodeHarness => sim.machine(id) as unknown as NodeHarness;
  const setLeaderEverywhere = (leader: MemberId, term: number, except?: MemberId): void => {
    run.leader = leader;
    run.term = term;
    for (const id of sim.alive()) {
      if (id !== except) (sim.machine(id) as unknown as { setLeader(l: MemberId, t: number): void }).setLeader(leader, term);
    }
  };

  const victim = scenario.victim;
  sim.runFor(scenario.faultAtMs);
  switch (scenario.fault) {
    case 'crash':
    case 'crash-restart':
    case 'crash-leader':
      run.crashed.add(`${victim}#${sim.incarnation(victim)}`);
      sim.crash(victim);
      break;
    case 'isolate':
    case 'isolate-leader':
      sim.isolate(victim);
      break;
  }
  if (scenario.fault === 'crash-leader' || scenario.fault === 'isolate-leader') {
    // The election notices the dead (or cut off) leader and elects another (term 2). A cut
    // off leader is not told, the worst case: it goes on believing it leads until healed.
    sim.runFor(80);
    setLeaderEverywhere('node-2', 2, victim);
  }
  sim.runFor(scenario.recoverAfterMs);
  if (scenario.fault === 'crash-restart' || scenario.fault === 'crash-leader') sim.restart(victim);
  if (scenario.fault === 'isolate' || scenario.fault === 'isolate-leader') sim.heal();
  if (scenario.fault === 'isolate-leader') {
    sim.runFor(20);
    setLeaderEverywhere('node-2', 2);
  }

  sim.runFor(Math.max(0, scenario.generateMs - sim.now));
  run.generating = false;
  // The score-keeper closes the raffle through a node that is up.
  const closer = nodes.filter((id) => sim.isAlive(id))[sim.random.int(nodes.filter((id) => sim.isAlive(id)).length)]!;
  const closeSeed = sim.random.int(0x7fff_ffff);
  // A full queue refuses the close as any ticket: the score-keeper's node tries again.
  for (let attempt = 0; !harness(closer).multicast({ kind: 'close', seed: closeSeed, by: closer }); attempt++) {
    assert.ok(attempt < 1000, 'the close was refused for 10 s');
    sim.runFor(10);
  }

  // Quiesce: no more loss, and wait for one view of every live node with everything delivered.
  sim.setLossRate(0);
  const live = (): NodeHarness[] => nodes.filter((id) => sim.isAlive(id)).map(harness);
  const settled = (): boolean => {
    const harnesses = live();
    const first = harnesses[0]!.tom.status();
    return harnesses.every((h) => {
      const status = h.tom.status();
      return (
        status.ready &&
        !status.frozen &&
        status.viewId === first.viewId &&
        status.viewMembers.length === harnesses.length &&
        status.delivered === first.delivered &&
        status.pending === 0 &&
        status.holdBack === 0 &&
        h.raffle.winner !== null
      );
    });
  };
  const done = sim.runUntil(settled, 30_000);
  const statuses = live().map((h) => `${h.name} ${JSON.stringify(h.tom.status())} winner=${h.raffle.winner !== null}`);
  assert.ok(done, `the live nodes did not settle: ${statuses.join('; ')}`);

  // Liveness and agreement at the end.
  const final = live()[0]!.tom.status().delivered;
  for (let index = 0; index < final; index++) assert.ok(checker.keyAt.has(index), `index ${index} was delivered by nobody`);
  for (const [key, incarnation] of checker.origin) {
    if (run.crashed.has(incarnation)) continue;
    assert.ok(checker.indexOf.has(key), `${key}, multicast by ${incarnation} (never crashed), was never delivered`);
  }
  // Every node's raffle equals the raffle recomputed from the global order.
  const reference = new Raffle({ every: raffleEvery });
  for (let index = 0; index < final; index++) {
    const key = checker.keyAt.get(index)!;
    const payload: MulticastPayload = key.startsWith('close/')
      ? { kind: 'close', seed: Number(key.split('/')[2]), by: key.split('/')[1]! }
      : { kind: 'read', client: key };
    reference.apply(payload, index, key.startsWith('close/') ? key.split('/')[1]! : key.split('/')[0]!.split('#')[0]!);
  }
  const expected = JSON.stringify(reference.snapshot());
  for (const h of live()) {
    const got = h.raffle.snapshot();
    assert.equal(JSON.stringify(got), expected, `${h.name}'s raffle differs`);
  }
  assert.ok(reference.winner !== null, 'the raffle was closed');
  const refused = nodes.filter((id) => sim.isAlive(id)).reduce((sum, id) => sum + harness(id).refused, 0);
  return { fault: scenario.fault, delivered: final, viewId: live()[0]!.tom.status().viewId, refused };
}

function seededScenario(seed: number) {
  // The scenario's own stream, apart from the simulator's.
  let state = (seed * 2654435761) >>> 0;
  const next = (): number => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    state ^= state >>> 12;
    return (state >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const fault = pick<Fault>(['crash', 'crash-restart', 'crash-restart', 'crash-leader', 'isolate', 'isolate-leader']);
  const leaderFault = fault === 'crash-leader' || fault === 'isolate-leader';
  const leader = leaderFault ? 'node-1' : pick(['store', 'store', 'node-1']);
  const victim = leaderFault ? 'node-1' : pick(nodes.filter((id) => id !== leader));
  const generateMs = 600 + Math.floor(next() * 600);
  return {
    fault,
    leader,
    victim,
    generateMs,
    faultAtMs: 50 + Math.floor(next() * (generateMs - 250)),
    // From a restart before the failure is even detected (50 ms) to a long absence.
    recoverAfterMs: 10 + Math.floor(next() * 490),
    quota: 40 + Math.floor(next() * 60),
    burst: pick([1, 1, 1, 8]),
    fifo: next() < 0.3,
    delayMaxMs: pick([5, 20, 40]),
    lossRate: pick([0, 0.02, 0.05, 0.1]),
    duplicateRate: pick([0, 0.02, 0.05]),
  };
}

test('total-order multicast and raffle agree across seeded runs with loss, duplication, reordering and one fault', () => {
  const seeds = seedsFromEnv(3000);
  const faults = new Map<Fault, number>();
  let delivered = 0;
  let refused = 0;
  for (const seed of seeds) {
    let outcome: Outcome;
    try {
      outcome = simulate(seed);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      assert.fail(`${describeSeed(seed)}: ${text}`);
    }
    faults.set(outcome.fault, (faults.get(outcome.fault) ?? 0) + 1);
    if (process.env['MULTICAST_SIM_VERBOSE']) console.log(seed, JSON.stringify(outcome));
    delivered += outcome.delivered;
    refused += outcome.refused;
  }
  if (seeds.length >= 100) {
    for (const fault of ['crash', 'crash-restart', 'crash-leader', 'isolate', 'isolate-leader'] as const) assert.ok((faults.get(fault) ?? 0) > 0, `no run with ${fault}`);
    assert.ok(delivered > seeds.length * 50, `only ${delivered} deliveries over ${seeds.length} runs`);
    assert.ok(refused > 0, 'no run filled a queue');
  }
});

// Seeded simulations of the leader election under faults. Every run draws its
// network (delays, reordering, loss, duplication, clock skew and drift) and a
// schedule of faults (crashes, restarts, partitions, cut links) from its seed, and
// checks after EVERY step of the simulator:
//   - never two leaders in one term (across all members and all their restarts);
//   - never two members that both holdsMajority() at the same instant;
// then stops the faults (heals every link, ends loss and duplication, restarts all
// or all but a minority of crashed members) and checks that every live member knows
// the same leader, which holds a majority, within CONVERGE_BOUND_MS, and that this
// leadership then stays put while nothing fails.
//
// SEEDS=n changes the number of runs (default 1,000); SEED=n replays one run;
// TRACE=1 prints every message, tick and peer notification of the simulator, and
// DEBUG_EVENTS=1 the machines' events during the final quiet second.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberId, Output, StateMachine } from '../../server/algorithms/machine.js';
import { ElectionMachine, type ElectionEvent } from '../../server/algorithms/election.js';
import type { ElectionMessage, ElectionPersisted } from '../../shared/peer/election.js';
import { seededRandom } from '../../server/algorithms/random.js';
import { Simulator, describeSeed, seedsFromEnv, type SimMemberContext } from '../sim/simulator.js';

const TICK_MS = 10;
/**
 * Once faults stop, every live member knows the same leader within this bound. The
 * worst case is: links come back after a connect delay (<= 20 ms here); members that
 * acknowledged a leader or voted stay sticky for stickyTicks (13); the highest-priority
 * timeout slot fires within 30 ticks; a pre-vote and a vote round trip; and a split vote
 * costs another full round (<= 30 + 30 ticks). 2,000 ms covers three such rounds.
 */
const CONVERGE_BOUND_MS = 2000;
/** SIGKILL failover, with the link to the dead leader closing at once (as on a real machine). */
const FAILOVER_BOUND_MS = 300;

/** The shell's duty, done here: write every 'persist' event to storage before the messages of the same drain go out. */
class PersistingElection implements StateMachine<ElectionMessage, ElectionEvent> {
  readonly machine: ElectionMachine;

  constructor(private readonly ctx: SimMemberContext, members: MemberId[]) {
    this.machine = new ElectionMachine({
      id: ctx.id,
      members,
      random: ctx.random,
      persisted: (ctx.storage.get('election') as ElectionPersisted | undefined) ?? null,
    });
  }

  step(from: MemberId, message: ElectionMessage): void { this.machine.step(from, message); }
  tick(): void { this.machine.tick(); }
  peerUp(peer: MemberId): void { this.machine.peerUp(peer); }
  peerDown(peer: MemberId): void { this.machine.peerDown(peer); }

  drain(): Output<ElectionMessage, ElectionEvent> {
    const output = this.machine.drain();
    for (const event of output.events) {
      if (event.type === 'persist') this.ctx.storage.set('election', { term: event.term, votedFor: event.votedFor });
    }
    return output;
  }
}

type ElectionSim = Simulator<ElectionMessage, ElectionEvent>;

function election(sim: ElectionSim, id: MemberId): ElectionMachine {
  return (sim.machine(id) as PersistingElection).machine;
}

/** The agreed leader if every live member names the same one and it holds a majority, else null. */
function agreedLeader(sim: ElectionSim): MemberId | null {
  const alive = sim.alive();
  if (alive.length === 0) return null;
  const first = election(sim, alive[0]!);
  const leader = first.leader();
  if (leader === null || !sim.isAlive(leader)) return null;
  for (const id of alive) {
    const machine = election(sim, id);
    if (machine.leader() !== leader || machine.term() !== first.term()) return null;
  }
  return election(sim, leader).holdsMajority() ? leader : null;
}

interface SafetyWatch {
  leaders: Map<number, MemberId>;
}

function newElectionSim(seed: number, members: MemberId[], extra: {
  delayMs: { min: number; max: number }; fifo: boolean; lossRate: number; duplicateRate: number;
  clockSkewMs: number; clockDriftPpm: number; failureDetectionMs: number;
}): { sim: ElectionSim; watch: SafetyWatch } {
  const watch: SafetyWatch = { leaders: new Map() };
  const sim: ElectionSim = new Simulator<ElectionMessage, ElectionEvent>({
    seed,
    members,
    tickMs: TICK_MS,
    ...extra,
    create: (ctx) => new PersistingElection(ctx, members),
    ...(process.env['TRACE'] ? { onTrace: (entry: object) => console.log(JSON.stringify(entry)) } : {}),
    onEvent: (time, member, event) => {
      if (event.type !== 'role' || event.role !== 'leader') return;
      const other = watch.leaders.get(event.term);
      assert.ok(other === undefined || other === member,
        `two leaders in term ${event.term}: ${other} and ${member} at ${time.toFixed(1)} ms, ${describeSeed(seed)}`);
      watch.leaders.set(event.term, member);
    },
  });
  sim.afterStep(() => {
    let holders: MemberId[] = [];
    for (const id of sim.alive()) if (election(sim, id).holdsMajority()) holders.push(id);
    if (holders.length > 1) {
      holders = holders.map((id) => `${id} (term ${election(sim, id).term()})`);
      assert.fail(`two members hold a majority at ${sim.now.toFixed(1)} ms: ${holders.join(', ')}, ${describeSeed(seed)}`);
    }
  });
  return { sim, watch };
}

interface RunResult {
  convergeMs: number;
  terms: number;
  elections: number;
}

function runChaos(seed: number): RunResult {
  // The configuration comes from a stream of its own, apart from the simulator's.
  const config = seededRandom(seed ^ 0x5eed5eed);
  const five = config.next() < 0.3;
  const members = five ? ['store', 'node-1', 'node-2', 'node-3', 'node-4'] : ['store', 'node-1', 'node-2', 'node-3'];
  const delayMaxMs = 2 + config.next() * 18;
  const { sim } = newElectionSim(seed, members, {
    delayMs: { min: config.next() * 2, max: delayMaxMs },
    fifo: config.next() < 0.5,
    lossRate: config.next() < 0.5 ? 0 : config.next() * 0.15,
    duplicateRate: config.next() < 0.5 ? 0 : config.next() * 0.15,
    clockSkewMs: config.next() * 500,
    clockDriftPpm: config.next() * 1000,
    failureDetectionMs: config.next() * 80,
  });
  const random = sim.random;
  const choose = <T>(items: readonly T[]): T => items[random.int(items.length)]!;

  // Chaos: a fault every 20..400 ms for 1.5..4 s.
  const chaosEndMs = 1500 + random.int(2500);
  while (sim.now < chaosEndMs) {
    sim.runFor(20 + random.int(380));
    const alive = sim.alive();
    const crashed = members.filter((id) => !sim.isAlive(id));
    const leader = alive.map((id) => election(sim, id)).find((machine) => machine.role() === 'leader')?.id;
    const action = random.int(10);
    if (action === 0 && alive.length > 0) sim.crash(choose(alive));
    else if (action === 1 && leader !== undefined) sim.crash(leader);
    else if (action <= 3 && crashed.length > 0) sim.restart(choose(crashed));
    else if (action === 4) {
      const shuffled = members.map((id) => ({ id, key: random.next() })).sort((a, b) => a.key - b.key).map((entry) => entry.id);
      const split = 1 + random.int(members.length - 1);
      sim.partition(shuffled.slice(0, split), shuffled.slice(split));
    } else if (action === 5) sim.heal();
    else if (action === 6) {
      const a = choose(members);
      const b = choose(members.filter((id) => id !== a));
      if (random.next() < 0.5) sim.cut(a, b); else sim.mend(a, b);
    } else if (action === 7 && leader !== undefined) sim.isolate(leader);
    else if (action === 8) sim.setLossRate(random.next() < 0.5 ? 0 : random.next() * 0.3);
    else sim.setDuplicateRate(random.next() < 0.5 ? 0 : random.next() * 0.3);
  }

  // Faults stop: heal, no loss or duplication, restart crashed members but maybe leave a minority down.
  sim.heal();
  sim.setLossRate(0);
  sim.setDuplicateRate(0);
  const minority = Math.floor((members.length - 1) / 2);
  const crashed = members.filter((id) => !sim.isAlive(id));
  const stayDown = random.next() < 0.5 ? Math.min(minority, crashed.length) : 0;
  for (const id of crashed.slice(stayDown)) sim.restart(id);

  const quietAt = sim.now;
  const converged = sim.runUntil(() => agreedLeader(sim) !== null, CONVERGE_BOUND_MS);
  const convergeMs = sim.now - quietAt;
  assert.ok(converged, `no agreed leader ${CONVERGE_BOUND_MS} ms after faults stopped; ` +
    `views: ${sim.alive().map((id) => JSON.stringify(election(sim, id).status())).join(' ')}; ${describeSeed(seed)}`);

  // Stable while nothing fails: once a lease built on messages from before the quiet
  // has run out (300 ms), the leadership and term stay put for another second.
  sim.runFor(300);
  assert.ok(sim.runUntil(() => agreedLeader(sim) !== null, CONVERGE_BOUND_MS), `no agreed leader after settling; ${describeSeed(seed)}`);
  const leader = agreedLeader(sim)!;
  const term = election(sim, leader).term();
  const mark = sim.events.length;
  sim.runFor(1000);
  if (process.env['DEBUG_EVENTS']) for (const e of sim.events.slice(mark)) console.log(e.time.toFixed(1), e.member, JSON.stringify(e.event));
  assert.equal(agreedLeader(sim), leader, `leadership moved while quiet; ${describeSeed(seed)}`);
  assert.equal(election(sim, leader).term(), term, `term moved while quiet; ${describeSeed(seed)}`);

  const elections = sim.events.filter((entry) => entry.event.type === 'role' && entry.event.role === 'leader').length;
  return { convergeMs, terms: term, elections };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

test(`election under seeded faults: safety after every step, agreement within ${CONVERGE_BOUND_MS} ms`, () => {
  const seeds = seedsFromEnv(1000);
  const converge: number[] = [];
  let elections = 0;
  for (const seed of seeds) {
    const result = runChaos(seed);
    converge.push(result.convergeMs);
    elections += result.elections;
  }
  converge.sort((a, b) => a - b);
  console.log(`# ${seeds.length} runs, ${elections} elections; convergence after faults stop: ` +
    `p50 ${percentile(converge, 0.5).toFixed(0)} ms, p99 ${percentile(converge, 0.99).toFixed(0)} ms, max ${converge.at(-1)!.toFixed(0)} ms`);
});

test(`a killed leader is replaced within ${FAILOVER_BOUND_MS} ms when its links close at once`, () => {
  // Kills the leader 20 times per seed in a cluster of store + 3 nodes with loopback-like
  // delays and a failure detector as fast as a closed socket; measures the time from
  // the kill until every live member names the same new leader; restarts the dead one.
  const seeds = seedsFromEnv(1000).slice(0, 50);
  const failovers: number[] = [];
  for (const seed of seeds) {
    const members = ['store', 'node-1', 'node-2', 'node-3'];
    const { sim } = newElectionSim(seed, members, {
      delayMs: { min: 0.1, max: 1 }, fifo: true, lossRate: 0, duplicateRate: 0,
      clockSkewMs: 100, clockDriftPpm: 200, failureDetectionMs: 1,
    });
    assert.ok(sim.runUntil(() => agreedLeader(sim) !== null, CONVERGE_BOUND_MS), describeSeed(seed));
    for (let kill = 0; kill < 20; kill++) {
      sim.runFor(100 + sim.random.int(200));
      const old = agreedLeader(sim);
      assert.ok(old !== null, `no leader before kill ${kill}; ${describeSeed(seed)}`);
      const killedAt = sim.now;
      sim.crash(old);
      const ok = sim.runUntil(() => {
        const leader = agreedLeader(sim);
        return leader !== null && leader !== old;
      }, FAILOVER_BOUND_MS);
      assert.ok(ok, `kill ${kill} of ${old}: no new agreed leader within ${FAILOVER_BOUND_MS} ms; ${describeSeed(seed)}`);
      failovers.push(sim.now - killedAt);
      sim.restart(old);
    }
  }
  failovers.sort((a, b) => a - b);
  console.log(`# ${failovers.length} failovers: p50 ${percentile(failovers, 0.5).toFixed(0)} ms, ` +
    `p99 ${percentile(failovers, 0.99).toFixed(0)} ms, max ${failovers.at(-1)!.toFixed(0)} ms`);
});

// A seeded, deterministic network simulator for the pure state machines in
// server/algorithms (election, Berkeley clock, total-order multicast).
//
// Everything non-deterministic is simulated and drawn from one seed: per-message
// delay (hence reordering), loss, duplication, per-member clock skew and drift, the
// phase of each member's ticks. Faults (crash, restart, partition, cut) are scheduled
// by the test, usually from `sim.random`, so a failing run replays from its seed.
//
// Model of a link: a link between two members is a connection with an epoch. Any
// change of its state (a cut, a mend, a crash or restart of either end) starts a new
// epoch, and a message is delivered only if its link is still in the epoch it was
// sent in: like a TCP/WebSocket connection, nothing survives a reconnect. Each side
// learns about a link going down through peerDown() after `failureDetectionMs`, and
// about a link coming (back) up through peerUp() after one connect delay; the two
// notifications for one observer and peer are always delivered in the order of the
// changes that caused them, and a notification that would not change what the
// observer was last told is skipped (no peerUp twice in a row).
//
// Two modes:
// - automatic (default): an event queue ordered by (time, insertion order) drives
//   ticks, deliveries and notifications; runFor/runUntil advance simulated time.
// - manual (`manual: true`): nothing happens by itself. Sent messages are held until
//   the test calls deliver(filter) or drop(filter); ticks happen on tickAll()/tick(id);
//   time moves on tickAll() (by tickMs) and advance(ms); peer notifications are
//   applied at once, in the call that caused them.

import type { MemberId, StateMachine, MonotonicClock, Random } from '../../server/algorithms/machine.js';
import { seededRandom } from '../../server/algorithms/random.js';

export interface SimulatedClock extends MonotonicClock {
  /** Offset of this member's clock at true time 0, in ms. */
  readonly skewMs: number;
  /** Rate error of this member's clock, in parts per million. */
  readonly driftPpm: number;
}

export interface SimMemberContext {
  id: MemberId;
  clock: SimulatedClock;
  random: Random;
  /** Survives crash and restart: the member's disk. */
  storage: Map<string, unknown>;
  /** 0 for the first machine, +1 on every restart. */
  incarnation: number;
}

export interface SimulatorOptions<M, E> {
  seed: number;
  members: MemberId[];
  create: (ctx: SimMemberContext) => StateMachine<M, E>;
  /** Every live member's tick() is called every tickMs of its own clock. Default 10. */
  tickMs?: number;
  /** Per-message delay, uniform in [min, max]. Default {min: 1, max: 20}. */
  delayMs?: { min: number; max: number };
  /** Per-link FIFO (like a TCP/WebSocket link). Default false: random delays reorder. */
  fifo?: boolean;
  /** Probability that a message is lost. Default 0. */
  lossRate?: number;
  /** Probability that a message is delivered twice. Default 0. */
  duplicateRate?: number;
  /** Max |initial offset| of a member's clock. Default 0. */
  clockSkewMs?: number;
  /** Max |drift| of a member's clock. Default 0. */
  clockDriftPpm?: number;
  /** Delay from a crash or cut until the other side's peerDown(). Default 50. */
  failureDetectionMs?: number;
  /** Scenario mode: messages are held until deliver()/drop(); ticks only on tickAll()/tick(). */
  manual?: boolean;
  onEvent?: (time: number, member: MemberId, event: E) => void;
  /** Debugging: every message sent, lost, delivered or dropped, every tick and peer notification. */
  onTrace?: (entry: TraceEntry<M>) => void;
}

export type TraceEntry<M> =
  | { time: number; kind: 'send' | 'lose' | 'deliver' | 'drop'; from: MemberId; to: MemberId; message: M }
  | { time: number; kind: 'tick'; member: MemberId }
  | { time: number; kind: 'peer-up' | 'peer-down'; member: MemberId; peer: MemberId }
  | { time: number; kind: 'crash' | 'restart'; member: MemberId };

export interface InFlightMessage<M> {
  from: MemberId;
  to: MemberId;
  message: M;
  deliverAt: number;
}

/** Selects in-flight messages: a predicate, or fields that must all match. */
export type MessageFilter<M> =
  | ((message: InFlightMessage<M>) => boolean)
  | { from?: MemberId; to?: MemberId; where?: (message: M) => boolean };

/** Formats a seed for assertion messages so that a failing run can be replayed. */
export function describeSeed(seed: number): string {
  return `seed ${seed} (replay with SEED=${seed})`;
}

/**
 * The seeds a simulation test should run: `SEED=n` replays exactly one; otherwise
 * `SEEDS=count` (or `defaultCount`) consecutive seeds starting at `first`.
 */
export function seedsFromEnv(defaultCount: number, first = 1): number[] {
  const one = process.env['SEED'];
  if (one !== undefined && one !== '') {
    const seed = Number(one);
    if (!Number.isInteger(seed)) throw new RangeError(`SEED must be an integer, got ${one}`);
    return [seed];
  }
  const countText = process.env['SEEDS'];
  const count = countText !== undefined && countText !== '' ? Number(countText) : defaultCount;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`SEEDS must be a non-negative integer, got ${countText}`);
  return Array.from({ length: count }, (_, index) => first + index);
}

// ---------------------------------------------------------------------------------

type QueueItem<M> =
  | { kind: 'tick'; member: MemberId; incarnation: number; index: number }
  | { kind: 'deliver'; from: MemberId; to: MemberId; message: M; epoch: number }
  | { kind: 'notify'; observer: MemberId; incarnation: number; peer: MemberId; up: boolean };

interface Scheduled<M> {
  time: number;
  order: number;
  item: QueueItem<M>;
}

/** A binary min-heap on (time, insertion order): equal times run in the order scheduled. */
class EventQueue<M> {
  private heap: Scheduled<M>[] = [];
  private nextOrder = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, item: QueueItem<M>): void {
    const entry = { time, order: this.nextOrder++, item };
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!EventQueue.before(entry, heap[parent]!)) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = entry;
  }

  peek(): Scheduled<M> | undefined {
    return this.heap[0];
  }

  pop(): Scheduled<M> | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && EventQueue.before(heap[right]!, heap[left]!) ? right : left;
      if (!EventQueue.before(heap[child]!, last)) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
    return top;
  }

  entries(): readonly Scheduled<M>[] {
    return this.heap;
  }

  private static before<M>(a: Scheduled<M>, b: Scheduled<M>): boolean {
    return a.time < b.time || (a.time === b.time && a.order < b.order);
  }
}

interface MemberState<M, E> {
  id: MemberId;
  index: number;
  clock: SimulatedClock;
  storage: Map<string, unknown>;
  incarnation: number;
  alive: boolean;
  machine: StateMachine<M, E> | undefined;
  /** Local time of this member's first tick; later ticks are every tickMs after it. */
  tickPhaseLocalMs: number;
  /** What this member was last told about each peer (true = up). */
  toldUp: Map<MemberId, boolean>;
}

interface HeldMessage<M> {
  from: MemberId;
  to: MemberId;
  message: M;
  epoch: number;
  sentAt: number;
}

/** Mixes a seed with small integers into a new 32-bit seed (splitmix-style). */
function mixSeed(seed: number, a: number, b: number): number {
  let h = (seed ^ Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const maxStepsPerInstant = 1_000_000;

export class Simulator<M, E> {
  readonly seed: number;
  /** For tests to schedule faults; separate from the network's own stream. */
  readonly random: Random;
  readonly events: Array<{ time: number; member: MemberId; event: E }> = [];

  private readonly options: SimulatorOptions<M, E>;
  private readonly networkRandom: Random;
  private readonly tickMs: number;
  private readonly delayMinMs: number;
  private readonly delayMaxMs: number;
  private readonly fifo: boolean;
  private readonly failureDetectionMs: number;
  private readonly manual: boolean;
  private lossRate: number;
  private duplicateRate: number;

  private readonly memberIds: MemberId[];
  private readonly members = new Map<MemberId, MemberState<M, E>>();
  private readonly cuts = new Set<string>();
  private readonly linkEpochs = new Map<string, number>();
  /** Latest deliverAt per directed link, for FIFO mode. */
  private readonly lastDeliverAt = new Map<string, number>();
  /** Latest scheduled notification per (observer, peer), so they run in order. */
  private readonly lastNotifyAt = new Map<string, number>();
  private readonly queue = new EventQueue<M>();
  private readonly held: HeldMessage<M>[] = [];
  private readonly checks: Array<() => void> = [];
  private nowMs = 0;
  private stepsAtThisInstant = 0;
  private instant = -1;

  constructor(options: SimulatorOptions<M, E>) {
    if (!Number.isInteger(options.seed)) throw new RangeError(`seed must be an integer, got ${options.seed}`);
    if (options.members.length === 0) throw new RangeError('a simulation needs at least one member');
    if (new Set(options.members).size !== options.members.length) throw new RangeError('member ids must be unique');
    this.options = options;
    this.seed = options.seed;
    this.networkRandom = seededRandom(mixSeed(options.seed, 0, 0));
    this.random = seededRandom(mixSeed(options.seed, 1, 0));
    this.tickMs = options.tickMs ?? 10;
    this.delayMinMs = options.delayMs?.min ?? 1;
    this.delayMaxMs = options.delayMs?.max ?? 20;
    this.fifo = options.fifo ?? false;
    this.failureDetectionMs = options.failureDetectionMs ?? 50;
    this.manual = options.manual ?? false;
    this.lossRate = 0;
    this.duplicateRate = 0;
    this.setLossRate(options.lossRate ?? 0);
    this.setDuplicateRate(options.duplicateRate ?? 0);
    if (!(this.tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${this.tickMs}`);
    if (!(this.delayMinMs >= 0 && this.delayMaxMs >= this.delayMinMs)) {
      throw new RangeError(`delayMs must satisfy 0 <= min <= max, got ${this.delayMinMs}..${this.delayMaxMs}`);
    }
    if (!(this.failureDetectionMs >= 0)) throw new RangeError('failureDetectionMs must be >= 0');

    this.memberIds = [...options.members];
    const skewMaxMs = options.clockSkewMs ?? 0;
    const driftMaxPpm = options.clockDriftPpm ?? 0;
    this.memberIds.forEach((id, index) => {
      const skewMs = skewMaxMs === 0 ? 0 : (this.networkRandom.next() * 2 - 1) * skewMaxMs;
      const driftPpm = driftMaxPpm === 0 ? 0 : (this.networkRandom.next() * 2 - 1) * driftMaxPpm;
      const rate = 1 + driftPpm / 1e6;
      const clock: SimulatedClock = {
        skewMs,
        driftPpm,
        nowMs: () => this.nowMs * rate + skewMs,
      };
      const tickPhaseLocalMs = skewMs + this.networkRandom.next() * this.tickMs;
      this.members.set(id, {
        id, index, clock, storage: new Map(), incarnation: 0, alive: true, machine: undefined,
        tickPhaseLocalMs, toldUp: new Map(),
      });
    });

    // Create every machine before any of them hears about a peer.
    for (const member of this.members.values()) member.machine = this.createMachine(member);
    // At start every link is up: tell every member about every peer.
    for (const observer of this.memberIds) {
      for (const peer of this.memberIds) {
        if (peer === observer) continue;
        this.linkEpochs.set(Simulator.linkKey(observer, peer), 0);
        if (this.manual) this.applyNotification(observer, this.members.get(observer)!.incarnation, peer, true);
        else this.scheduleNotification(observer, peer, true, 0);
      }
    }
    if (!this.manual) for (const member of this.members.values()) this.scheduleNextTick(member);
  }

  // ---- observation -------------------------------------------------------------

  /** True simulated time in ms, starting at 0. */
  get now(): number {
    return this.nowMs;
  }

  get memberList(): readonly MemberId[] {
    return this.memberIds;
  }

  /** The current incarnation's machine; throws if the member is crashed. */
  machine(id: MemberId): StateMachine<M, E> {
    const member = this.member(id);
    if (!member.alive || member.machine === undefined) throw new Error(`member ${id} is crashed`);
    return member.machine;
  }

  clock(id: MemberId): SimulatedClock {
    return this.member(id).clock;
  }

  incarnation(id: MemberId): number {
    return this.member(id).incarnation;
  }

  storage(id: MemberId): Map<string, unknown> {
    return this.member(id).storage;
  }

  isAlive(id: MemberId): boolean {
    return this.member(id).alive;
  }

  alive(): MemberId[] {
    return this.memberIds.filter((id) => this.members.get(id)!.alive);
  }

  /** Both alive and the link between them not cut. */
  connected(a: MemberId, b: MemberId): boolean {
    if (a === b) return this.isAlive(a);
    return this.isAlive(a) && this.isAlive(b) && !this.cuts.has(Simulator.linkKey(a, b));
  }

  /** Messages sent and not yet delivered or dropped (some may be dropped on arrival if their link changed). */
  messagesInFlight(): Array<InFlightMessage<M>> {
    if (this.manual) {
      return this.held.map((held) => ({ from: held.from, to: held.to, message: held.message, deliverAt: this.nowMs }));
    }
    const result: Array<InFlightMessage<M>> = [];
    const entries = [...this.queue.entries()].sort((a, b) => a.time - b.time || a.order - b.order);
    for (const entry of entries) {
      const item = entry.item;
      if (item.kind === 'deliver') result.push({ from: item.from, to: item.to, message: item.message, deliverAt: entry.time });
    }
    return result;
  }

  /** Invariant hook, called after every delivery, tick and peer notification. */
  afterStep(check: () => void): void {
    this.checks.push(check);
  }

  // ---- running (automatic mode) ------------------------------------------------

  runFor(ms: number): void {
    this.assertAutomatic('runFor');
    if (!(ms >= 0)) throw new RangeError(`runFor needs ms >= 0, got ${ms}`);
    const endMs = this.nowMs + ms;
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.time > endMs) break;
      this.processNext();
    }
    this.nowMs = endMs;
  }

  /** Runs until predicate() holds (checked before and after every step) or maxMs passed. */
  runUntil(predicate: () => boolean, maxMs: number): boolean {
    this.assertAutomatic('runUntil');
    if (predicate()) return true;
    const endMs = this.nowMs + maxMs;
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.time > endMs) break;
      this.processNext();
      if (predicate()) return true;
    }
    this.nowMs = endMs;
    return false;
  }

  // ---- running (manual mode, and direct calls in either mode) -----------------

  /** Moves true time forward without running anything (manual mode). */
  advance(ms: number): void {
    this.assertManual('advance');
    if (!(ms >= 0)) throw new RangeError(`advance needs ms >= 0, got ${ms}`);
    this.nowMs += ms;
  }

  /** Calls tick() on one live member now. */
  tick(id: MemberId): void {
    const member = this.member(id);
    if (!member.alive) throw new Error(`cannot tick crashed member ${id}`);
    this.callMachine(member, (machine) => machine.tick());
  }

  /** Manual mode: advances time by tickMs, then ticks every live member once, in member order. */
  tickAll(): void {
    this.assertManual('tickAll');
    this.nowMs += this.tickMs;
    for (const id of this.alive()) this.tick(id);
  }

  /** Manual mode: ticks every live member `count` times. */
  tickTimes(count: number): void {
    for (let i = 0; i < count; i++) this.tickAll();
  }

  /**
   * Manual mode: delivers the held messages that match (all if no filter), in the
   * order they were sent. Messages they cause are held, not delivered by this call.
   * Messages whose link went down since they were sent are dropped. Returns how many
   * were delivered.
   */
  deliver(filter?: MessageFilter<M>): number {
    this.assertManual('deliver');
    const chosen = this.takeHeld(filter);
    let delivered = 0;
    for (const held of chosen) {
      if (this.arrive(held.from, held.to, held.message, held.epoch)) delivered++;
    }
    return delivered;
  }

  /** Manual mode: delivers rounds of messages until none match or maxRounds passed. Returns total delivered. */
  deliverAll(filter?: MessageFilter<M>, maxRounds = 100): number {
    let total = 0;
    for (let round = 0; round < maxRounds; round++) {
      if (this.countHeld(filter) === 0) return total;
      total += this.deliver(filter);
    }
    if (this.countHeld(filter) > 0) throw new Error(`deliverAll: messages still flowing after ${maxRounds} rounds`);
    return total;
  }

  /** Manual mode: drops the held messages that match (all if no filter). Returns how many. */
  drop(filter?: MessageFilter<M>): number {
    this.assertManual('drop');
    return this.takeHeld(filter).length;
  }

  /** Delivers a message now, whatever the links (scenario tests). The receiver must be alive. */
  inject(to: MemberId, from: MemberId, message: M): void {
    const member = this.member(to);
    if (!member.alive) throw new Error(`cannot inject into crashed member ${to}`);
    this.callMachine(member, (machine) => machine.step(from, message));
  }

  // ---- faults -------------------------------------------------------------------

  crash(id: MemberId): void {
    const member = this.member(id);
    if (!member.alive) throw new Error(`member ${id} is already crashed`);
    const wasConnected = this.memberIds.filter((peer) => peer !== id && this.connected(id, peer));
    this.options.onTrace?.({ time: this.nowMs, kind: 'crash', member: id });
    member.alive = false;
    member.machine = undefined;
    member.toldUp.clear();
    for (const peer of wasConnected) this.linkWentDown(id, peer, [peer]);
  }

  /** A new machine via create() with the same storage, incarnation + 1; its clock continues. */
  restart(id: MemberId): void {
    const member = this.member(id);
    if (member.alive) throw new Error(`member ${id} is alive; crash it before restarting`);
    member.incarnation += 1;
    member.alive = true;
    this.options.onTrace?.({ time: this.nowMs, kind: 'restart', member: id });
    member.toldUp.clear();
    member.machine = this.createMachine(member);
    if (!this.manual) this.scheduleNextTick(member);
    for (const peer of this.memberIds) {
      if (peer !== id && this.connected(id, peer)) this.linkCameUp(id, peer);
    }
  }

  /** Each group is connected inside and cut from every other group; members not named form one more group. */
  partition(...groups: MemberId[][]): void {
    const groupOf = new Map<MemberId, number>();
    groups.forEach((group, index) => {
      for (const id of group) {
        this.member(id);
        if (groupOf.has(id)) throw new Error(`member ${id} is in two groups`);
        groupOf.set(id, index);
      }
    });
    for (let i = 0; i < this.memberIds.length; i++) {
      for (let j = i + 1; j < this.memberIds.length; j++) {
        const a = this.memberIds[i]!;
        const b = this.memberIds[j]!;
        if ((groupOf.get(a) ?? -1) === (groupOf.get(b) ?? -1)) this.mend(a, b);
        else this.cut(a, b);
      }
    }
  }

  heal(): void {
    for (const key of [...this.cuts].sort()) {
      const [a, b] = key.split('\u0000') as [MemberId, MemberId];
      this.mend(a, b);
    }
  }

  cut(a: MemberId, b: MemberId): void {
    this.member(a);
    this.member(b);
    if (a === b) throw new Error('cannot cut a member from itself');
    const key = Simulator.linkKey(a, b);
    if (this.cuts.has(key)) return;
    const wasConnected = this.connected(a, b);
    this.cuts.add(key);
    if (wasConnected) this.linkWentDown(a, b, [a, b]);
  }

  mend(a: MemberId, b: MemberId): void {
    this.member(a);
    this.member(b);
    const key = Simulator.linkKey(a, b);
    if (!this.cuts.has(key)) return;
    this.cuts.delete(key);
    if (this.connected(a, b)) this.linkCameUp(a, b);
  }

  isolate(id: MemberId): void {
    for (const peer of this.memberIds) if (peer !== id) this.cut(id, peer);
  }

  setLossRate(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`lossRate must be in [0, 1], got ${rate}`);
    this.lossRate = rate;
  }

  setDuplicateRate(rate: number): void {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`duplicateRate must be in [0, 1], got ${rate}`);
    this.duplicateRate = rate;
  }

  // ---- internals ----------------------------------------------------------------

  private static linkKey(a: MemberId, b: MemberId): string {
    return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
  }

  private member(id: MemberId): MemberState<M, E> {
    const member = this.members.get(id);
    if (member === undefined) throw new Error(`unknown member ${id}`);
    return member;
  }

  private assertManual(what: string): void {
    if (!this.manual) throw new Error(`${what}() is for manual mode (options.manual: true)`);
  }

  private assertAutomatic(what: string): void {
    if (this.manual) throw new Error(`${what}() is for automatic mode; in manual mode use deliver()/tickAll()`);
  }

  private createMachine(member: MemberState<M, E>): StateMachine<M, E> {
    return this.options.create({
      id: member.id,
      clock: member.clock,
      random: seededRandom(mixSeed(this.seed, member.index + 2, member.incarnation)),
      storage: member.storage,
      incarnation: member.incarnation,
    });
  }

  private bumpEpoch(a: MemberId, b: MemberId): number {
    const key = Simulator.linkKey(a, b);
    const epoch = (this.linkEpochs.get(key) ?? 0) + 1;
    this.linkEpochs.set(key, epoch);
    return epoch;
  }

  private linkWentDown(a: MemberId, b: MemberId, observers: MemberId[]): void {
    this.bumpEpoch(a, b);
    for (const observer of observers) {
      const peer = observer === a ? b : a;
      if (this.manual) this.applyNotification(observer, this.member(observer).incarnation, peer, false);
      else this.scheduleNotification(observer, peer, false, this.failureDetectionMs);
    }
  }

  private linkCameUp(a: MemberId, b: MemberId): void {
    this.bumpEpoch(a, b);
    if (this.manual) {
      this.applyNotification(a, this.member(a).incarnation, b, true);
      this.applyNotification(b, this.member(b).incarnation, a, true);
      return;
    }
    // One connect handshake: both sides see the link at about the same time.
    const connectMs = this.randomDelay();
    this.scheduleNotification(a, b, true, connectMs);
    this.scheduleNotification(b, a, true, connectMs);
  }

  private scheduleNotification(observer: MemberId, peer: MemberId, up: boolean, afterMs: number): void {
    const key = `${observer}\u0000${peer}`;
    const time = Math.max(this.nowMs + afterMs, this.lastNotifyAt.get(key) ?? 0);
    this.lastNotifyAt.set(key, time);
    this.queue.push(time, { kind: 'notify', observer, incarnation: this.member(observer).incarnation, peer, up });
  }

  private applyNotification(observer: MemberId, incarnation: number, peer: MemberId, up: boolean): void {
    const member = this.member(observer);
    if (!member.alive || member.incarnation !== incarnation) return;
    const told = member.toldUp.get(peer) ?? false;
    if (told === up) return;
    member.toldUp.set(peer, up);
    this.options.onTrace?.({ time: this.nowMs, kind: up ? 'peer-up' : 'peer-down', member: observer, peer });
    this.callMachine(member, (machine) => (up ? machine.peerUp(peer) : machine.peerDown(peer)));
  }

  /** Schedules tick number `index` of the member's grid, or the first one after its local now. */
  private scheduleNextTick(member: MemberState<M, E>, index?: number): void {
    // Ticks fall on the member's own grid: phase + k * tickMs of its local clock.
    const tickIndex = index ?? Math.max(0, Math.floor((member.clock.nowMs() - member.tickPhaseLocalMs) / this.tickMs) + 1);
    const localMs = member.tickPhaseLocalMs + tickIndex * this.tickMs;
    const rate = 1 + member.clock.driftPpm / 1e6;
    const trueMs = Math.max(this.nowMs, (localMs - member.clock.skewMs) / rate);
    this.queue.push(trueMs, { kind: 'tick', member: member.id, incarnation: member.incarnation, index: tickIndex });
  }

  private randomDelay(): number {
    return this.delayMinMs + this.networkRandom.next() * (this.delayMaxMs - this.delayMinMs);
  }

  private processNext(): void {
    const entry = this.queue.pop();
    if (entry === undefined) return;
    if (entry.time !== this.instant) {
      this.instant = entry.time;
      this.stepsAtThisInstant = 0;
    }
    if (++this.stepsAtThisInstant > maxStepsPerInstant) {
      throw new Error(`more than ${maxStepsPerInstant} steps at time ${entry.time}: a message loop with zero delay? ${describeSeed(this.seed)}`);
    }
    this.nowMs = Math.max(this.nowMs, entry.time);
    const item = entry.item;
    switch (item.kind) {
      case 'tick': {
        const member = this.member(item.member);
        if (!member.alive || member.incarnation !== item.incarnation) return;
        this.scheduleNextTick(member, item.index + 1);
        this.options.onTrace?.({ time: this.nowMs, kind: 'tick', member: member.id });
        this.callMachine(member, (machine) => machine.tick());
        return;
      }
      case 'deliver':
        this.arrive(item.from, item.to, item.message, item.epoch);
        return;
      case 'notify':
        this.applyNotification(item.observer, item.incarnation, item.peer, item.up);
        return;
    }
  }

  /** Delivers if the link is still in the epoch the message was sent in. */
  private arrive(from: MemberId, to: MemberId, message: M, epoch: number): boolean {
    if (!this.connected(from, to) || (this.linkEpochs.get(Simulator.linkKey(from, to)) ?? 0) !== epoch) {
      this.options.onTrace?.({ time: this.nowMs, kind: 'drop', from, to, message });
      return false;
    }
    this.options.onTrace?.({ time: this.nowMs, kind: 'deliver', from, to, message });
    const member = this.member(to);
    this.callMachine(member, (machine) => machine.step(from, message));
    return true;
  }

  private callMachine(member: MemberState<M, E>, call: (machine: StateMachine<M, E>) => void): void {
    const machine = member.machine;
    if (machine === undefined) throw new Error(`member ${member.id} has no machine`);
    call(machine);
    const output = machine.drain();
    for (const event of output.events) {
      this.events.push({ time: this.nowMs, member: member.id, event });
      this.options.onEvent?.(this.nowMs, member.id, event);
    }
    for (const outgoing of output.messages) this.send(member.id, outgoing.to, outgoing.message);
    for (const check of this.checks) check();
  }

  private send(from: MemberId, to: MemberId, message: M): void {
    if (!this.members.has(to)) throw new Error(`member ${from} sent to unknown member ${to}`);
    if (to === from) throw new Error(`member ${from} sent a message to itself`);
    if (!this.connected(from, to)) {
      this.options.onTrace?.({ time: this.nowMs, kind: 'drop', from, to, message });
      return;
    }
    this.options.onTrace?.({ time: this.nowMs, kind: 'send', from, to, message });
    const epoch = this.linkEpochs.get(Simulator.linkKey(from, to)) ?? 0;
    if (this.manual) {
      this.held.push({ from, to, message, epoch, sentAt: this.nowMs });
      return;
    }
    if (this.lossRate > 0 && this.networkRandom.next() < this.lossRate) {
      this.options.onTrace?.({ time: this.nowMs, kind: 'lose', from, to, message });
      return;
    }
    const copies = this.duplicateRate > 0 && this.networkRandom.next() < this.duplicateRate ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      let deliverAt = this.nowMs + this.randomDelay();
      if (this.fifo) {
        const key = `${from}\u0000${to}`;
        deliverAt = Math.max(deliverAt, this.lastDeliverAt.get(key) ?? 0);
        this.lastDeliverAt.set(key, deliverAt);
      }
      this.queue.push(deliverAt, { kind: 'deliver', from, to, message, epoch });
    }
  }

  private matches(held: HeldMessage<M>, filter: MessageFilter<M> | undefined): boolean {
    if (filter === undefined) return true;
    if (typeof filter === 'function') {
      return filter({ from: held.from, to: held.to, message: held.message, deliverAt: this.nowMs });
    }
    if (filter.from !== undefined && filter.from !== held.from) return false;
    if (filter.to !== undefined && filter.to !== held.to) return false;
    if (filter.where !== undefined && !filter.where(held.message)) return false;
    return true;
  }

  private countHeld(filter: MessageFilter<M> | undefined): number {
    return this.held.filter((held) => this.matches(held, filter)).length;
  }

  private takeHeld(filter: MessageFilter<M> | undefined): HeldMessage<M>[] {
    const taken: HeldMessage<M>[] = [];
    const kept: HeldMessage<M>[] = [];
    for (const held of this.held) (this.matches(held, filter) ? taken : kept).push(held);
    this.held.length = 0;
    this.held.push(...kept);
    return taken;
  }
}

import { Outbox, type MemberId, type Output, type StateMachine } from './machine.js';

// Lamport totally-ordered multicast among the frontend nodes, with membership views,
// as a pure state machine (docs/algorithms/multicast.md explains the protocol).
//
// Inside a view: each member stamps its tickets with consecutive Lamport timestamps
// and sends them in batches, numbered per sender (seq), to every other member. Links
// may lose, duplicate and reorder, so a receiver accepts a sender's batches only in
// seq order (a small reorder buffer, then nacks), and a sender resends what a member
// has not acknowledged. Every message carries an acknowledgement: the sender's clock
// and, per member, how many of that member's tickets it has received in order (`have`)
// and delivered (`delivered`). An acknowledgement is believed only once all of its
// sender's tickets sent before it have arrived, which is what makes "q has received m"
// also mean "q will never send anything that orders before m". A member delivers the
// smallest (timestamp, sender) ticket it holds once every other member of the view has
// acknowledged receiving it: uniform agreement, since then every member holds it.
//
// Between views: the coordinator (the elected leader, which may be the store) asks the
// members to freeze and send what they hold of the old view; the union goes back to the
// survivors in the install, they deliver it in the same order, and the new view begins.
// A member that joins gets the delivered count and the application's state from one
// survivor. ViewCoordinator is that coordinator role; every TotalOrderMulticast embeds
// one, and the store runs one on its own.

// ---- wire messages (generic in the payload; shared/peer/multicast.ts has their schemas) ----

/** A run of tickets of one sender: seqs seq.., timestamps timestamp.. (both consecutive). */
export interface WireBatch<P> {
  sender: MemberId;
  seq: number;
  timestamp: number;
  payloads: P[];
}

export interface SenderProgress {
  member: MemberId;
  view: number;
  next: number;
}

export type MulticastWire<P, S = unknown> =
  | {
      type: 'multicast.data';
      view: number;
      seq: number;
      timestamp: number;
      payloads: P[];
      clock: number;
      have: number[];
      delivered: number[];
      waiting: boolean;
    }
  | { type: 'multicast.ack'; view: number; clock: number; have: number[]; delivered: number[]; waiting: boolean }
  | { type: 'multicast.nack'; view: number; from: number }
  | { type: 'multicast.status'; term: number; view: number; members: MemberId[]; ready: boolean; frozen: boolean }
  | { type: 'multicast.prepare'; term: number; attempt: number }
  | {
      type: 'multicast.flush';
      term: number;
      attempt: number;
      view: number;
      members: MemberId[];
      ready: boolean;
      batches: WireBatch<P>[];
    }
  | {
      type: 'multicast.install';
      term: number;
      attempt: number;
      view: number;
      members: MemberId[];
      survivors: MemberId[];
      base: number;
      stateFrom: MemberId | null;
      batches: WireBatch<P>[];
    }
  | { type: 'multicast.state-request'; view: number }
  | { type: 'multicast.state'; view: number; delivered: number; progress: SenderProgress[]; appState?: S };

type Wire<P, S, T extends MulticastWire<P, S>['type']> = Extract<MulticastWire<P, S>, { type: T }>;

// ---- events -------------------------------------------------------------------------

export type CoordinatorEvent =
  /** The coordinator froze the current view and asked these members for what they hold. */
  | { type: 'view-change'; term: number; attempt: number; candidates: MemberId[] }
  /** The coordinator sent the new view to its members. */
  | {
      type: 'view-installing';
      term: number;
      viewId: number;
      members: MemberId[];
      survivors: MemberId[];
      joiners: MemberId[];
      base: number;
    }
  /** No reachable member holds the state of the latest view: the coordinator waits for one. */
  | { type: 'view-stalled'; term: number; reason: string };

export type MulticastEvent<P, S = unknown> =
  | {
      type: 'deliver';
      sender: MemberId;
      timestamp: number;
      payload: P;
      /** 0-based position in the total order, the same on every member. */
      index: number;
      viewId: number;
    }
  | {
      type: 'view';
      viewId: number;
      members: MemberId[];
      /** true: this member joined and appState is the state at the start of the view. */
      joined: boolean;
      /** Tickets delivered before this view (the next delivery's index). */
      delivered: number;
      /** Joiners this member must send its state to: call transferState(viewId, state) now. */
      transferTo: MemberId[];
      appState?: S;
    }
  /** The current view is frozen by a view change: nothing is sent or delivered until the next view. */
  | { type: 'blocked'; viewId: number; reason: 'view-change' }
  | CoordinatorEvent;

// ---- the coordinator ------------------------------------------------------------------

export interface ViewCoordinatorOptions {
  id: MemberId;
  /** Every frontend node that may be a member of a view. The coordinator itself need not be one. */
  group: readonly MemberId[];
  leader?: MemberId | null;
  term?: number;
  /** Ticks between resends of a prepare, and between resends of an install. Default 5. */
  retransmitTicks?: number;
  /** A candidate that has not answered a prepare after this many ticks is left out. Default 100. */
  flushTimeoutTicks?: number;
  /** After becoming leader, ticks to wait for the members' statuses before acting. Default 10. */
  settleTicks?: number;
}

interface CoordinatorIo<P, S> {
  send(to: MemberId, message: MulticastWire<P, S>): void;
  emit(event: CoordinatorEvent): void;
}

interface MemberStatus {
  view: number;
  members: readonly MemberId[];
  ready: boolean;
  frozen: boolean;
}

interface ViewChange<P, S> {
  attempt: number;
  candidates: MemberId[];
  replies: Map<MemberId, Wire<P, S, 'multicast.flush'>>;
  startedTick: number;
  sentTick: number;
}

function sameList(a: readonly MemberId[], b: readonly MemberId[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sortedUnique(ids: readonly MemberId[]): MemberId[] {
  return [...new Set(ids)].sort();
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * The view coordinator: runs on the elected leader (a node, or the store, which is no
 * member and holds no tickets). It watches which members are reachable and what they
 * report, and installs a new view when the membership must change: a member went down,
 * one came (back) up, or one is stuck outside the latest view.
 */
export class ViewCoordinator<P = unknown, S = unknown> implements StateMachine<MulticastWire<P, S>, CoordinatorEvent> {
  private readonly id: MemberId;
  private readonly group: MemberId[];
  private readonly groupSet: Set<MemberId>;
  private readonly retransmitTicks: number;
  private readonly flushTimeoutTicks: number;
  private readonly settleTicks: number;
  private readonly outbox = new Outbox<MulticastWire<P, S>, CoordinatorEvent>();
  private readonly io: CoordinatorIo<P, S>;

  private leader: MemberId | null = null;
  private term = 0;
  private leading = false;
  private leadingSinceTick = 0;
  private ticks = 0;
  private readonly up = new Set<MemberId>();
  private readonly statuses = new Map<MemberId, MemberStatus>();
  /** Members that were up but did not answer a prepare: left out until they report again. */
  private readonly silent = new Set<MemberId>();
  /** The latest view this coordinator knows to be installed somewhere. */
  private known: { view: number; members: MemberId[] } | null = null;
  private lastIssuedView = -1;
  private attempt = 0;
  private change: ViewChange<P, S> | null = null;
  /** The install sent to each member of the latest view, resent if the member reports an older view. */
  private readonly installs = new Map<MemberId, Wire<P, S, 'multicast.install'>>();
  private readonly installResentTick = new Map<MemberId, number>();

  constructor(options: ViewCoordinatorOptions, io?: CoordinatorIo<P, S>) {
    this.id = options.id;
    this.group = sortedUnique(options.group);
    this.groupSet = new Set(this.group);
    if (this.group.length === 0) throw new RangeError('a view coordinator needs a non-empty group');
    this.retransmitTicks = positiveInteger('retransmitTicks', options.retransmitTicks ?? 5);
    this.flushTimeoutTicks = positiveInteger('flushTimeoutTicks', options.flushTimeoutTicks ?? 100);
    this.settleTicks = positiveInteger('settleTicks', options.settleTicks ?? 10);
    this.io = io ?? { send: (to, message) => this.outbox.send(to, message), emit: (event) => this.outbox.emit(event) };
    if (this.groupSet.has(this.id)) this.up.add(this.id);
    if (options.leader !== undefined) this.setLeader(options.leader, options.term ?? 0);
  }

  setLeader(leader: MemberId | null, term: number): void {
    if (term < this.term) return;
    const wasLeading = this.leading;
    const termChanged = term !== this.term;
    this.leader = leader;
    this.term = term;
    this.leading = leader === this.id;
    if (this.leading && (!wasLeading || termChanged)) {
      // Statuses are kept: members may have reported to us before the election told us.
      this.leadingSinceTick = this.ticks;
      this.installs.clear();
      this.change = null;
    }
    if (!this.leading) this.change = null;
  }

  step(from: MemberId, message: MulticastWire<P, S>): void {
    if (message.type === 'multicast.status') this.handleStatus(from, message);
    else if (message.type === 'multicast.flush') this.handleFlush(from, message);
  }

  tick(): void {
    this.ticks++;
    if (!this.leading) return;
    if (this.change !== null) this.progressChange();
    else if (this.ticks - this.leadingSinceTick >= this.settleTicks) this.maybeStartChange();
  }

  peerUp(peer: MemberId): void {
    if (this.groupSet.has(peer)) this.up.add(peer);
  }

  peerDown(peer: MemberId): void {
    if (peer !== this.id) this.up.delete(peer);
    this.silent.delete(peer);
  }

  drain(): Output<MulticastWire<P, S>, CoordinatorEvent> {
    return this.outbox.drain();
  }

  status(): {
    leading: boolean;
    leader: MemberId | null;
    term: number;
    viewId: number;
    viewMembers: MemberId[];
    changing: boolean;
  } {
    return {
      leading: this.leading,
      leader: this.leader,
      term: this.term,
      viewId: this.known?.view ?? -1,
      viewMembers: [...(this.known?.members ?? [])],
      changing: this.change !== null,
    };
  }

  private learn(view: number, members: readonly MemberId[]): void {
    if (view < 0) return;
    if (this.known === null || view > this.known.view) this.known = { view, members: [...members] };
  }

  private handleStatus(from: MemberId, message: Wire<P, S, 'multicast.status'>): void {
    if (!this.groupSet.has(from)) return;
    this.silent.delete(from);
    this.statuses.set(from, { view: message.view, members: message.members, ready: message.ready, frozen: message.frozen });
    this.learn(message.view, message.members);
    if (!this.leading || this.change !== null || this.known === null) return;
    // An install that was lost: send it again rather than start another change.
    const install = this.installs.get(from);
    if (message.view < this.known.view && install !== undefined && install.view === this.known.view) {
      const last = this.installResentTick.get(from);
      if (last === undefined || this.ticks - last >= this.retransmitTicks) {
        this.installResentTick.set(from, this.ticks);
        this.io.send(from, install);
      }
    }
  }

  private maybeStartChange(): void {
    // Every member whose link is up takes part, whether or not its status has arrived:
    // leaving out a live member of the view is what could end that view twice.
    const candidates = this.group.filter((member) => this.up.has(member) && !this.silent.has(member));
    if (!this.isMajority(candidates)) return;
    const known = this.known;
    if (known === null) {
      // Nobody reports a view: a cluster started with every node joining. The first view starts
      // empty, once every reachable node has said so.
      if (candidates.every((member) => (this.statuses.get(member)?.view ?? 0) < 0)) this.startChange(candidates);
      return;
    }
    let needed = !sameList(candidates, known.members);
    for (const member of candidates) {
      if (needed) break;
      const status = this.statuses.get(member);
      if (status === undefined) continue;
      const install = this.installs.get(member);
      if (status.view < known.view && install !== undefined && install.view === known.view) continue;
      if (status.view !== known.view || !sameList(status.members, known.members) || status.frozen) needed = true;
    }
    if (needed) this.startChange(candidates);
  }

  /**
   * A coordinator acts only with a majority of the group reachable. The election already
   * gives leadership to a majority side only, but a deposed leader cut off from the others
   * may not know yet: alone, it would end the view with its own tickets only.
   */
  private isMajority(candidates: readonly MemberId[]): boolean {
    return candidates.length * 2 > this.group.length;
  }

  private startChange(candidates: MemberId[]): void {
    this.attempt++;
    this.change = { attempt: this.attempt, candidates, replies: new Map(), startedTick: this.ticks, sentTick: this.ticks };
    const prepare: Wire<P, S, 'multicast.prepare'> = { type: 'multicast.prepare', term: this.term, attempt: this.attempt };
    this.io.emit({ type: 'view-change', term: this.term, attempt: this.attempt, candidates: [...candidates] });
    for (const member of candidates) this.io.send(member, prepare);
  }

  private progressChange(): void {
    const change = this.change!;
    if (change.candidates.some((member) => !this.up.has(member))) {
      // A candidate went down during the change: start again without it (next tick).
      this.change = null;
      return;
    }
    if (this.ticks - change.startedTick >= this.flushTimeoutTicks) {
      // Reachable but silent: end the view with those that answered; the silent one is
      // added again once it reports.
      const answered = change.candidates.filter((member) => change.replies.has(member));
      for (const member of change.candidates) if (!change.replies.has(member)) this.silent.add(member);
      this.change = null;
      if (this.isMajority(answered)) this.startChange(answered);
      return;
    }
    if (this.ticks - change.sentTick >= this.retransmitTicks) {
      change.sentTick = this.ticks;
      const prepare: Wire<P, S, 'multicast.prepare'> = { type: 'multicast.prepare', term: this.term, attempt: change.attempt };
      for (const member of change.candidates) if (!change.replies.has(member)) this.io.send(member, prepare);
    }
  }

  private handleFlush(from: MemberId, message: Wire<P, S, 'multicast.flush'>): void {
    const change = this.change;
    if (!this.leading || change === null) return;
    if (message.term !== this.term || message.attempt !== change.attempt || !change.candidates.includes(from)) return;
    change.replies.set(from, message);
    this.statuses.set(from, { view: message.view, members: message.members, ready: message.ready, frozen: true });
    this.learn(message.view, message.members);
    if (change.replies.size === change.candidates.length) this.completeChange(change);
  }

  private completeChange(change: ViewChange<P, S>): void {
    const replies = [...change.replies.entries()];
    // The base is the latest view among the members that have its state; they survive into the new view.
    let base = -1;
    let baseMembers: readonly MemberId[] = [];
    for (const [, reply] of replies) {
      if (reply.ready && reply.view > base) {
        base = reply.view;
        baseMembers = reply.members;
      }
    }
    const survivors = replies
      .filter(([, reply]) => reply.ready && reply.view === base && base >= 0 && sameList(reply.members, baseMembers))
      .map(([member]) => member)
      .sort();
    if (survivors.length === 0 && this.known !== null) {
      this.io.emit({ type: 'view-stalled', term: this.term, reason: `no reachable member holds the state of view ${this.known.view}` });
      this.change = null;
      this.leadingSinceTick = this.ticks; // wait a settle period before trying again
      return;
    }
    let highest = Math.max(this.lastIssuedView, this.known?.view ?? -1);
    for (const [, reply] of replies) highest = Math.max(highest, reply.view);
    const view = highest + 1;
    const members = change.candidates.slice().sort();
    const joiners = members.filter((member) => !survivors.includes(member));
    const union = mergeUnion(survivors.map((member) => change.replies.get(member)!.batches), baseMembers);
    const stateFrom = survivors.length > 0 && joiners.length > 0 ? survivors[0]! : null;
    const common = { type: 'multicast.install' as const, term: this.term, attempt: change.attempt, view, members, survivors, base, stateFrom };
    const forSurvivors: Wire<P, S, 'multicast.install'> = { ...common, batches: union };
    const forJoiners: Wire<P, S, 'multicast.install'> = { ...common, batches: [] };
    this.installs.clear();
    this.installResentTick.clear();
    this.change = null;
    this.known = { view, members };
    this.lastIssuedView = view;
    this.io.emit({ type: 'view-installing', term: this.term, viewId: view, members: [...members], survivors, joiners, base });
    for (const member of members) {
      const install = survivors.includes(member) ? forSurvivors : forJoiners;
      this.installs.set(member, install);
      this.io.send(member, install);
    }
  }
}

/**
 * The union of what the survivors hold of each sender's stream. Every survivor holds a
 * contiguous run of each stream, and the runs overlap (each starts at or below what all
 * members have received), so walking by seq from the lowest start covers the union.
 */
function mergeUnion<P>(held: WireBatch<P>[][], senders: readonly MemberId[]): WireBatch<P>[] {
  const bySender = new Map<MemberId, WireBatch<P>[]>();
  for (const batches of held) {
    for (const batch of batches) {
      let list = bySender.get(batch.sender);
      if (list === undefined) bySender.set(batch.sender, (list = []));
      list.push(batch);
    }
  }
  const union: WireBatch<P>[] = [];
  for (const sender of senders) {
    const list = bySender.get(sender);
    if (list === undefined) continue;
    list.sort((a, b) => a.seq - b.seq || b.payloads.length - a.payloads.length);
    let next = list[0]!.seq;
    for (const batch of list) {
      const end = batch.seq + batch.payloads.length;
      if (end <= next) continue;
      if (batch.seq > next) break; // a gap: nobody delivered past it
      union.push(batch);
      next = end;
    }
  }
  return union;
}

// ---- one sender's stream within a view ----------------------------------------------------

interface Batch<P> {
  readonly seq: number;
  readonly timestamp: number;
  readonly payloads: P[];
}

/**
 * The tickets of one sender in the current view, as held by one member: a queue of
 * batches from the oldest one not yet stable, through the delivered ones, to the newest
 * received. Batches are kept as they arrived (no copy per ticket); a cursor points at
 * the next ticket to deliver.
 */
class Stream<P> {
  batches: Batch<P>[] = [];
  /** Index of the first batch kept. */
  head = 0;
  /** Tickets received in seq order: the seq of the next one expected. */
  next = 0;
  /** Tickets delivered: the seq of the next one to deliver. */
  deliveredSeq = 0;
  private cursor = 0;
  private offset = 0;
  /** Batches that arrived ahead of a gap, by seq. */
  reorder: Map<number, Batch<P>> | null = null;

  append(batch: Batch<P>): void {
    this.batches.push(batch);
    this.next = batch.seq + batch.payloads.length;
  }

  headTimestamp(): number {
    return this.batches[this.cursor]!.timestamp + this.offset;
  }

  takeHead(): P {
    const batch = this.batches[this.cursor]!;
    const payload = batch.payloads[this.offset]!;
    this.deliveredSeq++;
    if (++this.offset === batch.payloads.length) {
      this.cursor++;
      this.offset = 0;
    }
    return payload;
  }

  /** Drops whole batches below seq `upTo` (delivered and received by everyone). */
  trim(upTo: number): void {
    const batches = this.batches;
    while (this.head < this.cursor && batches[this.head]!.seq + batches[this.head]!.payloads.length <= upTo) this.head++;
    if (this.head > 64 && this.head * 2 > batches.length) {
      this.batches = batches.slice(this.head);
      this.cursor -= this.head;
      this.head = 0;
    }
  }

  /** Index of the kept batch holding seq, the first kept one if seq is below them, -1 if seq >= next. */
  find(seq: number): number {
    if (seq >= this.next || this.head >= this.batches.length) return -1;
    let low = this.head;
    let high = this.batches.length - 1;
    if (seq < this.batches[low]!.seq) return low;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.batches[middle]!.seq <= seq) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  kept(): Batch<P>[] {
    return this.batches.slice(this.head);
  }

  undelivered(): number {
    return this.next - this.deliveredSeq;
  }
}

function sliceBatch<P>(batch: Batch<P>, fromSeq: number): Batch<P> {
  const skip = fromSeq - batch.seq;
  return { seq: fromSeq, timestamp: batch.timestamp + skip, payloads: batch.payloads.slice(skip) };
}

// ---- the member -----------------------------------------------------------------------------

/** The schema's bound on tickets per data message (MULTICAST_BATCH_MAX). */
const maxBatchOnWire = 1024;

export interface TotalOrderMulticastOptions {
  id: MemberId;
  /** Every frontend node; unless joining, the initial view (view 0) is all of them. */
  group: readonly MemberId[];
  /** Start outside any view and wait to be added with a state transfer (a process that restarted). Default false. */
  joining?: boolean;
  leader?: MemberId | null;
  term?: number;
  /** Tickets per data message, at most 1,024. Default 256. */
  maxBatch?: number;
  /** Tickets queued locally and not yet sent; multicast() refuses beyond. Default 16,384. */
  maxPending?: number;
  /** Own tickets sent and not yet delivered by every member (the send window). Default 4,096. */
  maxUnstable?: number;
  /** Tickets received and not yet delivered; at least group size x maxUnstable. Default that product. */
  maxHoldBack?: number;
  /** Batches kept per sender when they arrive ahead of a gap. Default 64. */
  maxReorderBatches?: number;
  /** Ticks without progress before resending, re-asking or nacking again. Default 5. */
  retransmitTicks?: number;
  /** Tickets resent at most per resend. Default 4 x maxBatch. */
  retransmitTickets?: number;
  /** Ticks between two status reports to the leader. Default 20. */
  statusTicks?: number;
  /** Acknowledge (and send pending tickets) as soon as data arrives, not on the next tick. Default true. */
  eagerAck?: boolean;
  /** The application sends its state to joiners through transferState(). false: the state carries no appState. Default true. */
  stateTransfer?: boolean;
  /** Options of the embedded coordinator (used when this member is the leader). */
  coordinator?: Pick<ViewCoordinatorOptions, 'flushTimeoutTicks' | 'settleTicks'>;
}

export interface TotalOrderMulticastStatus {
  id: MemberId;
  lamport: number;
  holdBack: number;
  delivered: number;
  viewId: number;
  viewMembers: MemberId[];
  pending: number;
  /** Own tickets sent and not yet delivered by every member. */
  unstable: number;
  ready: boolean;
  frozen: boolean;
  leader: MemberId | null;
  term: number;
  coordinating: boolean;
}

/**
 * One member of the multicast group. multicast() queues a payload; flush() (or the next
 * tick, or a full batch) sends it. Deliveries, views and blocks come out as events.
 */
export class TotalOrderMulticast<P = unknown, S = unknown> implements StateMachine<MulticastWire<P, S>, MulticastEvent<P, S>> {
  private readonly id: MemberId;
  private readonly group: MemberId[];
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly maxUnstable: number;
  private readonly maxHoldBack: number;
  private readonly maxReorderBatches: number;
  private readonly retransmitTicks: number;
  private readonly retransmitTickets: number;
  private readonly statusTicks: number;
  private readonly eagerAck: boolean;
  private readonly stateTransfer: boolean;
  private readonly outbox = new Outbox<MulticastWire<P, S>, MulticastEvent<P, S>>();
  private readonly coordinator: ViewCoordinator<P, S>;
  private readonly loopback: Array<{ from: MemberId; message: MulticastWire<P, S> }> = [];
  private pumping = false;

  private leader: MemberId | null = null;
  private term = 0;
  private ticks = 0;
  private lastStatusTick = -Infinity;

  // Lamport clock and the total order.
  private clock = 0;
  private delivered = 0;

  // Locally queued tickets, not yet stamped.
  private pending: P[] = [];
  private pendingHead = 0;

  // The installed view.
  private viewId = -1;
  private members: MemberId[] = [];
  private self = -1;
  private ready = false;
  private frozen = false;
  private promised: { term: number; attempt: number } | null = null;
  private streams: Stream<P>[] = [];
  /** creditedHave[q][s]: tickets of s that q has received, as acknowledged by q and believed. */
  private creditedHave: number[][] = [];
  /** An acknowledgement of q not believable yet (q's earlier tickets missing): elementwise max. */
  private pendingHave: Array<number[] | null> = [];
  /** How many of this member's own tickets q has delivered (flow control). */
  private peerDeliveredMine: number[] = [];
  private progressTick: number[] = [];
  private nackFrom: number[] = [];
  private nackTick: number[] = [];
  private replyTick: number[] = [];
  private holdBack = 0;
  private ackDue = false;
  private deliveredAtLastAck = 0;
  private lastDeliveryTick = 0;
  private lastWaitingTick = -Infinity;
  private viewStartDelivered = 0;
  private readonly bound: number[] = [];

  // View changes and state transfer.
  /** Per member: how many of its tickets of its last view were delivered (replicated). */
  private progress = new Map<MemberId, { view: number; next: number }>();
  /** Own tickets of a view this member was left out of, resent after the state transfer. */
  private orphans: { view: number; batches: Batch<P>[] } | null = null;
  private joinWait: { view: number; stateFrom: MemberId | null; askedTick: number } | null = null;
  private transfer: { view: number; to: MemberId[]; message: Wire<P, S, 'multicast.state'> | null } | null = null;

  constructor(options: TotalOrderMulticastOptions) {
    this.id = options.id;
    this.group = sortedUnique(options.group);
    if (!this.group.includes(this.id)) throw new RangeError(`member ${this.id} is not in the group ${this.group.join(',')}`);
    this.maxBatch = positiveInteger('maxBatch', options.maxBatch ?? 256);
    // MULTICAST_BATCH_MAX in shared/peer/multicast.ts: a larger batch would fail validation on receipt.
    if (this.maxBatch > maxBatchOnWire) throw new RangeError(`maxBatch must be at most ${maxBatchOnWire}, got ${this.maxBatch}`);
    this.maxPending = positiveInteger('maxPending', options.maxPending ?? 16_384);
    this.maxUnstable = positiveInteger('maxUnstable', options.maxUnstable ?? 4096);
    this.maxHoldBack = positiveInteger('maxHoldBack', options.maxHoldBack ?? this.group.length * this.maxUnstable);
    if (this.maxHoldBack < this.group.length * this.maxUnstable) {
      throw new RangeError(`maxHoldBack (${this.maxHoldBack}) must be at least group size x maxUnstable (${this.group.length * this.maxUnstable})`);
    }
    this.maxReorderBatches = positiveInteger('maxReorderBatches', options.maxReorderBatches ?? 64);
    this.retransmitTicks = positiveInteger('retransmitTicks', options.retransmitTicks ?? 5);
    this.retransmitTickets = positiveInteger('retransmitTickets', options.retransmitTickets ?? 4 * this.maxBatch);
    this.statusTicks = positiveInteger('statusTicks', options.statusTicks ?? 20);
    this.eagerAck = options.eagerAck ?? true;
    this.stateTransfer = options.stateTransfer ?? true;
    this.coordinator = new ViewCoordinator<P, S>(
      { id: this.id, group: this.group, retransmitTicks: this.retransmitTicks, ...options.coordinator },
      { send: (to, message) => this.sendTo(to, message), emit: (event) => this.outbox.emit(event) },
    );
    if (!(options.joining ?? false)) {
      this.ready = true;
      this.installView(0, this.group);
    }
    if (options.leader !== undefined) this.setLeader(options.leader, options.term ?? 0);
  }

  // ---- the application's side ----------------------------------------------------------

  /** Queues a payload for the total order. false: the queue is full (backpressure), nothing queued. */
  multicast(payload: P): boolean {
    if (this.pending.length - this.pendingHead >= this.maxPending) return false;
    this.pending.push(payload);
    if (this.pending.length - this.pendingHead >= this.maxBatch) {
      this.flush();
    }
    return true;
  }

  /** Sends the queued payloads now (as far as the send window allows). */
  flush(): void {
    if (this.viewId >= 0 && !this.frozen && this.ready) this.flushPending();
    this.pump();
  }

  /** The election's result: who coordinates views, in which term. */
  setLeader(leader: MemberId | null, term: number): void {
    if (term < this.term) return;
    this.leader = leader;
    this.term = term;
    this.coordinator.setLeader(leader, term);
    this.sendStatus();
    this.pump();
  }

  /**
   * Sends the application's state at the start of view viewId to the joiners named by
   * the view event's transferTo. Deliveries of the new view wait for it.
   */
  transferState(viewId: number, appState: S | undefined): boolean {
    const transfer = this.transfer;
    if (transfer === null || transfer.view !== viewId || transfer.message !== null) return false;
    const message: Wire<P, S, 'multicast.state'> = {
      type: 'multicast.state',
      view: viewId,
      delivered: this.viewStartDelivered,
      progress: [...this.progress].map(([member, progress]) => ({ member, view: progress.view, next: progress.next })),
    };
    if (appState !== undefined) message.appState = appState;
    transfer.message = message;
    for (const joiner of transfer.to) this.sendTo(joiner, message);
    this.afterInput();
    return true;
  }

  status(): TotalOrderMulticastStatus {
    return {
      id: this.id,
      lamport: this.clock,
      holdBack: this.holdBack,
      delivered: this.delivered,
      viewId: this.viewId,
      viewMembers: [...this.members],
      pending: this.pending.length - this.pendingHead,
      unstable: this.self >= 0 ? this.ownUnstable() : 0,
      ready: this.ready,
      frozen: this.frozen,
      leader: this.leader,
      term: this.term,
      coordinating: this.coordinator.status().leading,
    };
  }

  // ---- StateMachine -------------------------------------------------------------------

  step(from: MemberId, message: MulticastWire<P, S>): void {
    this.route(from, message);
    this.afterInput();
  }

  tick(): void {
    this.ticks++;
    this.coordinator.tick();
    if (this.viewId >= 0 && !this.frozen) this.tickView();
    if (this.ticks - this.lastStatusTick >= this.statusTicks) this.sendStatus();
    this.pump();
  }

  peerUp(peer: MemberId): void {
    this.coordinator.peerUp(peer);
    if (peer === this.leader) this.sendStatus();
    const q = this.members.indexOf(peer);
    // The link came back: what was in flight is lost. Tell the peer where we stand at once.
    if (q >= 0 && q !== this.self && !this.frozen) this.sendAck(q, false);
    this.pump();
  }

  peerDown(peer: MemberId): void {
    this.coordinator.peerDown(peer);
    this.pump();
  }

  drain(): Output<MulticastWire<P, S>, MulticastEvent<P, S>> {
    return this.outbox.drain();
  }

  // ---- routing --------------------------------------------------------------------------

  private sendTo(to: MemberId, message: MulticastWire<P, S>): void {
    if (to === this.id) this.loopback.push({ from: this.id, message });
    else this.outbox.send(to, message);
  }

  /** Runs the messages this member sent to itself (its own coordinator, or from it). */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let i = 0; i < this.loopback.length; i++) {
        const { from, message } = this.loopback[i]!;
        this.route(from, message);
        this.afterInputNoPump();
      }
      this.loopback.length = 0;
    } finally {
      this.pumping = false;
    }
  }

  private route(from: MemberId, message: MulticastWire<P, S>): void {
    switch (message.type) {
      case 'multicast.data':
        this.handleData(from, message);
        return;
      case 'multicast.ack':
        this.handleAck(from, message);
        return;
      case 'multicast.nack':
        this.handleNack(from, message);
        return;
      case 'multicast.status':
      case 'multicast.flush':
        this.coordinator.step(from, message);
        return;
      case 'multicast.prepare':
        this.handlePrepare(from, message);
        return;
      case 'multicast.install':
        this.handleInstall(from, message);
        return;
      case 'multicast.state-request':
        this.handleStateRequest(from, message);
        return;
      case 'multicast.state':
        this.handleState(from, message);
        return;
    }
  }

  private afterInput(): void {
    this.afterInputNoPump();
    this.pump();
  }

  private afterInputNoPump(): void {
    if (this.viewId < 0 || this.frozen) return;
    this.tryDeliver(false);
    if (!this.eagerAck) return;
    if (this.ready) this.flushPending();
    // Senders' windows open on our delivered counts: announce them after a quarter window.
    if (this.delivered - this.deliveredAtLastAck >= Math.max(1, this.maxUnstable >> 2)) this.ackDue = true;
    if (this.ackDue) this.sendAcks(false);
  }

  // ---- inside a view ------------------------------------------------------------------------

  private memberIndex(from: MemberId, view: number): number {
    if (this.viewId < 0 || this.frozen || view !== this.viewId) return -1;
    const q = this.members.indexOf(from);
    return q === this.self ? -1 : q;
  }

  private handleData(from: MemberId, message: Wire<P, S, 'multicast.data'>): void {
    const q = this.memberIndex(from, message.view);
    if (q < 0 || message.payloads.length === 0) return;
    const stream = this.streams[q]!;
    const end = message.seq + message.payloads.length;
    if (end <= stream.next) {
      // A duplicate: our acknowledgement may have been lost.
      this.ackDue = true;
      this.absorbAck(q, message);
      return;
    }
    if (message.seq > stream.next) {
      if (stream.reorder === null) stream.reorder = new Map();
      if (stream.reorder.size < this.maxReorderBatches) stream.reorder.set(message.seq, message);
      this.maybeNack(q);
      this.absorbAck(q, message);
      return;
    }
    if (!this.accept(q, message)) return;
    const reorder = stream.reorder;
    if (reorder !== null && reorder.size > 0) {
      for (let batch = reorder.get(stream.next); batch !== undefined; batch = reorder.get(stream.next)) {
        reorder.delete(batch.seq);
        if (!this.accept(q, batch)) break;
      }
      if (reorder.size > 0) for (const seq of [...reorder.keys()]) if (seq < stream.next) reorder.delete(seq);
    }
    this.ackDue = true;
    this.absorbAck(q, message);
    this.creditPending(q);
  }

  /** Appends the part of batch beyond what q's stream holds. false: refused (hold-back full). */
  private accept(q: number, batch: Batch<P>, force = false): boolean {
    const stream = this.streams[q]!;
    const end = batch.seq + batch.payloads.length;
    if (end <= stream.next || batch.seq > stream.next) return false;
    const part = batch.seq === stream.next ? batch : sliceBatch(batch, stream.next);
    if (!force && this.holdBack + part.payloads.length > this.maxHoldBack) return false;
    stream.append(part);
    this.holdBack += part.payloads.length;
    const last = part.timestamp + part.payloads.length - 1;
    if (last > this.clock) this.clock = last;
    return true;
  }

  private absorbAck(q: number, message: { clock: number; have: number[]; delivered: number[]; waiting: boolean }): void {
    const n = this.members.length;
    if (message.have.length !== n || message.delivered.length !== n) return;
    if (message.clock > this.clock) this.clock = message.clock;
    const deliveredMine = message.delivered[this.self]!;
    if (deliveredMine > this.peerDeliveredMine[q]!) this.peerDeliveredMine[q] = deliveredMine;
    if (message.have[q]! <= this.streams[q]!.next) {
      this.credit(q, message.have);
    } else {
      const pending = this.pendingHave[q];
      if (pending === null || pending === undefined) this.pendingHave[q] = message.have.slice();
      else for (let i = 0; i < n; i++) if (message.have[i]! > pending[i]!) pending[i] = message.have[i]!;
      this.maybeNack(q);
    }
    if (message.waiting && this.replyTick[q] !== this.ticks) {
      this.replyTick[q] = this.ticks;
      this.sendAck(q, false);
    }
  }

  private creditPending(q: number): void {
    const pending = this.pendingHave[q];
    if (pending !== null && pending !== undefined && pending[q]! <= this.streams[q]!.next) {
      this.pendingHave[q] = null;
      this.credit(q, pending);
    }
  }

  private credit(q: number, have: readonly number[]): void {
    const row = this.creditedHave[q]!;
    if (have[this.self]! > row[this.self]!) this.progressTick[q] = this.ticks;
    for (let i = 0; i < row.length; i++) if (have[i]! > row[i]!) row[i] = have[i]!;
  }

  private handleAck(from: MemberId, message: Wire<P, S, 'multicast.ack'>): void {
    const q = this.memberIndex(from, message.view);
    if (q < 0) return;
    this.absorbAck(q, message);
  }

  private handleNack(from: MemberId, message: Wire<P, S, 'multicast.nack'>): void {
    const q = this.memberIndex(from, message.view);
    if (q < 0) return;
    this.resend(q, message.from);
    this.progressTick[q] = this.ticks;
  }

  private maybeNack(q: number): void {
    const from = this.streams[q]!.next;
    if (this.nackFrom[q] === from && this.ticks - this.nackTick[q]! < this.retransmitTicks) return;
    this.nackFrom[q] = from;
    this.nackTick[q] = this.ticks;
    this.outbox.send(this.members[q]!, { type: 'multicast.nack', view: this.viewId, from });
  }

  private resend(q: number, fromSeq: number): void {
    const own = this.streams[this.self]!;
    let index = own.find(fromSeq);
    if (index < 0) return;
    const have = this.haveVector();
    const delivered = this.deliveredVector();
    const waiting = this.needsAcks();
    let sent = 0;
    while (index < own.batches.length && sent < this.retransmitTickets) {
      const batch = own.batches[index++]!;
      this.outbox.send(this.members[q]!, this.dataMessage(batch, have, delivered, waiting));
      sent += batch.payloads.length;
    }
  }

  private dataMessage(batch: Batch<P>, have: number[], delivered: number[], waiting: boolean): Wire<P, S, 'multicast.data'> {
    return {
      type: 'multicast.data',
      view: this.viewId,
      seq: batch.seq,
      timestamp: batch.timestamp,
      payloads: batch.payloads,
      clock: this.clock,
      have,
      delivered,
      waiting,
    };
  }

  private haveVector(): number[] {
    return this.streams.map((stream) => stream.next);
  }

  private deliveredVector(): number[] {
    return this.streams.map((stream) => stream.deliveredSeq);
  }

  /** Own tickets sent and not yet delivered by some member, this one included: the send window. */
  private ownUnstable(): number {
    const own = this.streams[this.self]!;
    const next = own.next;
    let lowest = own.deliveredSeq;
    for (let q = 0; q < this.members.length; q++) if (q !== this.self && this.peerDeliveredMine[q]! < lowest) lowest = this.peerDeliveredMine[q]!;
    return next - lowest;
  }

  /** Holding tickets it cannot deliver for a while, or a full send window: ask the others for acks. */
  private needsAcks(): boolean {
    if (this.holdBack > 0 && this.ticks - this.lastDeliveryTick >= this.retransmitTicks) return true;
    return this.pending.length > this.pendingHead && this.ownUnstable() >= this.maxUnstable;
  }

  private flushPending(): void {
    const own = this.streams[this.self]!;
    let sentAny = false;
    while (this.pending.length > this.pendingHead) {
      const room = this.maxUnstable - this.ownUnstable();
      if (room <= 0) break;
      const count = Math.min(this.pending.length - this.pendingHead, this.maxBatch, room);
      const payloads = this.pending.slice(this.pendingHead, this.pendingHead + count);
      this.pendingHead += count;
      for (let q = 0; q < this.members.length; q++) {
        // A member that was up to date starts its resend timer now, not at its last progress.
        if (q !== this.self && this.creditedHave[q]![this.self]! >= own.next) this.progressTick[q] = this.ticks;
      }
      const batch: Batch<P> = { seq: own.next, timestamp: this.clock + 1, payloads };
      this.clock += count;
      own.append(batch);
      this.holdBack += count;
      const message = this.dataMessage(batch, this.haveVector(), this.deliveredVector(), this.needsAcks());
      for (let q = 0; q < this.members.length; q++) if (q !== this.self) this.outbox.send(this.members[q]!, message);
      sentAny = true;
    }
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
    if (sentAny) {
      this.ackDue = false;
      this.deliveredAtLastAck = this.delivered;
      if (this.members.length === 1) this.tryDeliver(false);
    }
  }

  private sendAck(q: number, waiting: boolean): void {
    this.outbox.send(this.members[q]!, {
      type: 'multicast.ack',
      view: this.viewId,
      clock: this.clock,
      have: this.haveVector(),
      delivered: this.deliveredVector(),
      waiting,
    });
  }

  private sendAcks(waiting: boolean): void {
    const message: Wire<P, S, 'multicast.ack'> = {
      type: 'multicast.ack',
      view: this.viewId,
      clock: this.clock,
      have: this.haveVector(),
      delivered: this.deliveredVector(),
      waiting,
    };
    for (let q = 0; q < this.members.length; q++) if (q !== this.self) this.outbox.send(this.members[q]!, message);
    this.ackDue = false;
    this.deliveredAtLastAck = this.delivered;
  }

  /**
   * Delivers, in (timestamp, sender) order, every ticket that every other member has
   * acknowledged receiving. With `all`, delivers everything held (the end of a view).
   */
  private tryDeliver(all: boolean): void {
    if (!this.ready) return;
    if (!all && this.transfer !== null && this.transfer.message === null) return;
    const n = this.streams.length;
    const self = this.self;
    const bound = this.bound;
    for (let s = 0; s < n; s++) {
      let lowest = Infinity;
      if (!all) {
        for (let q = 0; q < n; q++) {
          if (q === self || q === s) continue;
          const value = this.creditedHave[q]![s]!;
          if (value < lowest) lowest = value;
        }
      }
      bound[s] = lowest;
    }
    const streams = this.streams;
    for (;;) {
      let best = -1;
      let bestTimestamp = 0;
      for (let s = 0; s < n; s++) {
        const stream = streams[s]!;
        if (stream.deliveredSeq < stream.next) {
          const timestamp = stream.headTimestamp();
          if (best < 0 || timestamp < bestTimestamp) {
            best = s;
            bestTimestamp = timestamp;
          }
        }
      }
      if (best < 0) break;
      const stream = streams[best]!;
      if (stream.deliveredSeq >= bound[best]!) break;
      const payload = stream.takeHead();
      this.holdBack--;
      this.lastDeliveryTick = this.ticks;
      this.outbox.emit({
        type: 'deliver',
        sender: this.members[best]!,
        timestamp: bestTimestamp,
        payload,
        index: this.delivered++,
        viewId: this.viewId,
      });
    }
    if (this.holdBack === 0) this.lastDeliveryTick = this.ticks;
  }

  private tickView(): void {
    if (this.ready) this.flushPending();
    const n = this.members.length;
    // Forget what every member has received and this member has delivered.
    for (let s = 0; s < n; s++) {
      let stable = Infinity;
      for (let q = 0; q < n; q++) if (q !== this.self && this.creditedHave[q]![s]! < stable) stable = this.creditedHave[q]![s]!;
      const stream = this.streams[s]!;
      stream.trim(Math.min(stable, stream.deliveredSeq));
    }
    const own = this.streams[this.self]!;
    for (let q = 0; q < n; q++) {
      if (q === this.self) continue;
      // Resend what q has not acknowledged for a while.
      const have = this.creditedHave[q]![this.self]!;
      if (have < own.next && this.ticks - this.progressTick[q]! >= this.retransmitTicks) {
        this.progressTick[q] = this.ticks;
        this.resend(q, have);
      }
      // Ask again for what q announced and we miss.
      const pending = this.pendingHave[q];
      if (pending !== null && pending !== undefined && pending[q]! > this.streams[q]!.next) this.maybeNack(q);
    }
    if (this.ackDue || this.delivered !== this.deliveredAtLastAck) {
      this.sendAcks(false);
    } else if (this.needsAcks() && this.ticks - this.lastWaitingTick >= this.retransmitTicks) {
      this.lastWaitingTick = this.ticks;
      this.sendAcks(true);
    }
    const wait = this.joinWait;
    if (!this.ready && wait !== null && wait.stateFrom !== null && this.ticks - wait.askedTick >= this.retransmitTicks) {
      wait.askedTick = this.ticks;
      this.sendTo(wait.stateFrom, { type: 'multicast.state-request', view: this.viewId });
    }
  }

  // ---- view changes ---------------------------------------------------------------------------

  private sendStatus(): void {
    this.lastStatusTick = this.ticks;
    if (this.leader === null) return;
    this.sendTo(this.leader, {
      type: 'multicast.status',
      term: this.term,
      view: this.viewId,
      members: this.members,
      ready: this.ready,
      frozen: this.frozen,
    });
  }

  private handlePrepare(from: MemberId, message: Wire<P, S, 'multicast.prepare'>): void {
    if (message.term < this.term) return;
    if (message.term === this.term && from !== this.leader) return;
    const promised = this.promised;
    if (promised !== null) {
      if (message.term < promised.term || (message.term === promised.term && message.attempt < promised.attempt)) return;
      // A late copy of the prepare whose view is installed already must not freeze that view.
      if (message.term === promised.term && message.attempt === promised.attempt && !this.frozen) return;
    }
    if (message.term > this.term) {
      // A newer leader than the election has told us about: follow it.
      this.term = message.term;
      this.leader = from;
    }
    this.promised = { term: message.term, attempt: message.attempt };
    if (!this.frozen) {
      this.frozen = true;
      if (this.viewId >= 0) this.outbox.emit({ type: 'blocked', viewId: this.viewId, reason: 'view-change' });
    }
    const batches: WireBatch<P>[] = [];
    if (this.ready && this.viewId >= 0) {
      for (let s = 0; s < this.streams.length; s++) {
        const sender = this.members[s]!;
        for (const batch of this.streams[s]!.kept()) {
          batches.push({ sender, seq: batch.seq, timestamp: batch.timestamp, payloads: batch.payloads });
        }
      }
    }
    this.sendTo(from, {
      type: 'multicast.flush',
      term: message.term,
      attempt: message.attempt,
      view: this.viewId,
      members: this.members,
      ready: this.ready,
      batches,
    });
  }

  private handleInstall(_from: MemberId, message: Wire<P, S, 'multicast.install'>): void {
    const promised = this.promised;
    if (promised === null || promised.term !== message.term || promised.attempt !== message.attempt) return;
    if (message.view <= this.viewId || !message.members.includes(this.id)) return;
    const survivor = this.ready && this.viewId >= 0 && this.viewId === message.base && message.survivors.includes(this.id);
    if (survivor) {
      // Deliver what the survivors held of the old view, in the total order, then close it.
      for (const batch of message.batches) {
        const s = this.members.indexOf(batch.sender);
        if (s >= 0) this.accept(s, batch, true);
      }
      this.tryDeliver(true);
      for (let s = 0; s < this.members.length; s++) {
        // A member that sent nothing in this view (a joiner that never got its state) keeps
        // its entry of an earlier view: its tickets of that view may still need resending.
        const next = this.streams[s]!.deliveredSeq;
        if (next > 0) this.progress.set(this.members[s]!, { view: this.viewId, next });
      }
      this.orphans = null;
    } else {
      if (this.ready && this.viewId >= 0) {
        // Left out of the old view's end: own tickets the others may lack are resent after the state transfer.
        this.orphans = { view: this.viewId, batches: this.streams[this.self]!.kept() };
      }
      this.ready = false;
    }
    this.installView(message.view, message.members);
    this.transfer = null;
    this.joinWait = null;
    if (survivor) {
      const transferTo = message.stateFrom === this.id ? message.members.filter((member) => !message.survivors.includes(member)) : [];
      if (transferTo.length > 0) this.transfer = { view: this.viewId, to: transferTo, message: null };
      this.outbox.emit({
        type: 'view',
        viewId: this.viewId,
        members: [...this.members],
        joined: false,
        delivered: this.delivered,
        transferTo,
      });
      if (transferTo.length > 0 && !this.stateTransfer) this.transferState(this.viewId, undefined);
    } else if (message.stateFrom === null) {
      // The first view of a cluster that started with every node joining.
      this.becomeReady({ type: 'multicast.state', view: this.viewId, delivered: 0, progress: [] });
    } else {
      this.joinWait = { view: this.viewId, stateFrom: message.stateFrom, askedTick: this.ticks };
      this.sendTo(message.stateFrom, { type: 'multicast.state-request', view: this.viewId });
    }
    this.sendAcks(false);
    this.sendStatus();
  }

  private installView(view: number, members: readonly MemberId[]): void {
    const n = members.length;
    this.viewId = view;
    this.members = [...members];
    this.self = this.members.indexOf(this.id);
    this.frozen = false;
    this.streams = this.members.map(() => new Stream<P>());
    this.creditedHave = this.members.map(() => new Array<number>(n).fill(0));
    this.pendingHave = new Array<number[] | null>(n).fill(null);
    this.peerDeliveredMine = new Array<number>(n).fill(0);
    this.progressTick = new Array<number>(n).fill(this.ticks);
    this.nackFrom = new Array<number>(n).fill(-1);
    this.nackTick = new Array<number>(n).fill(-Infinity);
    this.replyTick = new Array<number>(n).fill(-1);
    this.bound.length = n;
    this.holdBack = 0;
    this.ackDue = false;
    this.lastDeliveryTick = this.ticks;
    this.deliveredAtLastAck = this.delivered;
    this.viewStartDelivered = this.delivered;
  }

  private handleStateRequest(from: MemberId, message: Wire<P, S, 'multicast.state-request'>): void {
    const transfer = this.transfer;
    if (transfer === null || transfer.message === null || transfer.view !== message.view || !transfer.to.includes(from)) return;
    this.sendTo(from, transfer.message);
  }

  private handleState(from: MemberId, message: Wire<P, S, 'multicast.state'>): void {
    const wait = this.joinWait;
    if (wait === null || this.frozen || this.ready || from !== wait.stateFrom || message.view !== wait.view || message.view !== this.viewId) return;
    this.becomeReady(message);
  }

  private becomeReady(state: Wire<P, S, 'multicast.state'>): void {
    this.delivered = state.delivered;
    this.viewStartDelivered = state.delivered;
    this.deliveredAtLastAck = state.delivered;
    this.progress = new Map(state.progress.map((entry) => [entry.member, { view: entry.view, next: entry.next }]));
    this.ready = true;
    this.joinWait = null;
    const event: MulticastEvent<P, S> = {
      type: 'view',
      viewId: this.viewId,
      members: [...this.members],
      joined: true,
      delivered: this.delivered,
      transferTo: [],
    };
    if (state.appState !== undefined) event.appState = state.appState;
    this.outbox.emit(event);
    const orphans = this.orphans;
    this.orphans = null;
    if (orphans !== null) {
      // Own tickets of the view this member was left out of that nobody delivered: send them again, first.
      const known = this.progress.get(this.id);
      const fromSeq = known === undefined || known.view < orphans.view ? 0 : known.view === orphans.view ? known.next : Infinity;
      const again: P[] = [];
      for (const batch of orphans.batches) {
        for (let i = 0; i < batch.payloads.length; i++) if (batch.seq + i >= fromSeq) again.push(batch.payloads[i]!);
      }
      if (again.length > 0) {
        this.pending = again.concat(this.pending.slice(this.pendingHead));
        this.pendingHead = 0;
      }
    }
  }
}

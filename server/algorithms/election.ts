// Leader election as a pure state machine: a bully-ordered election with Raft-style
// terms, majority votes, pre-votes and a leader lease. See docs/algorithms/election.md
// for the algorithm and the argument for its two safety properties:
//   1. at most one leader per term (each member votes at most once per term, durably,
//      and a leader needs the votes of a majority of ALL members);
//   2. never two members that both hold a majority at the same instant (a leader's
//      lease is measured from when it SENT the acknowledged request, and a member that
//      acknowledged a leader or granted a vote grants no other vote, and does not
//      campaign, until a longer window has passed on its own clock).
// Time is counted in ticks only; the machine reads no clock, no timer, no I/O.

import { Outbox, type MemberId, type Output, type Random, type StateMachine } from './machine.js';
import type { ElectionMessage, ElectionPersisted } from '../../shared/peer/election.js';

export type ElectionRole = 'follower' | 'candidate' | 'leader';

export type ElectionEvent =
  /** This member's view of the leader changed (null: no known leader). */
  | { type: 'leader'; leader: MemberId | null; term: number }
  | { type: 'role'; role: ElectionRole; term: number }
  /** Write durably BEFORE sending any message drained together with this event. */
  | { type: 'persist'; term: number; votedFor: MemberId | null }
  /** A message ignored because its term is older than ours. */
  | { type: 'refused'; from: MemberId; reason: 'stale-term' | 'unknown-member' };

export interface ElectionOptions {
  id: MemberId;
  members: MemberId[];
  random: Random;
  /** The last state written from a 'persist' event, or null/undefined on first start. */
  persisted?: ElectionPersisted | null;
  /** A leader sends a heartbeat every this many ticks. Default 5. */
  heartbeatTicks?: number;
  /** A follower that heard no leader for a random timeout in this range (slotted by priority) campaigns. Default 15..30. */
  electionTimeoutTicks?: { min: number; max: number };
  /** A leader without acks from a majority for requests sent within this many ticks steps down. Default and maximum: min - 2. */
  leaseTicks?: number;
  /** A campaigning member resends its requests to the peers that have not granted every this many ticks. Default 1. */
  retryTicks?: number;
  /** Members from highest to lowest priority. Default: sorted member ids, highest id first (the classic bully). */
  priority?: MemberId[];
  /** `--no-leader-election`: no voting, everyone treats this member as leader forever, in term 1. */
  fixedLeader?: MemberId;
}

export type ElectionCampaign = 'pre-vote' | 'vote' | null;

export interface ElectionStatus {
  id: MemberId;
  term: number;
  role: ElectionRole;
  leader: MemberId | null;
  votedFor: MemberId | null;
  holdsMajority: boolean;
  campaign: ElectionCampaign;
  /** Ticks since this member last heard a leader's heartbeat (0 for the leader itself; null if never since start). */
  ticksSinceLeader: number | null;
  /** For a leader: ticks left on its lease; null otherwise. */
  leaseTicksLeft: number | null;
  peersUp: MemberId[];
  fixedLeader: boolean;
}

type Campaign =
  | { phase: 'pre-vote'; term: number; startTick: number; lastSendTick: number; timeoutTicks: number; granted: Set<MemberId> }
  | { phase: 'vote'; startTick: number; lastSendTick: number; timeoutTicks: number; granted: Map<MemberId, number> };

/** A window in ticks during which a member that granted a pre-vote to a higher-priority member refuses lower ones. */
const PRE_VOTE_PREFERENCE_TICKS = 4;
/** Ticks per higher-priority live member that a follower waits after its leader's link went down. */
const FAILOVER_STAGGER_TICKS = 4;

function assertInvariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`election invariant: ${message}`);
}

function checkTicks(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer number of ticks, got ${value}`);
}

export class ElectionMachine implements StateMachine<ElectionMessage, ElectionEvent> {
  readonly id: MemberId;
  readonly members: readonly MemberId[];
  readonly majority: number;
  readonly heartbeatTicks: number;
  readonly electionTimeoutTicks: { readonly min: number; readonly max: number };
  readonly leaseTicks: number;
  /** A member that acknowledged a leader or granted a vote in the last stickyTicks neither votes nor campaigns. */
  readonly stickyTicks: number;
  readonly retryTicks: number;
  readonly fixedLeader: MemberId | null;

  private readonly outbox = new Outbox<ElectionMessage, ElectionEvent>();
  private readonly random: Random;
  private readonly peers: MemberId[];
  /** Position in the priority order; 0 is the highest priority. */
  private readonly priorityIndex = new Map<MemberId, number>();
  private readonly up = new Set<MemberId>();

  private ticks = 0;
  private currentTerm = 0;
  private votedFor: MemberId | null = null;
  private currentRole: ElectionRole = 'follower';
  private leaderId: MemberId | null = null;
  private lastLeaderEvent: { leader: MemberId | null; term: number } = { leader: null, term: 0 };
  /** Tick of our last positive answer that a leader's lease may count (heartbeat ack, granted vote). */
  private lastAckTick = 0;
  /** Tick of the last contact with a leader, or of the last reset of the election timer. */
  private lastContactTick = 0;
  /** Tick of the last heartbeat received from a leader, for status() only. */
  private lastHeartbeatHeardTick: number | null = null;
  private electionTimeout: number;
  private campaign: Campaign | null = null;
  /** Leader only: per peer, the send tick of the latest request it acknowledged in this term. */
  private acked = new Map<MemberId, number>();
  private lastHeartbeatTick = 0;
  private lastFailedCampaignTick: number | null = null;
  private recentPreVoteGrant: { candidate: MemberId; term: number; tick: number } | null = null;

  constructor(options: ElectionOptions) {
    const members = [...options.members].sort();
    if (members.length === 0) throw new RangeError('election needs at least one member');
    if (new Set(members).size !== members.length) throw new RangeError('election member ids must be unique');
    if (!members.includes(options.id)) throw new RangeError(`member ${options.id} is not in the member list`);
    this.id = options.id;
    this.members = members;
    this.peers = members.filter((member) => member !== options.id);
    this.majority = Math.floor(members.length / 2) + 1;
    this.random = options.random;

    this.heartbeatTicks = options.heartbeatTicks ?? 5;
    const min = options.electionTimeoutTicks?.min ?? 15;
    const max = options.electionTimeoutTicks?.max ?? 30;
    this.electionTimeoutTicks = { min, max };
    this.leaseTicks = options.leaseTicks ?? min - 2;
    this.retryTicks = options.retryTicks ?? 1;
    for (const [name, value] of [['heartbeatTicks', this.heartbeatTicks], ['electionTimeoutTicks.min', min], ['electionTimeoutTicks.max', max], ['leaseTicks', this.leaseTicks], ['retryTicks', this.retryTicks]] as const) {
      checkTicks(name, value);
    }
    if (max < min) throw new RangeError(`electionTimeoutTicks: max ${max} < min ${min}`);
    if (this.heartbeatTicks >= this.leaseTicks) {
      throw new RangeError(`heartbeatTicks (${this.heartbeatTicks}) must be shorter than leaseTicks (${this.leaseTicks}), or a healthy leader loses its lease`);
    }
    // One tick for the granularity of tick counting, one as margin for clock drift
    // (safe while members' tick rates differ by less than 1 / (2 * leaseTicks + 1)).
    this.stickyTicks = this.leaseTicks + 2;
    if (this.stickyTicks > min) {
      throw new RangeError(`leaseTicks (${this.leaseTicks}) must be at most electionTimeoutTicks.min - 2 (${min - 2})`);
    }

    const priority = options.priority ?? [...members].reverse();
    if (priority.length !== members.length || [...priority].sort().some((member, index) => member !== members[index])) {
      throw new RangeError('priority must list every member exactly once');
    }
    priority.forEach((member, index) => this.priorityIndex.set(member, index));

    if (options.fixedLeader !== undefined) {
      if (!members.includes(options.fixedLeader)) throw new RangeError(`fixedLeader ${options.fixedLeader} is not a member`);
      this.fixedLeader = options.fixedLeader;
      this.currentTerm = 1;
      this.currentRole = options.fixedLeader === this.id ? 'leader' : 'follower';
      this.electionTimeout = Number.POSITIVE_INFINITY;
      if (this.currentRole === 'leader') this.outbox.emit({ type: 'role', role: 'leader', term: 1 });
      this.setLeader(options.fixedLeader);
      return;
    }
    this.fixedLeader = null;

    const persisted = options.persisted ?? null;
    if (persisted !== null) {
      if (!Number.isInteger(persisted.term) || persisted.term < 0 || persisted.term > Number.MAX_SAFE_INTEGER) {
        throw new RangeError(`persisted term must be a non-negative safe integer, got ${persisted.term}`);
      }
      if (persisted.votedFor !== null && !members.includes(persisted.votedFor)) {
        throw new RangeError(`persisted vote for unknown member ${persisted.votedFor}`);
      }
      this.currentTerm = persisted.term;
      this.votedFor = persisted.votedFor;
      this.lastLeaderEvent = { leader: null, term: persisted.term };
    }
    // A (re)started member may have acknowledged a leader just before it stopped and
    // cannot know when: it counts that acknowledgement as now (lastAckTick = 0).
    this.electionTimeout = this.randomTimeout();
  }

  // ---- getters --------------------------------------------------------------------

  leader(): MemberId | null {
    return this.leaderId;
  }

  term(): number {
    return this.currentTerm;
  }

  role(): ElectionRole {
    return this.currentRole;
  }

  /** A leader whose lease is live: a majority (itself included) acknowledged a request it sent fewer than leaseTicks ago. */
  holdsMajority(): boolean {
    if (this.currentRole !== 'leader') return false;
    if (this.fixedLeader !== null) return true;
    return this.ticks - this.leaseStartTick() < this.leaseTicks;
  }

  status(): ElectionStatus {
    const leading = this.currentRole === 'leader';
    return {
      id: this.id,
      term: this.currentTerm,
      role: this.currentRole,
      leader: this.leaderId,
      votedFor: this.votedFor,
      holdsMajority: this.holdsMajority(),
      campaign: this.campaign?.phase ?? null,
      ticksSinceLeader: leading ? 0 : this.lastHeartbeatHeardTick === null ? null : this.ticks - this.lastHeartbeatHeardTick,
      leaseTicksLeft: leading
        ? this.fixedLeader !== null ? null : Math.max(0, this.leaseTicks - (this.ticks - this.leaseStartTick()))
        : null,
      peersUp: [...this.up].sort(),
      fixedLeader: this.fixedLeader !== null,
    };
  }

  // ---- inputs ---------------------------------------------------------------------

  step(from: MemberId, message: ElectionMessage): void {
    if (this.fixedLeader !== null) return;
    if (from === this.id || !this.priorityIndex.has(from)) {
      this.outbox.emit({ type: 'refused', from, reason: 'unknown-member' });
      return;
    }
    switch (message.type) {
      case 'election.pre-vote-request':
        this.handlePreVoteRequest(from, message.term);
        return;
      case 'election.pre-vote-response':
        this.handlePreVoteResponse(from, message.term, message.granted);
        return;
      case 'election.vote-request':
        this.handleVoteRequest(from, message.term, message.seq);
        return;
      case 'election.vote-response':
        this.handleVoteResponse(from, message.term, message.granted, message.seq);
        return;
      case 'election.heartbeat':
        this.handleHeartbeat(from, message.term, message.seq);
        return;
      case 'election.heartbeat-ack':
        this.handleHeartbeatAck(from, message.term, message.seq, message.success);
        return;
    }
  }

  tick(): void {
    this.ticks++;
    if (this.fixedLeader !== null) return;
    switch (this.currentRole) {
      case 'leader':
        this.tickLeader();
        return;
      case 'candidate':
        this.tickCandidate();
        return;
      case 'follower':
        this.tickFollower();
        return;
    }
  }

  peerUp(peer: MemberId): void {
    if (!this.priorityIndex.has(peer) || peer === this.id) return;
    this.up.add(peer);
    if (this.fixedLeader !== null) return;
    // A member whose link (re)appears learns the leader at once, not at the next heartbeat.
    if (this.currentRole === 'leader') this.sendHeartbeat(peer);
    else if (this.campaign !== null) this.sendCampaignRequest(peer);
  }

  peerDown(peer: MemberId): void {
    this.up.delete(peer);
    if (this.fixedLeader !== null) return;
    if (this.currentRole === 'follower' && this.leaderId === peer) {
      // On a real machine a killed leader's socket closes at once: campaign as soon as
      // its lease must have run out, the highest-priority live member first.
      this.setLeader(null);
      this.electionTimeout = this.electionTimeoutTicks.min + FAILOVER_STAGGER_TICKS * this.higherPriorityPeersUp();
    }
  }

  drain(): Output<ElectionMessage, ElectionEvent> {
    return this.outbox.drain();
  }

  // ---- ticks ----------------------------------------------------------------------

  private tickLeader(): void {
    if (!this.holdsMajority()) {
      // No majority acknowledged anything we sent within the lease: we may be cut off,
      // and the others may elect a new leader once their stickiness expires.
      this.becomeFollower(this.currentTerm, null);
      return;
    }
    if (this.ticks - this.lastHeartbeatTick >= this.heartbeatTicks) this.broadcastHeartbeat();
  }

  private tickCandidate(): void {
    const campaign = this.campaign;
    assertInvariant(campaign !== null && campaign.phase === 'vote', 'a candidate has a vote campaign');
    if (this.ticks - campaign.startTick >= campaign.timeoutTicks) {
      this.failCampaign();
      return;
    }
    this.maybeResendCampaign();
  }

  private tickFollower(): void {
    const campaign = this.campaign;
    if (campaign !== null) {
      assertInvariant(campaign.phase === 'pre-vote', 'a follower campaigns only in pre-vote');
      if (this.ticks - campaign.startTick >= campaign.timeoutTicks) this.failCampaign();
      else this.maybeResendCampaign();
      return;
    }
    if (this.ticks - this.lastContactTick >= this.electionTimeout && !this.isSticky()) {
      this.setLeader(null);
      this.startPreVote();
    }
  }

  // ---- transitions ----------------------------------------------------------------

  private becomeFollower(term: number, leader: MemberId | null): void {
    if (term > this.currentTerm) this.setTermAndVote(term, null);
    assertInvariant(term === this.currentTerm, `becomeFollower(${term}) in term ${this.currentTerm}`);
    const wasFollower = this.currentRole === 'follower';
    this.currentRole = 'follower';
    this.acked.clear();
    if (!wasFollower) {
      this.campaign = null;
      this.resetElectionTimer();
      this.outbox.emit({ type: 'role', role: 'follower', term: this.currentTerm });
    } else if (this.campaign?.phase === 'pre-vote' && (leader !== null || this.campaign.term !== this.currentTerm + 1)) {
      // A leader appeared, or our term moved past the one we proposed.
      this.campaign = null;
      this.resetElectionTimer();
    }
    this.setLeader(leader);
  }

  private startPreVote(): void {
    assertInvariant(this.currentRole === 'follower' && this.campaign === null, 'pre-vote starts from a quiet follower');
    this.campaign = {
      phase: 'pre-vote',
      term: this.currentTerm + 1,
      startTick: this.ticks,
      lastSendTick: this.ticks,
      timeoutTicks: this.randomTimeout(),
      granted: new Set([this.id]),
    };
    if (this.campaign.granted.size >= this.majority) {
      this.becomeCandidate();
      return;
    }
    for (const peer of this.peers) this.sendCampaignRequest(peer);
  }

  private becomeCandidate(): void {
    assertInvariant(this.currentRole === 'follower', `becomeCandidate from ${this.currentRole}`);
    assertInvariant(!this.isSticky(), 'a member that recently acknowledged a leader or voted does not campaign');
    assertInvariant(this.currentTerm < Number.MAX_SAFE_INTEGER, 'term overflow');
    this.setTermAndVote(this.currentTerm + 1, this.id);
    this.currentRole = 'candidate';
    this.outbox.emit({ type: 'role', role: 'candidate', term: this.currentTerm });
    this.setLeader(null);
    this.campaign = {
      phase: 'vote',
      startTick: this.ticks,
      lastSendTick: this.ticks,
      timeoutTicks: this.randomTimeout(),
      granted: new Map([[this.id, this.ticks]]),
    };
    if (this.campaign.granted.size >= this.majority) {
      this.becomeLeader();
      return;
    }
    for (const peer of this.peers) this.sendCampaignRequest(peer);
  }

  private becomeLeader(): void {
    const campaign = this.campaign;
    assertInvariant(this.currentRole === 'candidate', `becomeLeader from ${this.currentRole}`);
    assertInvariant(campaign !== null && campaign.phase === 'vote' && campaign.granted.size >= this.majority, 'a leader has the votes of a majority');
    assertInvariant(this.votedFor === this.id, 'a leader voted for itself');
    this.currentRole = 'leader';
    // The votes start the lease: each was granted after its request was sent.
    this.acked = new Map([...campaign.granted].filter(([member]) => member !== this.id));
    this.campaign = null;
    this.outbox.emit({ type: 'role', role: 'leader', term: this.currentTerm });
    this.setLeader(this.id);
    this.broadcastHeartbeat();
  }

  private failCampaign(): void {
    this.lastFailedCampaignTick = this.ticks;
    if (this.currentRole === 'candidate') {
      this.becomeFollower(this.currentTerm, null);
    } else {
      this.campaign = null;
      this.resetElectionTimer();
    }
    // A random timeout from the whole range, so that two that failed together part.
    this.electionTimeout = this.electionTimeoutTicks.min + this.random.int(this.electionTimeoutTicks.max - this.electionTimeoutTicks.min + 1);
  }

  // ---- handlers -------------------------------------------------------------------

  private handlePreVoteRequest(from: MemberId, term: number): void {
    // The proposed term is the sender's term + 1: at or below ours, the sender is behind.
    if (term <= this.currentTerm) {
      this.outbox.emit({ type: 'refused', from, reason: 'stale-term' });
      this.outbox.send(from, { type: 'election.pre-vote-response', term: this.currentTerm, granted: false });
      return;
    }
    const refuse = (): void => this.outbox.send(from, { type: 'election.pre-vote-response', term: this.currentTerm, granted: false });
    if (this.isSticky()) return refuse();
    const recent = this.recentPreVoteGrant;
    if (
      recent !== null && recent.term === term && recent.candidate !== from &&
      this.ticks - recent.tick < PRE_VOTE_PREFERENCE_TICKS && this.outranks(recent.candidate, from)
    ) {
      return refuse();
    }
    if (this.outranks(this.id, from) && this.mayBully()) {
      refuse();
      if (this.campaign === null && this.currentRole === 'follower') this.startPreVote();
      return;
    }
    this.recentPreVoteGrant = { candidate: from, term, tick: this.ticks };
    this.outbox.send(from, { type: 'election.pre-vote-response', term, granted: true });
  }

  private handlePreVoteResponse(from: MemberId, term: number, granted: boolean): void {
    if (!granted) {
      // A refusal carries the responder's real term: a newer one is news to us.
      if (term > this.currentTerm) this.becomeFollower(term, null);
      return;
    }
    const campaign = this.campaign;
    if (campaign === null || campaign.phase !== 'pre-vote' || campaign.term !== term) return;
    campaign.granted.add(from);
    if (campaign.granted.size >= this.majority) this.becomeCandidate();
  }

  private handleVoteRequest(from: MemberId, term: number, seq: number): void {
    const answer = (granted: boolean): void =>
      this.outbox.send(from, { type: 'election.vote-response', term: this.currentTerm, granted, seq });
    if (term < this.currentTerm) {
      this.outbox.emit({ type: 'refused', from, reason: 'stale-term' });
      return answer(false);
    }
    // A repeated request from the candidate we already voted for: answer again (the
    // first answer may have been lost). Safe: it is the same vote.
    if (term === this.currentTerm && this.votedFor === from) {
      this.grantVote();
      return answer(true);
    }
    // Leader stickiness: while a leader may still count our acknowledgement (or we are
    // a leader with a live lease), we neither grant nor let the request move our term.
    if (this.isSticky()) return answer(false);
    if (term > this.currentTerm) this.becomeFollower(term, null);
    if (this.votedFor !== null) return answer(false);
    this.setTermAndVote(this.currentTerm, from);
    this.grantVote();
    answer(true);
  }

  /**
   * A response (to a vote request or a heartbeat) from another term: a newer term makes
   * this member a follower, an older one is refused. Returns whether it was one.
   */
  private answeredFromAnotherTerm(from: MemberId, term: number): boolean {
    if (term > this.currentTerm) {
      this.becomeFollower(term, null);
      return true;
    }
    if (term < this.currentTerm) {
      this.outbox.emit({ type: 'refused', from, reason: 'stale-term' });
      return true;
    }
    return false;
  }

  private handleVoteResponse(from: MemberId, term: number, granted: boolean, seq: number): void {
    if (this.answeredFromAnotherTerm(from, term)) return;
    const campaign = this.campaign;
    if (!granted || this.currentRole !== 'candidate' || campaign === null || campaign.phase !== 'vote') return;
    if (seq < campaign.startTick || seq > this.ticks) return;
    campaign.granted.set(from, Math.max(campaign.granted.get(from) ?? seq, seq));
    if (campaign.granted.size >= this.majority) this.becomeLeader();
  }

  private handleHeartbeat(from: MemberId, term: number, seq: number): void {
    if (term < this.currentTerm) {
      this.outbox.emit({ type: 'refused', from, reason: 'stale-term' });
      this.outbox.send(from, { type: 'election.heartbeat-ack', term: this.currentTerm, seq, success: false });
      return;
    }
    if (term === this.currentTerm) {
      assertInvariant(this.currentRole !== 'leader', `two leaders in term ${term}: ${this.id} and ${from}`);
      assertInvariant(this.leaderId === null || this.leaderId === from, `two leaders in term ${term}: ${this.leaderId} and ${from}`);
    }
    this.becomeFollower(term, from);
    this.lastAckTick = this.ticks;
    this.lastHeartbeatHeardTick = this.ticks;
    this.resetElectionTimer();
    this.outbox.send(from, { type: 'election.heartbeat-ack', term: this.currentTerm, seq, success: true });
  }

  private handleHeartbeatAck(from: MemberId, term: number, seq: number, success: boolean): void {
    if (this.answeredFromAnotherTerm(from, term)) return;
    if (!success || this.currentRole !== 'leader' || seq > this.ticks) return;
    this.acked.set(from, Math.max(this.acked.get(from) ?? seq, seq));
  }

  // ---- helpers --------------------------------------------------------------------

  /** Recently acknowledged a leader or granted a vote, or leads with a live lease. */
  private isSticky(): boolean {
    return this.ticks - this.lastAckTick < this.stickyTicks || this.holdsMajority();
  }

  private grantVote(): void {
    // Having voted, we may not campaign until stickyTicks have passed: drop a pre-vote.
    if (this.campaign?.phase === 'pre-vote') this.campaign = null;
    this.lastAckTick = this.ticks;
    this.resetElectionTimer();
  }

  private resetElectionTimer(): void {
    this.lastContactTick = this.ticks;
    this.electionTimeout = this.randomTimeout();
  }

  /** The send tick from which the lease runs: the majority-th most recent acknowledged request, ourselves counting as now. */
  private leaseStartTick(): number {
    const sentTicks = [this.ticks];
    for (const peer of this.peers) {
      const tick = this.acked.get(peer);
      if (tick !== undefined) sentTicks.push(tick);
    }
    if (sentTicks.length < this.majority) return Number.NEGATIVE_INFINITY;
    sentTicks.sort((a, b) => b - a);
    return sentTicks[this.majority - 1]!;
  }

  private setTermAndVote(term: number, votedFor: MemberId | null): void {
    assertInvariant(term >= this.currentTerm, `term going back from ${this.currentTerm} to ${term}`);
    if (term === this.currentTerm) {
      assertInvariant(this.votedFor === null || this.votedFor === votedFor, `second vote in term ${term}: ${this.votedFor} then ${votedFor}`);
      if (this.votedFor === votedFor) return;
    }
    this.currentTerm = term;
    this.votedFor = votedFor;
    this.outbox.emit({ type: 'persist', term, votedFor });
  }

  private setLeader(leader: MemberId | null): void {
    this.leaderId = leader;
    const last = this.lastLeaderEvent;
    if (last.leader === leader && (leader === null || last.term === this.currentTerm)) return;
    this.lastLeaderEvent = { leader, term: this.currentTerm };
    this.outbox.emit({ type: 'leader', leader, term: this.currentTerm });
  }

  private broadcastHeartbeat(): void {
    this.lastHeartbeatTick = this.ticks;
    for (const peer of this.peers) this.sendHeartbeat(peer);
  }

  private sendHeartbeat(peer: MemberId): void {
    this.outbox.send(peer, { type: 'election.heartbeat', term: this.currentTerm, seq: this.ticks });
  }

  private sendCampaignRequest(peer: MemberId): void {
    const campaign = this.campaign;
    if (campaign === null) return;
    if (campaign.phase === 'pre-vote') {
      if (!campaign.granted.has(peer)) this.outbox.send(peer, { type: 'election.pre-vote-request', term: campaign.term });
    } else if (!campaign.granted.has(peer)) {
      this.outbox.send(peer, { type: 'election.vote-request', term: this.currentTerm, seq: this.ticks });
    }
  }

  private maybeResendCampaign(): void {
    const campaign = this.campaign;
    if (campaign === null || this.ticks - campaign.lastSendTick < this.retryTicks) return;
    campaign.lastSendTick = this.ticks;
    for (const peer of this.peers) this.sendCampaignRequest(peer);
  }

  /** True if a has a higher priority than b. */
  private outranks(a: MemberId, b: MemberId): boolean {
    return this.priorityIndex.get(a)! < this.priorityIndex.get(b)!;
  }

  private higherPriorityPeersUp(): number {
    let count = 0;
    for (const peer of this.up) if (this.outranks(peer, this.id)) count++;
    return count;
  }

  /** May refuse a lower-priority candidate and campaign instead: only if we could plausibly win. */
  private mayBully(): boolean {
    if (this.currentRole !== 'follower') return false;
    if (this.up.size + 1 < this.majority) return false;
    const failed = this.lastFailedCampaignTick;
    return failed === null || this.ticks - failed > this.electionTimeoutTicks.max;
  }

  /** A random timeout in this member's priority slot of [min, max]: higher priority, sooner. */
  private randomTimeout(): number {
    const { min, max } = this.electionTimeoutTicks;
    const slotTicks = (max - min + 1) / this.members.length;
    const index = this.priorityIndex.get(this.id)!;
    const low = min + Math.floor(index * slotTicks);
    const high = Math.max(low, min + Math.floor((index + 1) * slotTicks) - 1);
    return low + this.random.int(high - low + 1);
  }
}

import type { ClockAdjustMessage, ClockMessage, ClockPollMessage, ClockReadingMessage } from '../../shared/peer/clock.js';
import {
  betterSample,
  estimateFrequencyPpm,
  estimateOffset,
  faultTolerantAverage,
  type ClockSample,
  type MemberReading,
  type OffsetPoint,
} from './clock-estimate.js';
import { Outbox, type MemberId, type MonotonicClock, type Output, type StateMachine } from './machine.js';
import type { SlewingClock } from './slewing-clock.js';

// Berkeley clock synchronisation as a pure state machine, one per member (the nodes
// and the store). The elected leader is the time daemon: on tick, at its own pace, it
// runs rounds. A round polls every member it can reach a few times, keeps each
// member's lowest round-trip sample, takes the fault-tolerant average of all clocks
// (its own included) and sends each member its relative adjustment; it applies its
// own. Members answer polls with their target time (their clock as if the slew in
// progress were done) and apply adjustments from the current leader and term only.
// Nothing is computed or adjusted inside a message handler except recording a sample
// and applying an adjustment that was sent.

export type { ClockMessage } from '../../shared/peer/clock.js';

export type ClockEvent =
  | {
      type: 'round';
      round: number;
      term: number;
      /** How many clocks took part, the leader's included. */
      members: number;
      /** The adjustment sent to (or applied by) each member, the leader's included. */
      adjustments: Record<MemberId, number>;
      /** Members whose readings were left out of the average (too far from the median, round trip too long); they were still adjusted. */
      excluded: MemberId[];
      /** Members polled that gave no usable answer this round: not adjusted. */
      unanswered: MemberId[];
    }
  | {
      type: 'adjusted';
      /** What was applied to the clock (stepped, or set to slew). */
      deltaMs: number;
      /** What the leader asked for; deltaMs is a part of it when it is within the measurement's noise. */
      requestedMs: number;
      stepped: boolean;
      by: MemberId;
      round: number;
      term: number;
    }
  | { type: 'synced'; by: MemberId; term: number };

export interface BerkeleyClockOptions {
  id: MemberId;
  /** Every member of the cluster (this one may be listed too). */
  members: MemberId[];
  /** This member's synchronised clock. */
  clock: SlewingClock;
  /** The base clock, for round trips and round pacing (the SlewingClock's base). */
  monotonic: MonotonicClock;
  /** Time between the starts of two rounds. Default 1,000. */
  roundIntervalMs?: number;
  /** Polls per member per round; the lowest round trip wins. Default 4. */
  samplesPerRound?: number;
  /** Time between two polls of a round. Default 20. */
  sampleSpacingMs?: number;
  /** A round ends when every answer is in or this long after it began. Default 250. */
  roundTimeoutMs?: number;
  /** A reading with a longer round trip is left out of the average. Default 100. */
  maxRttMs?: number;
  /** A reading further than this from the median is left out of the average. Default 20. */
  maxDeviationMs?: number;
  /** A member that does not serve yet steps (rather than slews) an adjustment larger than this; it is synced once less than this remains to slew. Default 1. */
  stepThresholdMs?: number;
  /** false (--no-clock-sync): never polls, never answers, ignores adjustments. Default true. */
  enabled?: boolean;
  /** The part of a small adjustment (within the sample's round trip, so mostly noise) that is applied. Default 0.5. */
  phaseGain?: number;
  /** Estimate and cancel this member's drift from its history of adjustments. Default true. */
  frequencyCorrection?: boolean;
  /** How many past adjustments the frequency estimate looks at. Default 16. */
  frequencyWindow?: number;
  /** An adjustment larger than this breaks the history the frequency is fitted on (a re-sync, not noise). Default 20. */
  frequencyResetMs?: number;
}

export interface BerkeleyClockStatus {
  id: MemberId;
  enabled: boolean;
  leader: MemberId | null;
  term: number;
  synced: boolean;
  serving: boolean;
  /** Applied offset of the synchronised clock over the system (base) clock. */
  offsetMs: number;
  /** What remains to be slewed. */
  pendingMs: number;
  lastAdjustmentMs: number | null;
  /** Best estimate of this clock's distance from the ensemble: pending slew plus half the round trip of the sample it was measured with. */
  estimatedErrorMs: number | null;
  frequencyPpm: number;
  /** Rounds whose adjustment this member applied (as member or leader). */
  rounds: number;
  /** Rounds this member ran as leader. */
  roundsLed: number;
}

interface Round {
  round: number;
  term: number;
  startMs: number;
  deadlineMs: number;
  nextSampleAtMs: number;
  samplesSent: number;
  /** Members polled; one that goes down during the round is removed. */
  targets: Set<MemberId>;
  /** Sample indices answered, per member (usable or not), to end the round early. */
  answered: Map<MemberId, Set<number>>;
  best: Map<MemberId, BestSample>;
}

/** A member's lowest round-trip sample of a round, with what it said about itself. */
interface BestSample extends ClockSample {
  frequencyPpm: number;
  synced: boolean;
  /** The last adjustment the member had applied when it answered: the basis of its reading. */
  basisTerm: number;
  basisRound: number;
}

/** An adjustment this member applied, kept to compensate later adjustments measured before it. */
interface AppliedAdjustment {
  term: number;
  round: number;
  deltaMs: number;
}

const frequencyMinPoints = 3;
/** Applied adjustments remembered: a basis older than this many rounds is too old to compensate. */
const appliedLogMax = 16;
const deltaAbsMsMax = 1e12;

export class BerkeleyClock implements StateMachine<ClockMessage, ClockEvent> {
  private readonly id: MemberId;
  private readonly peers: MemberId[];
  private readonly clock: SlewingClock;
  private readonly monotonic: MonotonicClock;
  private readonly roundIntervalMs: number;
  private readonly samplesPerRound: number;
  private readonly sampleSpacingMs: number;
  private readonly roundTimeoutMs: number;
  private readonly maxRttMs: number;
  private readonly maxDeviationMs: number;
  private readonly stepThresholdMs: number;
  private readonly enabled: boolean;
  private readonly phaseGain: number;
  private readonly frequencyCorrection: boolean;
  private readonly frequencyWindow: number;
  private readonly frequencyResetMs: number;
  private readonly outbox = new Outbox<ClockMessage, ClockEvent>();

  private readonly reachable = new Set<MemberId>();
  private leader: MemberId | null = null;
  private term = 0;

  // Leader state.
  private roundCounter = 0;
  private roundsLed = 0;
  private current: Round | null = null;
  private nextRoundAtMs = -Infinity;

  // Member state (the leader is a member too).
  private appliedTerm = 0;
  private appliedRound = 0;
  /** The latest applied adjustments, oldest first; appliedTotal counts them all. */
  private readonly appliedLog: AppliedAdjustment[] = [];
  private appliedTotal = 0;
  private roundsApplied = 0;
  private lastAdjustmentMs: number | null = null;
  private lastRttMs: number | null = null;
  private synced = false;
  private readonly history: OffsetPoint[] = [];

  constructor(options: BerkeleyClockOptions) {
    this.id = options.id;
    this.peers = [...new Set(options.members)].filter((member) => member !== options.id).sort();
    this.clock = options.clock;
    this.monotonic = options.monotonic;
    this.roundIntervalMs = options.roundIntervalMs ?? 1_000;
    this.samplesPerRound = options.samplesPerRound ?? 4;
    this.sampleSpacingMs = options.sampleSpacingMs ?? 20;
    this.roundTimeoutMs = options.roundTimeoutMs ?? 250;
    this.maxRttMs = options.maxRttMs ?? 100;
    this.maxDeviationMs = options.maxDeviationMs ?? 20;
    this.stepThresholdMs = options.stepThresholdMs ?? 1;
    this.enabled = options.enabled ?? true;
    this.phaseGain = options.phaseGain ?? 0.5;
    this.frequencyCorrection = options.frequencyCorrection ?? true;
    this.frequencyWindow = options.frequencyWindow ?? 16;
    this.frequencyResetMs = options.frequencyResetMs ?? 20;
    if (!(this.roundIntervalMs > 0)) throw new RangeError('roundIntervalMs must be positive');
    if (!(Number.isInteger(this.samplesPerRound) && this.samplesPerRound >= 1 && this.samplesPerRound <= 64)) {
      throw new RangeError('samplesPerRound must be an integer in 1..64');
    }
    if (!(this.sampleSpacingMs >= 0)) throw new RangeError('sampleSpacingMs must be >= 0');
    if (!(this.roundTimeoutMs > (this.samplesPerRound - 1) * this.sampleSpacingMs && this.roundTimeoutMs <= this.roundIntervalMs)) {
      throw new RangeError('roundTimeoutMs must leave time for every sample and end before the next round');
    }
    if (!(this.maxRttMs > 0 && this.maxDeviationMs >= 0 && this.stepThresholdMs >= 0 && this.frequencyResetMs > 0)) {
      throw new RangeError('maxRttMs, maxDeviationMs, stepThresholdMs and frequencyResetMs must be positive');
    }
    if (!(this.phaseGain > 0 && this.phaseGain <= 1)) throw new RangeError('phaseGain must be in (0, 1]');
    if (!(Number.isInteger(this.frequencyWindow) && this.frequencyWindow >= frequencyMinPoints)) {
      throw new RangeError(`frequencyWindow must be an integer >= ${frequencyMinPoints}`);
    }
  }

  // ---- inputs --------------------------------------------------------------------

  /** Told by the shell when the election settles: only the leader runs rounds; adjustments are taken from it alone. */
  setLeader(leader: MemberId | null, term: number): void {
    if (!(Number.isInteger(term) && term >= 0)) throw new RangeError(`term must be a non-negative integer, got ${term}`);
    if (term < this.term) return;
    const wasLeading = this.isLeading();
    const changed = leader !== this.leader || term !== this.term;
    this.leader = leader;
    this.term = term;
    if (!changed) return;
    if (wasLeading || this.isLeading()) {
      // A new reign starts from scratch: no round in progress, the first one at the
      // next tick. The clocks themselves are left alone: the new leader measures
      // target times, so nothing from the old reign is counted twice.
      this.current = null;
      this.nextRoundAtMs = -Infinity;
    }
  }

  step(from: MemberId, message: ClockMessage): void {
    if (!this.enabled) return;
    switch (message.type) {
      case 'clock.poll':
        this.handlePoll(from, message);
        return;
      case 'clock.reading':
        this.handleReading(from, message);
        return;
      case 'clock.adjust':
        this.handleAdjust(from, message);
        return;
    }
  }

  tick(): void {
    if (!this.enabled) return;
    this.maybeSynced();
    if (!this.isLeading()) return;
    const nowMs = this.monotonic.nowMs();
    if (this.current === null) {
      if (nowMs >= this.nextRoundAtMs) this.beginRound(nowMs);
      return;
    }
    const round = this.current;
    if (round.samplesSent < this.samplesPerRound && nowMs >= round.nextSampleAtMs) this.sendPolls(round, nowMs);
    if (nowMs >= round.deadlineMs || this.roundComplete(round)) this.finishRound(round);
  }

  peerUp(peer: MemberId): void {
    if (this.peers.includes(peer)) this.reachable.add(peer);
  }

  peerDown(peer: MemberId): void {
    this.reachable.delete(peer);
    this.current?.targets.delete(peer);
  }

  drain(): Output<ClockMessage, ClockEvent> {
    return this.outbox.drain();
  }

  // ---- observation ---------------------------------------------------------------

  status(): BerkeleyClockStatus {
    const pendingMs = this.clock.pendingMs();
    return {
      id: this.id,
      enabled: this.enabled,
      leader: this.leader,
      term: this.term,
      synced: this.synced,
      serving: this.clock.isServing(),
      offsetMs: this.clock.offsetMs(),
      pendingMs,
      lastAdjustmentMs: this.lastAdjustmentMs,
      estimatedErrorMs: this.lastRttMs === null ? null : Math.abs(pendingMs) + this.lastRttMs / 2,
      frequencyPpm: this.clock.frequencyPpm(),
      rounds: this.roundsApplied,
      roundsLed: this.roundsLed,
    };
  }

  isSynced(): boolean {
    return this.synced;
  }

  // ---- member side ---------------------------------------------------------------

  private handlePoll(from: MemberId, poll: ClockPollMessage): void {
    const reading: ClockReadingMessage = {
      type: 'clock.reading',
      term: poll.term,
      round: poll.round,
      sample: poll.sample,
      sentMonotonicMs: poll.sentMonotonicMs,
      clockMs: this.clock.targetNowMs(),
      appliedTerm: this.appliedTerm,
      appliedRound: this.appliedRound,
      frequencyPpm: this.clock.frequencyPpm(),
      synced: this.synced,
    };
    this.outbox.send(from, reading);
  }

  private handleAdjust(from: MemberId, adjust: ClockAdjustMessage): void {
    // Only the current leader, in the current term, and each round once (the network
    // may duplicate): a stale leader's late adjustment would be counted twice.
    if (from !== this.leader || adjust.term !== this.term || this.isLeading()) return;
    if (adjust.term === this.appliedTerm && adjust.round <= this.appliedRound) return;
    const sinceBasisMs = this.appliedSince(adjust.basisTerm, adjust.basisRound);
    if (sinceBasisMs === null) return;
    this.applyAdjustment(adjust.deltaMs - sinceBasisMs, from, adjust.term, adjust.round, adjust.rttMs, adjust.ensembleFrequencyPpm);
  }

  /**
   * The sum of the adjustments applied after the one named (the basis of the reading
   * the leader measured): an adjustment that was still on its way when the leader
   * polled, and arrived since, must not be counted twice. Null when the basis is too
   * old to know (or was never applied here): the adjustment is dropped, the next
   * round measures afresh.
   */
  private appliedSince(basisTerm: number, basisRound: number): number | null {
    if (basisTerm === this.appliedTerm && basisRound === this.appliedRound) return 0;
    let index = this.appliedLog.length - 1;
    let sumMs = 0;
    for (; index >= 0; index--) {
      const applied = this.appliedLog[index]!;
      if (applied.term === basisTerm && applied.round === basisRound) return sumMs;
      sumMs += applied.deltaMs;
    }
    // Nothing applied at the basis (term 0, round 0): everything applied counts, if all is remembered.
    if (basisTerm === 0 && basisRound === 0 && this.appliedTotal === this.appliedLog.length) return sumMs;
    return null;
  }

  private applyAdjustment(requestedMs: number, by: MemberId, term: number, round: number, rttMs: number, ensembleFrequencyPpm: number): void {
    const needOffsetMs = this.clock.targetOffsetMs() + requestedMs;
    const stepped = !this.clock.isServing() && Math.abs(requestedMs) > this.stepThresholdMs;
    // An adjustment within the measurement's own error (at most rttMs / 2 each way) is
    // mostly noise: take a part of it, and let the next rounds average the noise out.
    // Beyond that it is a real error: take it whole.
    const deltaMs = stepped || Math.abs(requestedMs) > rttMs ? requestedMs : requestedMs * this.phaseGain;
    if (stepped) this.clock.step(deltaMs);
    else this.clock.adjust(deltaMs);
    this.appliedTerm = term;
    this.appliedRound = round;
    this.appliedLog.push({ term, round, deltaMs });
    if (this.appliedLog.length > appliedLogMax) this.appliedLog.shift();
    this.appliedTotal += 1;
    this.roundsApplied += 1;
    this.lastAdjustmentMs = deltaMs;
    this.lastRttMs = rttMs;
    this.outbox.emit({ type: 'adjusted', deltaMs, requestedMs, stepped, by, round, term });
    this.learnFrequency(requestedMs, needOffsetMs, ensembleFrequencyPpm);
    this.maybeSynced();
  }

  /**
   * Each adjustment measures the offset this member needed (its target offset plus
   * the requested adjustment: the ensemble's clock minus this base clock, up to the
   * measurement noise); the slope of those points over base time is the rate this
   * member must add (see estimateFrequencyPpm).
   */
  private learnFrequency(requestedMs: number, needOffsetMs: number, ensembleFrequencyPpm: number): void {
    if (!this.frequencyCorrection) return;
    if (Math.abs(requestedMs) > this.frequencyResetMs) this.history.length = 0;
    this.history.push({ baseMs: this.monotonic.nowMs(), offsetMs: needOffsetMs });
    if (this.history.length > this.frequencyWindow) this.history.shift();
    if (this.history.length < frequencyMinPoints) return;
    const frequencyPpm = estimateFrequencyPpm(this.history, {
      ensembleFrequencyPpm,
      frequencyPpmMax: this.clock.frequencyPpmMax,
    });
    if (frequencyPpm !== null) this.clock.setFrequencyPpm(frequencyPpm);
  }

  private maybeSynced(): void {
    if (this.synced || this.roundsApplied === 0) return;
    if (Math.abs(this.clock.pendingMs()) > this.stepThresholdMs) return;
    this.synced = true;
    this.outbox.emit({ type: 'synced', by: this.id, term: this.appliedTerm });
  }

  // ---- leader side ---------------------------------------------------------------

  private isLeading(): boolean {
    return this.leader === this.id;
  }

  private beginRound(nowMs: number): void {
    this.roundCounter += 1;
    this.roundsLed += 1;
    const round: Round = {
      round: this.roundCounter,
      term: this.term,
      startMs: nowMs,
      deadlineMs: nowMs + this.roundTimeoutMs,
      nextSampleAtMs: nowMs,
      samplesSent: 0,
      targets: new Set(this.peers.filter((peer) => this.reachable.has(peer))),
      answered: new Map(),
      best: new Map(),
    };
    this.current = round;
    this.nextRoundAtMs = nowMs + this.roundIntervalMs;
    this.sendPolls(round, nowMs);
    if (round.targets.size === 0) this.finishRound(round);
  }

  private sendPolls(round: Round, nowMs: number): void {
    const poll: ClockPollMessage = {
      type: 'clock.poll',
      term: round.term,
      round: round.round,
      sample: round.samplesSent,
      sentMonotonicMs: nowMs,
    };
    for (const target of round.targets) this.outbox.send(target, poll);
    round.samplesSent += 1;
    round.nextSampleAtMs = nowMs + this.sampleSpacingMs;
  }

  private handleReading(from: MemberId, reading: ClockReadingMessage): void {
    const round = this.current;
    if (round === null || !this.isLeading()) return;
    if (reading.term !== round.term || reading.round !== round.round || !round.targets.has(from)) return;
    if (reading.sample >= round.samplesSent) return;
    const receivedMonotonicMs = this.monotonic.nowMs();
    // The echoed send time must fall inside this round: anything else is not our poll.
    if (reading.sentMonotonicMs < round.startMs || reading.sentMonotonicMs > receivedMonotonicMs) return;
    let answered = round.answered.get(from);
    if (answered === undefined) round.answered.set(from, (answered = new Set()));
    answered.add(reading.sample);
    const sample = estimateOffset({
      sentMonotonicMs: reading.sentMonotonicMs,
      memberClockMs: reading.clockMs,
      receivedMonotonicMs,
      leaderClockMs: this.clock.targetNowMs(),
    });
    if (sample === null) return;
    round.best.set(from, betterSample(round.best.get(from), {
      ...sample,
      frequencyPpm: reading.frequencyPpm,
      synced: reading.synced,
      basisTerm: reading.appliedTerm,
      basisRound: reading.appliedRound,
    }));
  }

  private roundComplete(round: Round): boolean {
    if (round.samplesSent < this.samplesPerRound) return false;
    for (const target of round.targets) {
      if ((round.answered.get(target)?.size ?? 0) < this.samplesPerRound) return false;
    }
    return true;
  }

  private finishRound(round: Round): void {
    this.current = null;
    const readings: Array<MemberReading & BestSample> = [
      {
        member: this.id,
        offsetMs: 0,
        rttMs: 0,
        frequencyPpm: this.clock.frequencyPpm(),
        synced: this.synced,
        basisTerm: this.appliedTerm,
        basisRound: this.appliedRound,
      },
    ];
    const unanswered: MemberId[] = [];
    for (const target of [...round.targets].sort()) {
      const best = round.best.get(target);
      if (best === undefined) unanswered.push(target);
      else readings.push({ member: target, ...best });
    }
    const average = faultTolerantAverage(readings, { maxDeviationMs: this.maxDeviationMs, maxRttMs: this.maxRttMs });
    if (average === null) throw new Error('the leader\'s own reading is always usable');
    const includedSet = new Set(average.included);
    const inAverage = readings.filter((reading) => includedSet.has(reading.member));
    const frequencySource = inAverage.length > 0 ? inAverage : readings.filter((reading) => reading.rttMs <= this.maxRttMs);
    const ensembleFrequencyPpm = frequencySource.reduce((sum, reading) => sum + reading.frequencyPpm, 0) / frequencySource.length;
    const meanHalfRttMs = frequencySource.reduce((sum, reading) => sum + reading.rttMs / 2, 0) / frequencySource.length;

    const adjustments: Record<MemberId, number> = {};
    for (const reading of readings) {
      const deltaMs = Math.max(-deltaAbsMsMax, Math.min(deltaAbsMsMax, average.averageMs - reading.offsetMs));
      adjustments[reading.member] = deltaMs;
      if (reading.member === this.id) continue;
      this.outbox.send(reading.member, {
        type: 'clock.adjust',
        term: round.term,
        round: round.round,
        deltaMs,
        rttMs: reading.rttMs,
        ensembleFrequencyPpm,
        basisTerm: reading.basisTerm,
        basisRound: reading.basisRound,
      });
    }
    this.outbox.emit({
      type: 'round',
      round: round.round,
      term: round.term,
      members: readings.length,
      adjustments,
      excluded: average.excluded,
      unanswered,
    });
    this.applyAdjustment(adjustments[this.id]!, this.id, round.term, round.round, meanHalfRttMs * 2, ensembleFrequencyPpm);
  }
}

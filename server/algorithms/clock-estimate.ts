import type { MemberId } from './machine.js';

// The arithmetic of Berkeley clock synchronisation, as small pure functions:
// - one round trip gives an estimate of a member's clock relative to the leader's,
//   compensated with half the round trip (tigerbeetle's `learn(peer, m0, t1, m2)`);
// - of several samples, the one with the lowest round trip is kept, because its
//   error, at most half the round trip, is the smallest;
// - the reference of a round is a fault-tolerant average: readings with too long a
//   round trip or too far from the median are left out;
// - a member's frequency error is the slope of the offsets it needed over time.

/** One poll and its answer, as seen by the leader. */
export interface RoundTrip {
  /** Leader's monotonic clock when it sent the poll (m0). */
  sentMonotonicMs: number;
  /** The member's synchronised clock when it answered (t1). */
  memberClockMs: number;
  /** Leader's monotonic clock when the answer arrived (m2). */
  receivedMonotonicMs: number;
  /** Leader's own synchronised clock when the answer arrived, read at m2. */
  leaderClockMs: number;
}

/** What one round trip says about a member. */
export interface ClockSample {
  /** The member's clock minus the leader's clock. Its error is at most rttMs / 2. */
  offsetMs: number;
  rttMs: number;
}

/**
 * Estimates the member's offset from one round trip: the member read its clock at
 * some instant between m0 and m2; assuming the midpoint, its clock then was t1 while
 * the leader's was leaderClockMs - rtt / 2. Returns null for a round trip that cannot
 * be real (a negative round trip, or a number that is not finite).
 */
export function estimateOffset(roundTrip: RoundTrip): ClockSample | null {
  const { sentMonotonicMs, memberClockMs, receivedMonotonicMs, leaderClockMs } = roundTrip;
  if (![sentMonotonicMs, memberClockMs, receivedMonotonicMs, leaderClockMs].every(Number.isFinite)) return null;
  const rttMs = receivedMonotonicMs - sentMonotonicMs;
  if (rttMs < 0) return null;
  return { offsetMs: memberClockMs + rttMs / 2 - leaderClockMs, rttMs };
}

/** Of two samples, the one with the lower round trip; on a tie the one already kept. */
export function betterSample<S extends ClockSample>(kept: S | undefined, candidate: S): S {
  if (kept === undefined) return candidate;
  return candidate.rttMs < kept.rttMs ? candidate : kept;
}

/** The median of a non-empty list; for an even count, the mean of the two middle values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One member's best estimate in a round; the leader's own reading is { offsetMs: 0, rttMs: 0 }. */
export interface MemberReading {
  member: MemberId;
  offsetMs: number;
  rttMs: number;
  /** false for a member never synchronised since it started: its clock may be anything. Default true. */
  synced?: boolean;
}

export interface AverageOptions {
  /** A reading further than this from the median is left out of the average. */
  maxDeviationMs: number;
  /** A reading whose round trip is longer than this is left out (its error may reach rttMs / 2). */
  maxRttMs: number;
}

export interface FaultTolerantAverage {
  /** The reference clock of the round, as an offset from the leader's clock. */
  averageMs: number;
  /** The median of the readings that could be averaged (round trip short enough, synchronised if any is). */
  medianMs: number;
  /** Members whose readings made the average, sorted. */
  included: MemberId[];
  /** Members whose readings were left out, sorted. */
  excluded: MemberId[];
}

/**
 * The fault-tolerant average of a round: readings with a round trip over maxRttMs are
 * left out, and so are those of members not yet synchronised when any synchronised
 * reading is left (a process that just started, seconds off, is brought to the others
 * rather than moving them halfway: they can only slew, it can step). Of the others,
 * those within maxDeviationMs of their median are averaged. When none is that close
 * (clocks still seconds apart at start-up, or an even count split in two), the median
 * itself is the reference: one far clock cannot drag the others, and everyone still
 * converges. Returns null when no reading is usable.
 */
export function faultTolerantAverage(readings: readonly MemberReading[], options: AverageOptions): FaultTolerantAverage | null {
  const sorted = [...readings].sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  const timely = sorted.filter((reading) => Number.isFinite(reading.offsetMs) && reading.rttMs <= options.maxRttMs);
  const timelySynced = timely.filter((reading) => reading.synced !== false);
  const candidates = timelySynced.length > 0 ? timelySynced : timely;
  if (candidates.length === 0) return null;
  const medianMs = median(candidates.map((reading) => reading.offsetMs));
  const close = candidates.filter((reading) => Math.abs(reading.offsetMs - medianMs) <= options.maxDeviationMs);
  const averageMs = close.length === 0 ? medianMs : close.reduce((sum, reading) => sum + reading.offsetMs, 0) / close.length;
  const includedSet = new Set(close.map((reading) => reading.member));
  return {
    averageMs,
    medianMs,
    included: close.map((reading) => reading.member),
    excluded: sorted.filter((reading) => !includedSet.has(reading.member)).map((reading) => reading.member),
  };
}

/** A point of a member's history: its base clock and the total offset it needed then. */
export interface OffsetPoint {
  baseMs: number;
  offsetMs: number;
}

export interface LineFit {
  /** Dimensionless: ms of offset per ms of base time. */
  slope: number;
  /** The standard error of the slope, from the residuals; needs at least three points. */
  slopeStandardError: number;
}

/** Ordinary least squares of offset over base time. Null with fewer than three points or no spread in time. */
export function fitLine(points: readonly OffsetPoint[]): LineFit | null {
  const count = points.length;
  if (count < 3) return null;
  // Centre on the first point: base times are ~1.7e12 ms in a process, and squares of
  // those would lose every digit that matters here.
  const originMs = points[0]!.baseMs;
  const originOffsetMs = points[0]!.offsetMs;
  let meanX = 0;
  let meanY = 0;
  for (const point of points) {
    meanX += point.baseMs - originMs;
    meanY += point.offsetMs - originOffsetMs;
  }
  meanX /= count;
  meanY /= count;
  let sxx = 0;
  let sxy = 0;
  for (const point of points) {
    const dx = point.baseMs - originMs - meanX;
    sxx += dx * dx;
    sxy += dx * (point.offsetMs - originOffsetMs - meanY);
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  let residualSquares = 0;
  for (const point of points) {
    const residual = point.offsetMs - originOffsetMs - meanY - slope * (point.baseMs - originMs - meanX);
    residualSquares += residual * residual;
  }
  return { slope, slopeStandardError: Math.sqrt(residualSquares / (count - 2) / sxx) };
}

export interface FrequencyOptions {
  /** Mean frequency correction of the members in the last round's average: the anchor (see below). */
  ensembleFrequencyPpm: number;
  frequencyPpmMax: number;
}

/**
 * The frequency correction a member should apply, from the history of the total
 * offsets it needed right after each adjustment (each point is the ensemble's clock
 * minus the member's base clock, up to the measurement noise).
 *
 * The slope of that history is the ensemble's rate minus the member's raw rate. The
 * ensemble's rate is the members' mean raw rate plus their mean correction, so
 * subtracting the mean correction (reported by the leader) aims every member at the
 * mean raw rate: without that anchor the ensemble's rate would be free to wander with
 * the noise of the estimates. The estimate is shrunk towards zero by its own noise
 * (d^2 / (d^2 + se^2)), so that over a jittery network, where the slope is mostly
 * noise, the member corrects little and behaves like plain Berkeley rounds.
 * Returns null when the history is too short to say.
 */
export function estimateFrequencyPpm(points: readonly OffsetPoint[], options: FrequencyOptions): number | null {
  const fit = fitLine(points);
  if (fit === null) return null;
  const wantedPpm = fit.slope * 1e6 - options.ensembleFrequencyPpm;
  const noisePpm = fit.slopeStandardError * 1e6;
  const denominator = wantedPpm * wantedPpm + noisePpm * noisePpm;
  const shrunkPpm = denominator === 0 ? 0 : (wantedPpm * wantedPpm * wantedPpm) / denominator;
  return Math.max(-options.frequencyPpmMax, Math.min(options.frequencyPpmMax, shrunkPpm));
}

import type { MonotonicClock } from './machine.js';

// A process's synchronised clock: its base ("system") clock plus an offset. The base
// clock is never changed. Corrections move a target offset; the applied offset
// follows it at a bounded rate (slewing), so the synchronised clock never goes
// backwards and never jumps forward. A frequency correction, set by the Berkeley
// machine from the history of its adjustments, moves both offsets at a constant rate
// to cancel the base clock's drift between rounds.
//
// Everything is computed lazily from the base clock at each read; with no adjustment
// in between, two reads or one give the same result, so how often the clock is read
// does not change what it says.

export interface SlewingClockOptions {
  /** The base clock: never goes backwards (a process's performance.timeOrigin + performance.now(), with any injected error). */
  base: MonotonicClock;
  /** The fastest the applied offset moves towards the target, in ppm of elapsed base time. Default 5,000 (5 ms per second). */
  slewRatePpmMax?: number;
  /** The largest frequency correction, in ppm. Default 500 (room for drifts of ±200 ppm and then some). */
  frequencyPpmMax?: number;
}

export class SlewingClockError extends Error {
  readonly code: 'CLOCK_STEP_WHILE_SERVING' | 'CLOCK_BASE_BACKWARDS' | 'CLOCK_INVALID_ARGUMENT';
  constructor(code: SlewingClockError['code'], message: string) {
    super(message);
    this.name = 'SlewingClockError';
    this.code = code;
  }
}

export class SlewingClock implements MonotonicClock {
  readonly slewRatePpmMax: number;
  readonly frequencyPpmMax: number;
  private readonly base: MonotonicClock;
  private lastBaseMs: number;
  private appliedOffsetMs = 0;
  private wantedOffsetMs = 0;
  private frequencyCorrectionPpm = 0;
  private serving = false;
  /** The last value nowMs() returned; a read never returns less (see nowMs). */
  private lastNowMs = -Infinity;

  constructor(options: SlewingClockOptions) {
    this.base = options.base;
    this.slewRatePpmMax = options.slewRatePpmMax ?? 5_000;
    this.frequencyPpmMax = options.frequencyPpmMax ?? 500;
    if (!(this.slewRatePpmMax > 0 && this.frequencyPpmMax >= 0)) {
      throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', 'slewRatePpmMax must be > 0 and frequencyPpmMax >= 0');
    }
    // The clock runs at least at (1 - slew - frequency) of the base rate: keep that
    // well above zero, so that it can never stand still or run backwards.
    if (this.slewRatePpmMax + this.frequencyPpmMax > 100_000) {
      throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', 'slewRatePpmMax + frequencyPpmMax must be at most 100,000 ppm');
    }
    this.lastBaseMs = this.readBase();
  }

  /** The synchronised time: base + applied offset. Never less than a previous read, except across a step(). */
  nowMs(): number {
    const baseMs = this.advance();
    let nowMs = baseMs + this.appliedOffsetMs;
    // The arithmetic above cannot go backwards (the rate is at least 90% of the base's),
    // but floating point sums of ~1e12 ms are rounded to ~0.2 µs; never let a rounding
    // show as time running backwards.
    if (nowMs < this.lastNowMs) nowMs = this.lastNowMs;
    this.lastNowMs = nowMs;
    return nowMs;
  }

  /** The time as if every pending slew were done: what a poll should report, so that a round does not count a slew in progress twice. */
  targetNowMs(): number {
    return this.advance() + this.wantedOffsetMs;
  }

  /** The applied offset over the base clock. */
  offsetMs(): number {
    this.advance();
    return this.appliedOffsetMs;
  }

  /** The offset the clock is slewing towards. */
  targetOffsetMs(): number {
    this.advance();
    return this.wantedOffsetMs;
  }

  /** What remains to be slewed: target minus applied. */
  pendingMs(): number {
    this.advance();
    return this.wantedOffsetMs - this.appliedOffsetMs;
  }

  frequencyPpm(): number {
    return this.frequencyCorrectionPpm;
  }

  isServing(): boolean {
    return this.serving;
  }

  /** Moves the target by deltaMs; the clock slews there at no more than slewRatePpmMax. */
  adjust(deltaMs: number): void {
    if (!Number.isFinite(deltaMs)) throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', `adjust needs a finite delta, got ${deltaMs}`);
    this.advance();
    this.wantedOffsetMs += deltaMs;
  }

  /**
   * Moves the target by deltaMs and applies the whole target at once (so the pending
   * slew is done too). The clock may jump either way, so this is only allowed before
   * the process serves anyone: after markServing() it throws.
   */
  step(deltaMs: number): void {
    if (this.serving) {
      throw new SlewingClockError('CLOCK_STEP_WHILE_SERVING', 'a clock may be stepped only before the process serves anyone; slew it with adjust()');
    }
    if (!Number.isFinite(deltaMs)) throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', `step needs a finite delta, got ${deltaMs}`);
    this.advance();
    this.wantedOffsetMs += deltaMs;
    this.appliedOffsetMs = this.wantedOffsetMs;
    this.lastNowMs = -Infinity;
  }

  /** From now on the clock never goes backwards or jumps: step() throws. */
  markServing(): void {
    this.serving = true;
  }

  /** Sets the rate correction (both offsets move by ppm * elapsed base time); clamped to ±frequencyPpmMax. */
  setFrequencyPpm(ppm: number): void {
    if (!Number.isFinite(ppm)) throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', `frequency must be finite, got ${ppm}`);
    this.advance();
    this.frequencyCorrectionPpm = Math.max(-this.frequencyPpmMax, Math.min(this.frequencyPpmMax, ppm));
  }

  private readBase(): number {
    const baseMs = this.base.nowMs();
    if (!Number.isFinite(baseMs)) throw new SlewingClockError('CLOCK_INVALID_ARGUMENT', `base clock returned ${baseMs}`);
    return baseMs;
  }

  /** Brings both offsets up to the base clock's now; returns that now. */
  private advance(): number {
    const baseMs = this.readBase();
    const elapsedMs = baseMs - this.lastBaseMs;
    if (elapsedMs < 0) {
      throw new SlewingClockError('CLOCK_BASE_BACKWARDS', `base clock went backwards by ${-elapsedMs} ms`);
    }
    if (elapsedMs === 0) return baseMs;
    const driftMs = (elapsedMs * this.frequencyCorrectionPpm) / 1e6;
    this.appliedOffsetMs += driftMs;
    this.wantedOffsetMs += driftMs;
    const remainingMs = this.wantedOffsetMs - this.appliedOffsetMs;
    const slewMaxMs = (elapsedMs * this.slewRatePpmMax) / 1e6;
    if (Math.abs(remainingMs) <= slewMaxMs) this.appliedOffsetMs = this.wantedOffsetMs;
    else this.appliedOffsetMs += remainingMs > 0 ? slewMaxMs : -slewMaxMs;
    this.lastBaseMs = baseMs;
    return baseMs;
  }
}

// A token bucket per connection: `ratePerS` tokens a second, at most `burst` saved
// up. Pure: the caller passes the time, so that tests need no timers.

export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    if (!(ratePerS > 0) || !(burst >= 1)) throw new RangeError('TokenBucket needs ratePerS > 0 and burst >= 1');
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  /** Takes one token if there is one. */
  take(nowMs: number): boolean {
    // A clock that went backwards credits nothing, and the time is not counted twice later.
    const elapsedMs = Math.max(0, nowMs - this.lastMs);
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerS) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

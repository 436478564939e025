// Token buckets: `ratePerS` tokens a second, at most `burst` saved up. Pure: the caller
// passes the time, so that tests need no timers.
//
// A node holds one bucket per WebSocket, tens of thousands of them: the rule
// (TokenBucketRule) is shared and each connection carries only its two numbers
// (BucketState), on the object it already has.

export interface BucketState {
  tokens: number;
  /** The latest time the bucket was filled up to. */
  tokensAtMs: number;
}

export class TokenBucketRule {
  constructor(
    readonly ratePerS: number,
    readonly burst: number,
  ) {
    if (!(ratePerS > 0) || !(burst >= 1)) throw new RangeError('a token bucket needs ratePerS > 0 and burst >= 1');
  }

  /** A full bucket. */
  start(state: BucketState, nowMs: number): void {
    state.tokens = this.burst;
    state.tokensAtMs = nowMs;
  }

  /** Takes one token from the state if there is one. */
  take(state: BucketState, nowMs: number): boolean {
    // A clock that went backwards credits nothing, and the time is not counted twice later.
    const elapsedMs = Math.max(0, nowMs - state.tokensAtMs);
    state.tokensAtMs = Math.max(state.tokensAtMs, nowMs);
    state.tokens = Math.min(this.burst, state.tokens + (elapsedMs * this.ratePerS) / 1000);
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucketRule, type BucketState } from '../../server/node/rate-limiter.js';

/** A full bucket under a rule, as a node keeps one on each socket. */
class TokenBucket {
  private readonly rule: TokenBucketRule;
  private readonly state: BucketState = { tokens: 0, tokensAtMs: 0 };
  constructor(ratePerS: number, burst: number, nowMs: number) {
    this.rule = new TokenBucketRule(ratePerS, burst);
    this.rule.start(this.state, nowMs);
  }
  take(nowMs: number): boolean {
    return this.rule.take(this.state, nowMs);
  }
}

/** Takes at each given time and returns which takes succeeded. */
function takes(bucket: TokenBucket, timesMs: number[]): boolean[] {
  return timesMs.map((nowMs) => bucket.take(nowMs));
}

describe('TokenBucket', () => {
  test('refuses a rate that is not positive or a burst below 1', () => {
    // Checks a table of bad and good constructor arguments.
    const bad: Array<[ratePerS: number, burst: number]> = [
      [0, 10],
      [-1, 10],
      [Number.NaN, 10],
      [10, 0],
      [10, 0.5],
      [10, Number.NaN],
    ];
    for (const [ratePerS, burst] of bad) assert.throws(() => new TokenBucket(ratePerS, burst, 0), RangeError, `${ratePerS}/${burst}`);
    assert.doesNotThrow(() => new TokenBucket(0.001, 1, 0));
  });

  test('starts full: a burst of `burst` takes at one instant succeed, the next fails', () => {
    // Checks burst 5 at a frozen time.
    const bucket = new TokenBucket(10, 5, 1000);
    assert.deepEqual(takes(bucket, [1000, 1000, 1000, 1000, 1000, 1000, 1000]), [true, true, true, true, true, false, false]);
  });

  test('refills at ratePerS tokens a second, in fractions', () => {
    // Checks an empty bucket at 10 per second: 99 ms is not enough for a token, 100 ms is.
    const bucket = new TokenBucket(10, 1, 0);
    assert.equal(bucket.take(0), true);
    assert.equal(bucket.take(99), false);
    // The 99 ms already waited count: 1 ms more completes the token.
    assert.equal(bucket.take(100), true);
    assert.equal(bucket.take(150), false);
    assert.equal(bucket.take(200), true);
  });

  test('a steady sender at the rate is never refused; one at twice the rate gets about half through', () => {
    // Checks 1000 takes at 20/s against a 20/s bucket with burst 1, then 1000 takes at 40/s.
    const steady = new TokenBucket(20, 1, 0);
    const steadyResults = takes(steady, Array.from({ length: 1000 }, (_, i) => i * 50));
    assert.equal(steadyResults.filter(Boolean).length, 1000);
    const fast = new TokenBucket(20, 1, 0);
    const fastResults = takes(fast, Array.from({ length: 1000 }, (_, i) => i * 25));
    assert.equal(fastResults.filter(Boolean).length, 500);
  });

  test('saves up at most `burst` tokens however long it idles', () => {
    // Checks that after an hour's idle, a burst of 3 is all that is allowed.
    const bucket = new TokenBucket(1, 3, 0);
    takes(bucket, [0, 0, 0]);
    assert.deepEqual(takes(bucket, [3_600_000, 3_600_000, 3_600_000, 3_600_000]), [true, true, true, false]);
  });

  test('a clock that goes backwards adds no tokens', () => {
    // Checks that an earlier time than the last one counts as zero elapsed.
    const bucket = new TokenBucket(10, 1, 1000);
    assert.equal(bucket.take(1000), true);
    assert.equal(bucket.take(500), false);
    assert.equal(bucket.take(0), false);
  });

  test('going back in time and forward again does not credit the same interval twice', {
  }, () => {
    // Checks that 1000 → 500 → 1000 earns nothing: the bucket was already at 1000 once.
    const bucket = new TokenBucket(10, 1, 1000);
    assert.equal(bucket.take(1000), true);
    assert.equal(bucket.take(500), false);
    assert.equal(bucket.take(1000), false);
  });
});

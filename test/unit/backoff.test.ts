import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, defaultBackoffPolicy, makeBackoffPolicy } from '../../server/mesh/backoff.js';
import { seededRandom } from '../../server/algorithms/random.js';

const fixed = (value: number) => (): number => value;

test('without jitter, delays double from initialMs and stop at maxMs', () => {
  // Checks the exponential growth and the cap, with jitter 0 so that every delay is exact.
  const policy = makeBackoffPolicy({ initialMs: 50, maxMs: 2000, jitter: 0 });
  const table: Array<[attempt: number, delayMs: number]> = [
    [0, 50], [1, 100], [2, 200], [3, 400], [4, 800], [5, 1600], [6, 2000], [7, 2000], [60, 2000], [5000, 2000],
  ];
  for (const [attempt, delayMs] of table) {
    assert.equal(backoffDelayMs(attempt, policy, fixed(0.7)), delayMs, `attempt ${attempt}`);
  }
});

test('jitter takes a fraction of the delay away, as the injected random source says', () => {
  // Checks the jitter formula at the ends and the middle of the random range.
  const policy = makeBackoffPolicy({ initialMs: 100, maxMs: 1000, jitter: 0.5 });
  assert.equal(backoffDelayMs(0, policy, fixed(0)), 100);
  assert.equal(backoffDelayMs(0, policy, fixed(0.5)), 75);
  assert.equal(backoffDelayMs(3, policy, fixed(0.5)), 600);
  assert.equal(backoffDelayMs(10, policy, fixed(0.5)), 750);
  const full = makeBackoffPolicy({ initialMs: 100, maxMs: 1000, jitter: 1 });
  assert.equal(backoffDelayMs(2, full, fixed(0.25)), 300);
});

test('over many seeded draws, every delay stays within [base * (1 - jitter), base] and never above maxMs', () => {
  // Checks the bounds for 10,000 draws from a seeded source; prints the seed on failure.
  const seed = 20240726;
  const random = seededRandom(seed);
  const policy = defaultBackoffPolicy;
  for (let i = 0; i < 10_000; i++) {
    const attempt = random.int(20);
    const delayMs = backoffDelayMs(attempt, policy, () => random.next());
    const baseMs = Math.min(policy.maxMs, policy.initialMs * 2 ** attempt);
    assert.ok(delayMs <= baseMs && delayMs >= baseMs * (1 - policy.jitter), `seed ${seed}, draw ${i}: ${delayMs} for attempt ${attempt}`);
    assert.ok(delayMs <= policy.maxMs, `seed ${seed}, draw ${i}`);
  }
});

test('jittered delays spread out: peers of a restarted process do not retry in step', () => {
  // Checks that with the default jitter, 100 seeded draws for the same attempt are not all alike.
  const random = seededRandom(7);
  const delays = new Set<number>();
  for (let i = 0; i < 100; i++) delays.add(Math.round(backoffDelayMs(4, defaultBackoffPolicy, () => random.next())));
  assert.ok(delays.size > 50, `only ${delays.size} distinct delays`);
});

test('a bad policy, attempt or random draw fails loudly', () => {
  // Checks the assertions: a silent NaN delay would make a link retry in a tight loop or never.
  assert.throws(() => makeBackoffPolicy({ initialMs: 0 }), RangeError);
  assert.throws(() => makeBackoffPolicy({ initialMs: 100, maxMs: 50 }), RangeError);
  assert.throws(() => makeBackoffPolicy({ jitter: 1.5 }), RangeError);
  assert.throws(() => makeBackoffPolicy({ jitter: Number.NaN }), RangeError);
  assert.throws(() => backoffDelayMs(-1, defaultBackoffPolicy, fixed(0)), RangeError);
  assert.throws(() => backoffDelayMs(1.5, defaultBackoffPolicy, fixed(0)), RangeError);
  assert.throws(() => backoffDelayMs(0, defaultBackoffPolicy, fixed(1)), RangeError);
  assert.deepEqual(makeBackoffPolicy(), { initialMs: 50, maxMs: 2000, jitter: 0.5 });
});

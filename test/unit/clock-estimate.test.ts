// Table tests for the pure arithmetic of Berkeley rounds: the round-trip estimate, the
// choice of the lowest round trip, the fault-tolerant average, and the line fit and
// frequency estimate. Each case states its inputs and the exact expected output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  betterSample,
  estimateFrequencyPpm,
  estimateOffset,
  faultTolerantAverage,
  fitLine,
  median,
  type MemberReading,
} from '../../server/algorithms/clock-estimate.js';

test('estimateOffset compensates the reading with half the round trip', () => {
  const cases = [
    // The member read 1,000 while the leader, 10 ms of round trip later, read 995:
    // at the midpoint the leader read 990, so the member is 10 ms ahead.
    { m0: 100, t1: 1_000, m2: 110, leader: 995, offset: 10, rtt: 10 },
    { m0: 100, t1: 1_000, m2: 100, leader: 1_000, offset: 0, rtt: 0 },
    { m0: 0, t1: -5_000, m2: 4, leader: 2, offset: -5_000, rtt: 4 },
    { m0: 1.7e12, t1: 1.7e12 + 3_000, m2: 1.7e12 + 0.5, leader: 1.7e12 + 1, offset: 2_999.25, rtt: 0.5 },
  ];
  for (const c of cases) {
    const sample = estimateOffset({ sentMonotonicMs: c.m0, memberClockMs: c.t1, receivedMonotonicMs: c.m2, leaderClockMs: c.leader });
    assert.ok(sample !== null);
    assert.equal(sample.rttMs, c.rtt, JSON.stringify(c));
    assert.ok(Math.abs(sample.offsetMs - c.offset) < 1e-6, `${JSON.stringify(c)} gave ${sample.offsetMs}`);
  }
});

test('estimateOffset refuses round trips that cannot be real', () => {
  assert.equal(estimateOffset({ sentMonotonicMs: 10, memberClockMs: 0, receivedMonotonicMs: 9, leaderClockMs: 0 }), null);
  assert.equal(estimateOffset({ sentMonotonicMs: 0, memberClockMs: Number.NaN, receivedMonotonicMs: 1, leaderClockMs: 0 }), null);
  assert.equal(estimateOffset({ sentMonotonicMs: 0, memberClockMs: 0, receivedMonotonicMs: Infinity, leaderClockMs: 0 }), null);
});

test('betterSample keeps the lowest round trip, the first on a tie', () => {
  const a = { offsetMs: 1, rttMs: 5 };
  const b = { offsetMs: 2, rttMs: 3 };
  const c = { offsetMs: 3, rttMs: 3 };
  assert.equal(betterSample(undefined, a), a);
  assert.equal(betterSample(a, b), b);
  assert.equal(betterSample(b, a), b);
  assert.equal(betterSample(b, c), b);
});

test('median of odd and even counts', () => {
  assert.equal(median([3]), 3);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

test('faultTolerantAverage leaves out far readings and long round trips', () => {
  const options = { maxDeviationMs: 20, maxRttMs: 50 };
  const r = (member: string, offsetMs: number, rttMs = 1): MemberReading => ({ member, offsetMs, rttMs });
  const cases: Array<{ name: string; readings: MemberReading[]; average: number; included: string[]; excluded: string[] }> = [
    { name: 'all close', readings: [r('a', 0, 0), r('b', 10), r('c', -4), r('d', 6)], average: 3, included: ['a', 'b', 'c', 'd'], excluded: [] },
    {
      name: 'one clock 5 s ahead (a restarted member) is left out but does not move the others',
      readings: [r('a', 0, 0), r('b', 2), r('c', -2), r('d', 5_000)],
      average: 0,
      included: ['a', 'b', 'c'],
      excluded: ['d'],
    },
    {
      name: 'a long round trip is left out even when close',
      readings: [r('a', 0, 0), r('b', 4, 80), r('c', 2)],
      average: 1,
      included: ['a', 'c'],
      excluded: ['b'],
    },
    {
      name: 'start-up: every clock seconds apart, the median is the reference',
      readings: [r('a', 0, 0), r('b', -4_000), r('c', 1_000), r('d', 3_000)],
      average: 500,
      included: [],
      excluded: ['a', 'b', 'c', 'd'],
    },
    { name: 'alone', readings: [r('a', 0, 0)], average: 0, included: ['a'], excluded: [] },
    {
      name: 'two fresh processes seconds off do not pull the two synchronised ones (no median between the pairs)',
      readings: [r('a', 0, 0), r('b', 2), { ...r('c', 1_900), synced: false }, { ...r('d', 2_100), synced: false }],
      average: 1,
      included: ['a', 'b'],
      excluded: ['c', 'd'],
    },
    {
      name: 'nobody synchronised yet (start-up): everyone counts',
      readings: [{ ...r('a', 0, 0), synced: false }, { ...r('b', 4), synced: false }, { ...r('c', 8), synced: false }],
      average: 4,
      included: ['a', 'b', 'c'],
      excluded: [],
    },
  ];
  for (const c of cases) {
    const result = faultTolerantAverage(c.readings, options);
    assert.ok(result !== null, c.name);
    assert.ok(Math.abs(result.averageMs - c.average) < 1e-9, `${c.name}: average ${result.averageMs}`);
    assert.deepEqual(result.included, c.included, c.name);
    assert.deepEqual(result.excluded, c.excluded, c.name);
  }
  assert.equal(faultTolerantAverage([r('b', 1, 999)], options), null);
});

test('fitLine finds slope and noise; estimateFrequencyPpm anchors and shrinks', () => {
  // A member whose base clock is 100 ppm fast needs an offset falling by 0.1 ms a second.
  const exact = Array.from({ length: 8 }, (_, i) => ({ baseMs: 1.7e12 + i * 1_000, offsetMs: 500 - i * 0.1 }));
  const fit = fitLine(exact);
  assert.ok(fit !== null);
  assert.ok(Math.abs(fit.slope * 1e6 - -100) < 1e-3, `slope ${fit.slope * 1e6} ppm`);
  assert.ok(fit.slopeStandardError * 1e6 < 1e-3);
  // Without noise the estimate is exact; the ensemble's mean correction is taken off.
  assert.ok(Math.abs(estimateFrequencyPpm(exact, { ensembleFrequencyPpm: 0, frequencyPpmMax: 500 })! - -100) < 1e-3);
  assert.ok(Math.abs(estimateFrequencyPpm(exact, { ensembleFrequencyPpm: 20, frequencyPpmMax: 500 })! - -120) < 1e-3);
  assert.equal(estimateFrequencyPpm(exact, { ensembleFrequencyPpm: 0, frequencyPpmMax: 50 }), -50);
  // Pure noise (±5 ms around a flat line): the estimate is shrunk well below the raw slope.
  const noisy = Array.from({ length: 8 }, (_, i) => ({ baseMs: i * 1_000, offsetMs: i % 2 === 0 ? 5 : -5 }));
  const noisyFit = fitLine(noisy)!;
  const estimate = estimateFrequencyPpm(noisy, { ensembleFrequencyPpm: 0, frequencyPpmMax: 500 })!;
  assert.ok(Math.abs(estimate) < Math.abs(noisyFit.slope * 1e6) / 2, `estimate ${estimate}, raw ${noisyFit.slope * 1e6}`);
  assert.equal(fitLine(exact.slice(0, 2)), null);
  assert.equal(fitLine([{ baseMs: 1, offsetMs: 1 }, { baseMs: 1, offsetMs: 2 }, { baseMs: 1, offsetMs: 3 }]), null);
});

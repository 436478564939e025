// Checks the slewing clock over a hand-driven base clock: it reads base + offset;
// adjustments are slewed at no more than the rate bound, so that under any sequence
// of adjustments, frequency changes and reads the clock never goes backwards and never
// runs faster than (1 + slew + frequency) of the base; step() is refused once serving.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlewingClock, SlewingClockError } from '../../server/algorithms/slewing-clock.js';
import { seededRandom } from '../../server/algorithms/random.js';

function manualBase(startMs = 1.7e12): { nowMs(): number; advance(ms: number): void } {
  let nowMs = startMs;
  return { nowMs: () => nowMs, advance: (ms: number) => (nowMs += ms) };
}

test('reads base + offset; an adjustment slews at the bounded rate', () => {
  const base = manualBase(1_000);
  const clock = new SlewingClock({ base, slewRatePpmMax: 5_000 });
  assert.equal(clock.nowMs(), 1_000);
  clock.adjust(10);
  assert.equal(clock.pendingMs(), 10);
  assert.equal(clock.targetNowMs(), 1_010);
  assert.equal(clock.nowMs(), 1_000, 'no jump forward');
  base.advance(1_000); // 5 ms of slew per second
  assert.equal(clock.nowMs(), 2_005);
  assert.equal(clock.offsetMs(), 5);
  assert.equal(clock.targetNowMs(), 2_010);
  base.advance(2_000);
  assert.equal(clock.nowMs(), 4_010, 'the slew stops at the target');
  assert.equal(clock.pendingMs(), 0);
  clock.adjust(-4);
  base.advance(400); // -2 ms of slew in 400 ms
  assert.equal(clock.nowMs(), 4_408);
  assert.equal(clock.targetNowMs(), 4_406);
});

test('frequency correction moves both offsets at the set rate, within its bound', () => {
  const base = manualBase(0);
  const clock = new SlewingClock({ base, frequencyPpmMax: 500 });
  clock.setFrequencyPpm(-100);
  base.advance(10_000);
  assert.ok(Math.abs(clock.offsetMs() - -1) < 1e-9);
  assert.ok(Math.abs(clock.pendingMs()) < 1e-9);
  clock.setFrequencyPpm(10_000);
  assert.equal(clock.frequencyPpm(), 500);
});

test('step applies at once before serving and is refused after markServing', () => {
  const base = manualBase(0);
  const clock = new SlewingClock({ base });
  clock.adjust(3);
  clock.step(-5_000);
  assert.equal(clock.nowMs(), -4_997, 'the step takes the pending slew with it');
  assert.equal(clock.pendingMs(), 0);
  clock.markServing();
  assert.throws(() => clock.step(1), (error: unknown) => error instanceof SlewingClockError && error.code === 'CLOCK_STEP_WHILE_SERVING');
  assert.throws(() => clock.adjust(Number.NaN), SlewingClockError);
});

test('never backwards, never faster than the bound, under random adjusts, frequency changes and reads', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = seededRandom(seed);
    const base = manualBase(1.7e12 + random.next() * 1e9);
    const slewRatePpmMax = 1_000 + random.int(9_000);
    const frequencyPpmMax = random.int(1_000);
    const clock = new SlewingClock({ base, slewRatePpmMax, frequencyPpmMax });
    if (random.next() < 0.5) clock.step((random.next() * 2 - 1) * 5_000);
    clock.markServing();
    let lastNowMs = clock.nowMs();
    let lastBaseMs = base.nowMs();
    for (let i = 0; i < 500; i++) {
      const action = random.int(4);
      if (action === 0) clock.adjust((random.next() * 2 - 1) * 10 ** (random.int(5) - 1));
      else if (action === 1) clock.setFrequencyPpm((random.next() * 2 - 1) * frequencyPpmMax);
      else if (action === 2) base.advance(random.next() < 0.3 ? 0 : random.next() * 10 ** random.int(4));
      const nowMs = clock.nowMs();
      const elapsedMs = base.nowMs() - lastBaseMs;
      assert.ok(nowMs >= lastNowMs, `seed ${seed}: went back from ${lastNowMs} to ${nowMs}`);
      // One rounding step of a ~1.7e12 sum (2.4e-4 ms) is allowed on top of the bound.
      const maxMs = elapsedMs * (1 + (slewRatePpmMax + frequencyPpmMax) / 1e6) + 5e-4;
      const minMs = elapsedMs * (1 - (slewRatePpmMax + frequencyPpmMax) / 1e6) - 5e-4;
      assert.ok(nowMs - lastNowMs <= maxMs, `seed ${seed}: ran ${nowMs - lastNowMs} ms in ${elapsedMs} ms of base`);
      assert.ok(nowMs - lastNowMs >= minMs, `seed ${seed}: ran only ${nowMs - lastNowMs} ms in ${elapsedMs} ms of base`);
      lastNowMs = nowMs;
      lastBaseMs = base.nowMs();
    }
  }
});

test('reads are path-independent: reading often or once gives the same time', () => {
  const a = manualBase(0);
  const b = manualBase(0);
  const often = new SlewingClock({ base: a });
  const once = new SlewingClock({ base: b });
  for (const clock of [often, once]) {
    clock.adjust(7);
    clock.setFrequencyPpm(123);
  }
  for (let i = 0; i < 1_000; i++) {
    a.advance(1.3);
    often.nowMs();
  }
  b.advance(1_300);
  assert.ok(Math.abs(often.nowMs() - once.nowMs()) < 1e-9);
});

test('a base clock that goes backwards is a bug in the shell, and says so', () => {
  let nowMs = 10;
  const clock = new SlewingClock({ base: { nowMs: () => nowMs } });
  nowMs = 9;
  assert.throws(() => clock.nowMs(), (error: unknown) => error instanceof SlewingClockError && error.code === 'CLOCK_BASE_BACKWARDS');
});

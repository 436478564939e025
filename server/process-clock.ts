import type { MonotonicClock } from './algorithms/machine.js';

// The process's "system clock": wall time that never goes backwards (performance's
// time origin plus its monotonic counter, so an NTP step on the host does not move
// it), with an injected error and drift for demos and tests, as the seed started its
// servers with random offsets. The synchronised clock is built on top of it.

export function systemClock(options: { skewMs?: number; driftPpm?: number } = {}): MonotonicClock {
  const skewMs = options.skewMs ?? 0;
  const rate = 1 + (options.driftPpm ?? 0) / 1e6;
  const startMs = performance.timeOrigin + performance.now();
  const startMonotonicMs = performance.now();
  return {
    nowMs: () => startMs + skewMs + (performance.now() - startMonotonicMs) * rate,
  };
}

/** The host's monotonic clock in ms, for round-trip times, timeouts and rate limits. */
export const monotonicClock: MonotonicClock = { nowMs: () => performance.now() };

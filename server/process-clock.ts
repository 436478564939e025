import type { MonotonicClock } from './algorithms/machine.js';

// The process's "system clock": wall time that never goes backwards (performance's
// time origin plus its monotonic counter, so an NTP step on the host does not move
// it), with an injected error and drift for demos and tests, as the seed started its
// servers with random offsets. The synchronised clock is built on top of it.

export interface SystemClock extends MonotonicClock {
  /** The error injected so far (start-up skew plus what addSkewMs has applied). */
  injectedSkewMs(): number;
  /**
   * Injects more error, as a fault: positive runs the clock ahead at once; negative is
   * applied by running at half speed until absorbed, since a system clock under the
   * synchronised clock must never go backwards.
   */
  addSkewMs(deltaMs: number): void;
}

export function systemClock(options: { skewMs?: number; driftPpm?: number } = {}): SystemClock {
  let skewMs = options.skewMs ?? 0;
  let owedSkewMs = 0;
  const rate = 1 + (options.driftPpm ?? 0) / 1e6;
  const startMs = performance.timeOrigin + performance.now();
  const startMonotonicMs = performance.now();
  let lastMonotonicMs = startMonotonicMs;
  const settle = (): number => {
    const monotonicMs = performance.now();
    if (owedSkewMs < 0) {
      const absorbedMs = Math.min(-owedSkewMs, (monotonicMs - lastMonotonicMs) * 0.5);
      skewMs -= absorbedMs;
      owedSkewMs += absorbedMs;
    }
    lastMonotonicMs = monotonicMs;
    return monotonicMs;
  };
  return {
    nowMs: () => {
      const monotonicMs = settle();
      return startMs + skewMs + (monotonicMs - startMonotonicMs) * rate;
    },
    injectedSkewMs: () => {
      settle();
      return skewMs;
    },
    addSkewMs: (deltaMs: number) => {
      if (!Number.isFinite(deltaMs)) throw new RangeError('deltaMs must be a finite number');
      settle();
      if (deltaMs >= 0) skewMs += deltaMs;
      else owedSkewMs += deltaMs;
    },
  };
}

/** The host's monotonic clock in ms, for round-trip times, timeouts and rate limits. */
export const monotonicClock: MonotonicClock = { nowMs: () => performance.now() };

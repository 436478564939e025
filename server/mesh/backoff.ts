// Reconnect delays for peer links: exponential growth from initialMs, capped at
// maxMs, with part of each delay drawn at random so that the peers of a process that
// restarts do not all dial it in the same millisecond. Pure: the random source is a
// parameter, so that a test (or the simulator) can pin it.

export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds; later retries double it. */
  readonly initialMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
  /**
   * The fraction of each delay that is random, in [0, 1]: a delay is drawn from
   * [base * (1 - jitter), base], where base = min(maxMs, initialMs * 2^attempt).
   * 0 gives fixed delays; 1 gives "full jitter" (anywhere in [0, base]).
   */
  readonly jitter: number;
}

export const defaultBackoffPolicy: BackoffPolicy = { initialMs: 50, maxMs: 2000, jitter: 0.5 };

/** Fills in the defaults and fails loudly on a policy that would misbehave. */
export function makeBackoffPolicy(options: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const policy: BackoffPolicy = { ...defaultBackoffPolicy, ...options };
  if (!(Number.isFinite(policy.initialMs) && policy.initialMs > 0)) {
    throw new RangeError(`backoff initialMs must be a positive number, got ${policy.initialMs}`);
  }
  if (!(Number.isFinite(policy.maxMs) && policy.maxMs >= policy.initialMs)) {
    throw new RangeError(`backoff maxMs must be at least initialMs (${policy.initialMs}), got ${policy.maxMs}`);
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new RangeError(`backoff jitter must be in [0, 1], got ${policy.jitter}`);
  }
  return policy;
}

/** The delay before retry number `attempt` (0 for the first retry), given a random draw in [0, 1). */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number): number {
  if (!(Number.isInteger(attempt) && attempt >= 0)) {
    throw new RangeError(`backoff attempt must be a non-negative integer, got ${attempt}`);
  }
  const draw = random();
  if (!(draw >= 0 && draw < 1)) throw new RangeError(`random() must return a number in [0, 1), got ${draw}`);
  // 2 ** attempt reaches Infinity for large attempts; Math.min absorbs it.
  const baseMs = Math.min(policy.maxMs, policy.initialMs * 2 ** attempt);
  return baseMs * (1 - policy.jitter * draw);
}

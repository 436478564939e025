import { Type, type Static } from '@sinclair/typebox';

// Berkeley clock synchronisation between the members (nodes and the store) over their
// peer links. The leader (the time daemon) polls each member several times a round,
// each member answers with its clock, and at the end of the round the leader sends
// each member its relative adjustment. Every number is bounded, hence finite.

/** An election term (the leader's), as in the election messages. */
export const ClockTerm = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A round number of one leader, counted from 1. */
export const ClockRound = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** Which poll of the round, from 0. */
export const ClockSampleIndex = Type.Integer({ minimum: 0, maximum: 63 });
/** A reading of a clock in ms: a monotonic clock (any origin) or a synchronised one (Unix epoch). ±1e14 ms is ±3,000 years. */
export const ClockTimeMs = Type.Number({ minimum: -1e14, maximum: 1e14 });
/** An adjustment in ms: ±1e12 ms (about 30 years) is far more than any clock is off. */
export const ClockDeltaMs = Type.Number({ minimum: -1e12, maximum: 1e12 });
/** A round trip in ms: at most ten minutes. */
export const ClockRttMs = Type.Number({ minimum: 0, maximum: 600_000 });
/** A frequency correction in parts per million. */
export const ClockFrequencyPpm = Type.Number({ minimum: -100_000, maximum: 100_000 });

/** Leader -> member: "what time is it?" sentMonotonicMs is echoed back, so the leader keeps no state per poll. */
export const ClockPollMessage = Type.Object(
  {
    type: Type.Literal('clock.poll'),
    term: ClockTerm,
    round: ClockRound,
    sample: ClockSampleIndex,
    sentMonotonicMs: ClockTimeMs,
  },
  { additionalProperties: false },
);
export type ClockPollMessage = Static<typeof ClockPollMessage>;

/**
 * Member -> leader: the answer to a poll. clockMs is the member's target time (its
 * clock as if the slew in progress were done). appliedTerm/appliedRound name the last
 * adjustment it applied (0/0 for none), echoed in the adjustment as its basis;
 * frequencyPpm is its frequency correction, averaged by the leader into the anchor;
 * synced is false until its first adjustment since it started (its clock may be
 * anything, so it is brought to the others and does not pull them).
 */
export const ClockReadingMessage = Type.Object(
  {
    type: Type.Literal('clock.reading'),
    term: ClockTerm,
    round: ClockRound,
    sample: ClockSampleIndex,
    sentMonotonicMs: ClockTimeMs,
    clockMs: ClockTimeMs,
    appliedTerm: ClockTerm,
    appliedRound: ClockRound,
    frequencyPpm: ClockFrequencyPpm,
    synced: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ClockReadingMessage = Static<typeof ClockReadingMessage>;

/**
 * Leader -> member at the end of a round: move your clock by deltaMs (relative).
 * rttMs is the round trip of the sample it was computed from (its error is at most
 * half of it); ensembleFrequencyPpm is the mean frequency correction of the members
 * in the average; basisTerm/basisRound echo the last adjustment the member had applied
 * when it gave the reading, so that it can take off what it applied since.
 */
export const ClockAdjustMessage = Type.Object(
  {
    type: Type.Literal('clock.adjust'),
    term: ClockTerm,
    round: ClockRound,
    deltaMs: ClockDeltaMs,
    rttMs: ClockRttMs,
    ensembleFrequencyPpm: ClockFrequencyPpm,
    basisTerm: ClockTerm,
    basisRound: ClockRound,
  },
  { additionalProperties: false },
);
export type ClockAdjustMessage = Static<typeof ClockAdjustMessage>;

export const ClockMessage = Type.Union([ClockPollMessage, ClockReadingMessage, ClockAdjustMessage]);
export type ClockMessage = Static<typeof ClockMessage>;

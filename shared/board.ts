import { Type, type Static } from '@sinclair/typebox';

// The scoreboard's data: teams, events, medal tallies and scores, each value with
// the synchronised-clock time it was last updated at (null = never, not 1970).

export const NAME_MAX_LENGTH = 64;
/**
 * A team or event name: printable, no leading/trailing space, no slash or colon (it
 * appears in URLs and topics), and not "__proto__", which would reach an object's
 * prototype where names are used as keys.
 */
export const NAME_PATTERN = '^(?!__proto__$)[^\\s/:\\x00-\\x1f\\x7f](?:[^/:\\x00-\\x1f\\x7f]*[^\\s/:\\x00-\\x1f\\x7f])?$';
export const Name = Type.String({ minLength: 1, maxLength: NAME_MAX_LENGTH, pattern: NAME_PATTERN });

export const MEDALS = ['gold', 'silver', 'bronze'] as const;
export type Medal = (typeof MEDALS)[number];
export const MedalSchema = Type.Union(MEDALS.map((medal) => Type.Literal(medal)));

/** Scores are finite numbers of bounded size: curling ends, luge times in seconds. */
export const SCORE_ABS_MAX = 1e9;
export const Score = Type.Number({ minimum: -SCORE_ABS_MAX, maximum: SCORE_ABS_MAX });

/** Milliseconds since the Unix epoch on the cluster's synchronised clock, or null when never updated. */
export const UpdatedAt = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);

export const Stamped = Type.Object({ value: Type.Number(), updatedAt: UpdatedAt }, { additionalProperties: false });
export type Stamped = Static<typeof Stamped>;

export const MedalTally = Type.Object(
  { gold: Stamped, silver: Stamped, bronze: Stamped },
  { additionalProperties: false },
);
export type MedalTally = Static<typeof MedalTally>;

export const Catalog = Type.Object(
  {
    teams: Type.Array(Name, { minItems: 1, maxItems: 256, uniqueItems: true }),
    events: Type.Array(Name, { minItems: 1, maxItems: 256, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type Catalog = Static<typeof Catalog>;

export const DEFAULT_CATALOG: Catalog = {
  teams: ['Gaul', 'Rome'],
  events: ['Stone Curling', 'Stone Skating', 'Luge'],
};

/** A full or partial view of the board: medals by team, scores by event then team. */
export const BoardData = Type.Object(
  {
    medals: Type.Record(Type.String(), MedalTally),
    scores: Type.Record(Type.String(), Type.Record(Type.String(), Stamped)),
  },
  { additionalProperties: false },
);
export type BoardData = Static<typeof BoardData>;

// A committed change, as the store logs it and every node pushes it. Values are
// absolute (the tally after the award, the score set), so that applying a change
// twice is harmless and a change alone tells the client what to show.
export const MedalChange = Type.Object(
  {
    kind: Type.Literal('medal'),
    seq: Type.Integer({ minimum: 1 }),
    team: Name,
    medal: MedalSchema,
    count: Type.Integer({ minimum: 0 }),
    delta: Type.Integer(),
    updatedAt: Type.Number({ minimum: 0 }),
    node: Type.String({ maxLength: NAME_MAX_LENGTH }),
  },
  { additionalProperties: false },
);
export const ScoreChange = Type.Object(
  {
    kind: Type.Literal('score'),
    seq: Type.Integer({ minimum: 1 }),
    event: Name,
    scores: Type.Record(Type.String(), Score),
    updatedAt: Type.Number({ minimum: 0 }),
    node: Type.String({ maxLength: NAME_MAX_LENGTH }),
  },
  { additionalProperties: false },
);
export const Change = Type.Union([MedalChange, ScoreChange]);
export type MedalChange = Static<typeof MedalChange>;
export type ScoreChange = Static<typeof ScoreChange>;
export type Change = Static<typeof Change>;

/** Topics a client can subscribe to. */
export const medalTopic = (team: string): string => `medals:${team}`;
export const scoreTopic = (event: string): string => `score:${event}`;
export const RAFFLE_TOPIC = 'raffle';
export const CLUSTER_TOPIC = 'cluster';

export function topicOfChange(change: Change): string {
  return change.kind === 'medal' ? medalTopic(change.team) : scoreTopic(change.event);
}

export function emptyTally(): MedalTally {
  return {
    gold: { value: 0, updatedAt: null },
    silver: { value: 0, updatedAt: null },
    bronze: { value: 0, updatedAt: null },
  };
}

/** Applies a change to board data in place; used by nodes and browsers alike. */
export function applyChange(board: BoardData, change: Change): void {
  // Object.hasOwn, not ??=: a team called "constructor" must not find Object.prototype's.
  if (change.kind === 'medal') {
    const tally = Object.hasOwn(board.medals, change.team) ? board.medals[change.team]! : (board.medals[change.team] = emptyTally());
    tally[change.medal] = { value: change.count, updatedAt: change.updatedAt };
  } else {
    const scores = Object.hasOwn(board.scores, change.event) ? board.scores[change.event]! : (board.scores[change.event] = {});
    for (const [team, score] of Object.entries(change.scores)) {
      scores[team] = { value: score, updatedAt: change.updatedAt };
    }
  }
}

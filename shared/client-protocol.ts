import { Type, type Static } from '@sinclair/typebox';
import { BoardData, Catalog, Change, MedalSchema, Score } from './board.js';
import { ClusterState } from './cluster.js';

// The browser <-> node protocol: JSON text frames over one WebSocket per page.
// Documented for people in docs/PROTOCOL.md; this file is what both sides check.

export const CLIENT_PROTOCOL_VERSION = 1;
/** Largest frame a client may send; anything larger is closed by ws with 1009. */
export const CLIENT_MAX_PAYLOAD_BYTES = 16 * 1024;
export const TOPICS_MAX = 128;
export const TOPIC_MAX_LENGTH = 80;

/** Close codes (4000-4999 are the application's; see docs/PROTOCOL.md). */
export const CloseCode = {
  /** The node is shutting down or restarting: reconnect, to any node. */
  goingAway: 4001,
  /** Too many invalid messages. Terminal for this connection, reconnecting is allowed. */
  invalidMessage: 4400,
  /** The page's origin is not in the allow-list. Terminal. */
  originRefused: 4403,
  /** No message and no pong within the heartbeat bound. */
  heartbeatTimeout: 4408,
  /** More messages per second than allowed. */
  rateLimited: 4429,
  /** The node is not ready (not connected to the store yet): ask the dispatcher for another. */
  notReady: 4503,
  /** The client did not read fast enough and its outbound queue hit its limit. */
  slowConsumer: 4508,
  /** Too many connections from one address. */
  tooManyConnections: 4509,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a client should not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.originRefused]);

export const ClientId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
export const Topic = Type.String({ minLength: 1, maxLength: TOPIC_MAX_LENGTH });
export const RequestId = Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 });
export const Epoch = Type.String({ minLength: 1, maxLength: 64 });
export const Seq = Type.Integer({ minimum: 0 });

export const ResumePoint = Type.Object({ epoch: Epoch, seq: Seq }, { additionalProperties: false });
export type ResumePoint = Static<typeof ResumePoint>;

// ---- client -> node ----

export const HelloMessage = Type.Object(
  {
    type: Type.Literal('hello'),
    protocol: Type.Integer({ minimum: 1, maximum: 1000 }),
    client: ClientId,
    page: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: false },
);
export const SubscribeMessage = Type.Object(
  {
    type: Type.Literal('subscribe'),
    id: Type.Optional(RequestId),
    topics: Type.Array(Topic, { minItems: 1, maxItems: TOPICS_MAX }),
    /** Where the client's copy stands: the node answers with exactly the changes after it, or a snapshot. */
    resume: Type.Optional(ResumePoint),
  },
  { additionalProperties: false },
);
export const UnsubscribeMessage = Type.Object(
  { type: Type.Literal('unsubscribe'), id: Type.Optional(RequestId), topics: Type.Array(Topic, { minItems: 1, maxItems: TOPICS_MAX }) },
  { additionalProperties: false },
);
/** A page's refresh: a fresh snapshot of every subscribed topic. */
export const RefreshMessage = Type.Object({ type: Type.Literal('refresh'), id: Type.Optional(RequestId) }, { additionalProperties: false });
export const PingMessage = Type.Object({ type: Type.Literal('ping'), id: Type.Optional(RequestId) }, { additionalProperties: false });

export const ClientMessage = Type.Union([HelloMessage, SubscribeMessage, UnsubscribeMessage, RefreshMessage, PingMessage]);
export type ClientMessage = Static<typeof ClientMessage>;
export type HelloMessage = Static<typeof HelloMessage>;
export type SubscribeMessage = Static<typeof SubscribeMessage>;

// ---- node -> client ----

export const RaffleSettings = Type.Object(
  { enabled: Type.Boolean(), everyN: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
);

export const WelcomeMessage = Type.Object({
  type: Type.Literal('welcome'),
  protocol: Type.Integer(),
  node: Type.String(),
  client: ClientId,
  epoch: Epoch,
  seq: Seq,
  catalog: Catalog,
  raffle: RaffleSettings,
  /** The node's synchronised clock when it sent this, ms since the epoch. */
  serverTime: Type.Number(),
});
export const SubscribedMessage = Type.Object({
  type: Type.Literal('subscribed'),
  id: Type.Optional(RequestId),
  topics: Type.Array(Topic),
  /** 'resumed': the changes after the client's position follow; 'snapshot': a snapshot follows. */
  mode: Type.Union([Type.Literal('resumed'), Type.Literal('snapshot')]),
  missed: Type.Integer({ minimum: 0 }),
});
export const SnapshotMessage = Type.Object({
  type: Type.Literal('snapshot'),
  epoch: Epoch,
  seq: Seq,
  data: BoardData,
});
export const ChangeMessage = Type.Object({ type: Type.Literal('change'), epoch: Epoch, change: Change });
export const RaffleEntry = Type.Object({
  ordinal: Type.Integer({ minimum: 1 }),
  index: Type.Integer({ minimum: 0 }),
  client: Type.String(),
  node: Type.String(),
  kind: Type.String(),
});
export type RaffleEntry = Static<typeof RaffleEntry>;
export const RaffleState = Type.Object({
  enabled: Type.Boolean(),
  everyN: Type.Integer({ minimum: 1 }),
  delivered: Type.Integer({ minimum: 0 }),
  entries: Type.Integer({ minimum: 0 }),
  recentEntries: Type.Array(RaffleEntry),
  closed: Type.Boolean(),
  winner: Type.Union([RaffleEntry, Type.Null()]),
});
export type RaffleState = Static<typeof RaffleState>;
/** On the raffle topic: the raffle's state after an entry or the draw. */
export const RaffleMessage = Type.Object({ type: Type.Literal('raffle'), state: RaffleState });
/** To one client: one of its own requests was entered into the raffle, or it won. */
export const RaffleNoticeMessage = Type.Object({
  type: Type.Literal('raffle-notice'),
  notice: Type.Union([Type.Literal('entered'), Type.Literal('won')]),
  entry: RaffleEntry,
});
/** On the cluster topic: every member's latest status, relayed by the node (see shared/cluster.ts). */
export const ClusterMessage = Type.Object({ type: Type.Literal('cluster'), state: ClusterState });
export const PongMessage = Type.Object({ type: Type.Literal('pong'), id: Type.Optional(RequestId), serverTime: Type.Number() });
export const ErrorMessage = Type.Object({
  type: Type.Literal('error'),
  id: Type.Optional(RequestId),
  code: Type.String(),
  message: Type.String(),
});

export const ServerMessage = Type.Union([
  WelcomeMessage,
  SubscribedMessage,
  SnapshotMessage,
  ChangeMessage,
  RaffleMessage,
  RaffleNoticeMessage,
  ClusterMessage,
  PongMessage,
  ErrorMessage,
]);
export type ServerMessage = Static<typeof ServerMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;
export type SnapshotMessage = Static<typeof SnapshotMessage>;
export type ChangeMessage = Static<typeof ChangeMessage>;
export type ErrorMessage = Static<typeof ErrorMessage>;

// ---- HTTP bodies ----

export const MEDAL_DELTA_MAX = 100;
/** POST /api/medals/:team — award (or, with a negative delta, take back) medals. */
export const MedalAwardBody = Type.Object(
  {
    medal: MedalSchema,
    /** How many to add (default 1); negative takes back a mistaken award; 0 is refused. */
    delta: Type.Optional(Type.Integer({ minimum: -MEDAL_DELTA_MAX, maximum: MEDAL_DELTA_MAX })),
  },
  { additionalProperties: false },
);
export type MedalAwardBody = Static<typeof MedalAwardBody>;
/** POST /api/scores/:event — set the scores of one or more teams in one event. */
export const ScoreSetBody = Type.Object(
  { scores: Type.Record(Type.String({ maxLength: 64 }), Score, { minProperties: 1, maxProperties: 256 }) },
  { additionalProperties: false },
);
export type ScoreSetBody = Static<typeof ScoreSetBody>;

/** The 200 answer to a write: the committed change and its sequence number. */
export const WriteAccepted = Type.Object({ ok: Type.Literal(true), seq: Type.Integer({ minimum: 1 }), change: Change });
export type WriteAccepted = Static<typeof WriteAccepted>;

/** What the dispatcher answers to GET /api/assign. */
export const Assignment = Type.Object({
  node: Type.String(),
  http: Type.String(),
  ws: Type.String(),
  clients: Type.Integer({ minimum: 0 }),
});
export type Assignment = Static<typeof Assignment>;

/** Error bodies of every HTTP route: fastify's shape, with our code. */
export const HttpError = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  code: Type.String(),
  message: Type.String(),
});
export type HttpError = Static<typeof HttpError>;

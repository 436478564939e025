import { Type, type Static } from '@sinclair/typebox';

// Totally-ordered multicast among the frontend nodes, its membership views, and the
// raffle that rides on it (see docs/algorithms/multicast.md). Data, acks and nacks go
// between the members of a view; status, prepare, flush and install go between the
// members and the view coordinator (the elected leader, possibly the store); state
// and state-request carry the state transfer to a member that joins. Every array and
// string is bounded, so that one frame can never hold more than the limits below.

/** Tickets in one data message (the sender batches at most maxBatch <= this). */
export const MULTICAST_BATCH_MAX = 1024;
/** Members of a view; a view is a subset of the configured nodes. */
export const MULTICAST_MEMBERS_MAX = 64;
/** Batches in a flush reply or an install (the unstable tail of every sender's stream). */
export const MULTICAST_FLUSH_BATCHES_MAX = 65_536;
/** Raffle entries carried by a state transfer. */
export const RAFFLE_ENTRIES_MAX = 100_000;

export const MulticastMemberId = Type.String({ minLength: 1, maxLength: 64 });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A Lamport timestamp or clock value. */
export const LamportTime = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A view id; -1 stands for "never in a view" (a process that has not joined yet). */
export const ViewId = Type.Integer({ minimum: -1, maximum: Number.MAX_SAFE_INTEGER });
/** An election term, as given by the election to setLeader. */
export const MulticastTerm = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** One view-change attempt of a coordinator, counted from 1. */
export const ViewChangeAttempt = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Members = Type.Array(MulticastMemberId, { maxItems: MULTICAST_MEMBERS_MAX });
/** One number per member of the view, in the view's member order. */
const PerMember = Type.Array(Count, { maxItems: MULTICAST_MEMBERS_MAX });

// ---- payloads -------------------------------------------------------------------

export const TicketKind = Type.Union([
  Type.Literal('read'),
  Type.Literal('subscribe'),
  Type.Literal('snapshot'),
  Type.Literal('refresh'),
]);
export type TicketKind = Static<typeof TicketKind>;

/** Who made the request: the id a client is told about ("your request was entered"). */
export const RaffleClient = Type.String({ minLength: 1, maxLength: 128 });

/** A client request a node served. */
export const TicketPayload = Type.Object(
  {
    kind: TicketKind,
    client: RaffleClient,
    /** What was asked (a route or a topic), for the entry's record. */
    detail: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type TicketPayload = Static<typeof TicketPayload>;

/** The score-keeper closed the raffle; seed is the randomness every node draws with. */
export const ClosePayload = Type.Object(
  {
    kind: Type.Literal('close'),
    seed: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
    by: MulticastMemberId,
  },
  { additionalProperties: false },
);
export type ClosePayload = Static<typeof ClosePayload>;

/** Starts a new round: entries and ticket count start again from zero. */
export const ReopenPayload = Type.Object(
  { kind: Type.Literal('reopen'), by: MulticastMemberId },
  { additionalProperties: false },
);
export type ReopenPayload = Static<typeof ReopenPayload>;

/**
 * A node that starts a fresh group (every node new: a cold start of the cluster)
 * proposes a random generation; the first delivered is every node's. It names this run
 * of the raffle in the store, whose rows outlive the nodes' memory.
 */
export const StartPayload = Type.Object(
  { kind: Type.Literal('start'), generation: Type.String({ minLength: 1, maxLength: 64 }), by: MulticastMemberId },
  { additionalProperties: false },
);
export type StartPayload = Static<typeof StartPayload>;

export const MulticastPayload = Type.Union([TicketPayload, ClosePayload, ReopenPayload, StartPayload]);
export type MulticastPayload = Static<typeof MulticastPayload>;

// ---- raffle state (carried by a state transfer) ----------------------------------

export const RaffleEntry = Type.Object(
  {
    /** 1-based number of the entry in its round. */
    ordinal: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** Position of the ticket in the total order (0-based, over all rounds). */
    index: Count,
    /** 1-based number of the ticket among the round's tickets (a multiple of `every`). */
    ticket: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    client: RaffleClient,
    kind: TicketKind,
    /** The node that served the request. */
    node: MulticastMemberId,
  },
  { additionalProperties: false },
);
export type RaffleEntry = Static<typeof RaffleEntry>;

export const RaffleWinner = Type.Object(
  {
    round: Count,
    /** null when the round closed without entries. */
    entry: Type.Union([RaffleEntry, Type.Null()]),
    seed: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
    /** Position of the close in the total order; mixed into the draw. */
    closeIndex: Count,
    entries: Count,
    by: MulticastMemberId,
  },
  { additionalProperties: false },
);
export type RaffleWinner = Static<typeof RaffleWinner>;

export const RaffleState = Type.Object(
  {
    every: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
    /** This run of the raffle (see StartPayload); null until the first start is delivered. */
    generation: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
    round: Count,
    /** Tickets delivered in this round (including those past the entry cap). */
    tickets: Count,
    closed: Type.Boolean(),
    entries: Type.Array(RaffleEntry, { maxItems: RAFFLE_ENTRIES_MAX }),
    /** Entries not kept because the round held maxEntries already. */
    overflow: Count,
    winner: Type.Union([RaffleWinner, Type.Null()]),
  },
  { additionalProperties: false },
);
export type RaffleState = Static<typeof RaffleState>;

// ---- messages between the members of a view ---------------------------------------

/**
 * A batch of tickets from its sender, with consecutive sequence numbers (seq, seq+1,
 * ...) and consecutive Lamport timestamps (timestamp, timestamp+1, ...). It carries
 * an acknowledgement: the sender's clock, and per member of the view how many of that
 * member's tickets the sender has received in order (`have`) and delivered
 * (`delivered`). `waiting` asks for fresh acks: the sender holds tickets it cannot
 * deliver yet.
 */
export const MulticastDataMessage = Type.Object(
  {
    type: Type.Literal('multicast.data'),
    view: ViewId,
    seq: Count,
    timestamp: LamportTime,
    payloads: Type.Array(MulticastPayload, { minItems: 1, maxItems: MULTICAST_BATCH_MAX }),
    clock: LamportTime,
    have: PerMember,
    delivered: PerMember,
    waiting: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type MulticastDataMessage = Static<typeof MulticastDataMessage>;

/** The acknowledgement alone, when there is no data to carry it. */
export const MulticastAckMessage = Type.Object(
  {
    type: Type.Literal('multicast.ack'),
    view: ViewId,
    clock: LamportTime,
    have: PerMember,
    delivered: PerMember,
    waiting: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type MulticastAckMessage = Static<typeof MulticastAckMessage>;

/** "Send your tickets again from seq `from`": the receiver found a gap. */
export const MulticastNackMessage = Type.Object(
  { type: Type.Literal('multicast.nack'), view: ViewId, from: Count },
  { additionalProperties: false },
);
export type MulticastNackMessage = Static<typeof MulticastNackMessage>;

// ---- messages between members and the coordinator ---------------------------------

/** Member -> leader, periodically and on every change: where the member stands. */
export const MulticastStatusMessage = Type.Object(
  {
    type: Type.Literal('multicast.status'),
    term: MulticastTerm,
    view: ViewId,
    members: Members,
    /** Has the state of its view (false: a joiner waiting for its state transfer). */
    ready: Type.Boolean(),
    /** Stopped by a view change that has not been installed yet. */
    frozen: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type MulticastStatusMessage = Static<typeof MulticastStatusMessage>;

/** Coordinator -> member: stop the current view and send me everything you hold of it. */
export const MulticastPrepareMessage = Type.Object(
  { type: Type.Literal('multicast.prepare'), term: MulticastTerm, attempt: ViewChangeAttempt },
  { additionalProperties: false },
);
export type MulticastPrepareMessage = Static<typeof MulticastPrepareMessage>;

/** A run of one sender's tickets, as held by a member (same shape as in a data message). */
export const MulticastSenderBatch = Type.Object(
  {
    sender: MulticastMemberId,
    seq: Count,
    timestamp: LamportTime,
    payloads: Type.Array(MulticastPayload, { minItems: 1, maxItems: MULTICAST_BATCH_MAX }),
  },
  { additionalProperties: false },
);
export type MulticastSenderBatch = Static<typeof MulticastSenderBatch>;

/** Member -> coordinator, the answer to a prepare: its view and the tickets it holds of it (frozen). */
export const MulticastFlushMessage = Type.Object(
  {
    type: Type.Literal('multicast.flush'),
    term: MulticastTerm,
    attempt: ViewChangeAttempt,
    view: ViewId,
    members: Members,
    ready: Type.Boolean(),
    batches: Type.Array(MulticastSenderBatch, { maxItems: MULTICAST_FLUSH_BATCHES_MAX }),
  },
  { additionalProperties: false },
);
export type MulticastFlushMessage = Static<typeof MulticastFlushMessage>;

/**
 * Coordinator -> every member of the new view. Survivors (members of view `base` with
 * its state) first deliver `batches`, the union of what the survivors held of `base`,
 * then start the new view; the others are joiners and get their state from
 * `stateFrom` (null: a first view, started from an empty state).
 */
export const MulticastInstallMessage = Type.Object(
  {
    type: Type.Literal('multicast.install'),
    term: MulticastTerm,
    attempt: ViewChangeAttempt,
    view: ViewId,
    members: Members,
    survivors: Members,
    base: ViewId,
    stateFrom: Type.Union([MulticastMemberId, Type.Null()]),
    batches: Type.Array(MulticastSenderBatch, { maxItems: MULTICAST_FLUSH_BATCHES_MAX }),
  },
  { additionalProperties: false },
);
export type MulticastInstallMessage = Static<typeof MulticastInstallMessage>;

// ---- state transfer ----------------------------------------------------------------

/** Joiner -> its state source: the state message was lost, send it again. */
export const MulticastStateRequestMessage = Type.Object(
  { type: Type.Literal('multicast.state-request'), view: ViewId },
  { additionalProperties: false },
);
export type MulticastStateRequestMessage = Static<typeof MulticastStateRequestMessage>;

/** How many of a member's tickets of its last view were delivered (so that a joiner resends only the rest). */
export const MulticastSenderProgress = Type.Object(
  { member: MulticastMemberId, view: ViewId, next: Count },
  { additionalProperties: false },
);
export type MulticastSenderProgress = Static<typeof MulticastSenderProgress>;

/** Survivor -> joiner: the state at the start of the view. */
export const MulticastStateMessage = Type.Object(
  {
    type: Type.Literal('multicast.state'),
    view: ViewId,
    /** Tickets delivered before the view: the joiner's next delivery has this index. */
    delivered: Count,
    progress: Type.Array(MulticastSenderProgress, { maxItems: 1024 }),
    /** The application's state (absent with --no-raffle). */
    appState: Type.Optional(RaffleState),
  },
  { additionalProperties: false },
);
export type MulticastStateMessage = Static<typeof MulticastStateMessage>;

export const MulticastMessage = Type.Union([
  MulticastDataMessage,
  MulticastAckMessage,
  MulticastNackMessage,
  MulticastStatusMessage,
  MulticastPrepareMessage,
  MulticastFlushMessage,
  MulticastInstallMessage,
  MulticastStateRequestMessage,
  MulticastStateMessage,
]);
export type MulticastMessage = Static<typeof MulticastMessage>;

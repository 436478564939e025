import { Type, type Static } from '@sinclair/typebox';

// What each member of the cluster publishes about itself, several times a second: the
// cluster view draws it. Members broadcast it to each other over the peer links
// (`cluster.status`), and every node relays all of them to the pages subscribed to
// the `cluster` topic, so a page connected to any node sees the whole cluster.

const Id = Type.String({ minLength: 1, maxLength: 64 });
const Num = Type.Number();
const NullableNum = Type.Union([Type.Number(), Type.Null()]);

export const LinkStatus = Type.Object({
  state: Type.Union([Type.Literal('up'), Type.Literal('connecting'), Type.Literal('down')]),
  rttMs: Type.Optional(Num),
  cut: Type.Boolean(),
  reconnects: Type.Integer({ minimum: 0 }),
});

export const ClockStatus = Type.Object({
  /** The synchronised clock and the host's CLOCK_MONOTONIC at the same instant. */
  nowMs: Num,
  monotonicMs: Num,
  offsetMs: Num,
  pendingMs: Num,
  lastAdjustmentMs: NullableNum,
  estimatedErrorMs: NullableNum,
  frequencyPpm: Num,
  rounds: Type.Integer({ minimum: 0 }),
  synced: Type.Boolean(),
  enabled: Type.Boolean(),
  /** The error injected into this member's system clock (demos, tests, the skew control). */
  injectedSkewMs: Num,
});

export const MulticastStatus = Type.Object({
  lamport: Type.Integer({ minimum: 0 }),
  holdBack: Type.Integer({ minimum: 0 }),
  delivered: Type.Integer({ minimum: 0 }),
  viewId: Type.Integer(),
  viewMembers: Type.Array(Id, { maxItems: 64 }),
  pending: Type.Integer({ minimum: 0 }),
  ready: Type.Boolean(),
  recentDeliveries: Type.Array(
    Type.Object({ index: Type.Integer({ minimum: 0 }), sender: Id, kind: Type.String({ maxLength: 16 }), client: Type.String({ maxLength: 128 }) }),
    { maxItems: 50 },
  ),
  raffle: Type.Object({
    round: Type.Integer({ minimum: 0 }),
    tickets: Type.Integer({ minimum: 0 }),
    entries: Type.Integer({ minimum: 0 }),
    closed: Type.Boolean(),
    winner: Type.Union([Type.String({ maxLength: 128 }), Type.Null()]),
    recentEntries: Type.Array(Type.Object({ ordinal: Type.Integer(), client: Type.String({ maxLength: 128 }), node: Id, index: Type.Integer() }), { maxItems: 20 }),
  }),
});

export const PushStatus = Type.Object({
  clients: Type.Integer({ minimum: 0 }),
  /** Frames pushed to pages per second, over the last few seconds. */
  updatesPerS: Num,
  /** From a change's "last updated at" stamp to this node pushing it, over the last changes (ms). */
  writeToPushP50Ms: NullableNum,
  writeToPushP99Ms: NullableNum,
  seq: Type.Integer({ minimum: 0 }),
});

export const MemberStatus = Type.Object({
  id: Id,
  role: Type.Union([Type.Literal('node'), Type.Literal('store')]),
  incarnation: Type.String({ maxLength: 64 }),
  /** When this status was made, on the member's synchronised clock. */
  atMs: Num,
  leader: Type.Union([Id, Type.Null()]),
  term: Type.Integer({ minimum: 0 }),
  electionRole: Type.Union([Type.Literal('follower'), Type.Literal('candidate'), Type.Literal('leader')]),
  holdsMajority: Type.Boolean(),
  clock: ClockStatus,
  /** The last Berkeley round this member led, if any. */
  lastRound: Type.Union([
    Type.Object({ round: Type.Integer(), term: Type.Integer(), atMs: Num, members: Type.Integer(), maxAdjustmentMs: Num }),
    Type.Null(),
  ]),
  links: Type.Record(Id, LinkStatus),
  multicast: Type.Union([MulticastStatus, Type.Null()]),
  push: Type.Union([PushStatus, Type.Null()]),
  store: Type.Union([Type.Object({ seq: Type.Integer({ minimum: 0 }), writesCommitted: Type.Integer({ minimum: 0 }) }), Type.Null()]),
});
export type MemberStatus = Static<typeof MemberStatus>;

/** Peer message: one member's status, broadcast to every other member. */
export const ClusterStatusMessage = Type.Object(
  { type: Type.Literal('cluster.status'), status: MemberStatus },
  { additionalProperties: false },
);
export type ClusterStatusMessage = Static<typeof ClusterStatusMessage>;

/** What a node pushes on the `cluster` topic: the latest status of every member it knows. */
export const ClusterState = Type.Object({
  /** The node that relayed this. */
  via: Id,
  /** That node's synchronised clock when it sent this. */
  atMs: Num,
  members: Type.Record(Id, MemberStatus),
  /** Members whose status is older than a few seconds: down, or cut off from this node. */
  stale: Type.Array(Id, { maxItems: 64 }),
});
export type ClusterState = Static<typeof ClusterState>;

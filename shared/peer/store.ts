import { Type, type Static } from '@sinclair/typebox';
import { BoardData, Catalog, Change, MedalSchema, Name, Score } from '../board.js';
import { RaffleEntry, RaffleWinner } from './multicast.js';

// Node <-> store messages over their peer link: writes and their results, and the
// ordered stream of committed changes (with catch-up from a position).

export const MedalWrite = Type.Object(
  { kind: Type.Literal('medal'), team: Name, medal: MedalSchema, delta: Type.Integer({ minimum: -100, maximum: 100 }) },
  { additionalProperties: false },
);
export const ScoreWrite = Type.Object(
  {
    kind: Type.Literal('score'),
    event: Name,
    scores: Type.Record(Type.String({ maxLength: 64 }), Score, { minProperties: 1, maxProperties: 256 }),
  },
  { additionalProperties: false },
);
export const Write = Type.Union([MedalWrite, ScoreWrite]);
export type Write = Static<typeof Write>;

export const RequestId = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const Epoch = Type.String({ minLength: 1, maxLength: 64 });
export const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const CHANGES_PER_MESSAGE_MAX = 1000;

export const StoreWriteMessage = Type.Object(
  {
    type: Type.Literal('store.write'),
    requestId: RequestId,
    /** Unique per write: a node that resends after a lost link gets the first result, not a second change. */
    writeId: Type.String({ minLength: 1, maxLength: 128 }),
    write: Write,
  },
  { additionalProperties: false },
);
export const StoreWriteResultMessage = Type.Union([
  Type.Object(
    { type: Type.Literal('store.write-result'), requestId: RequestId, ok: Type.Literal(true), change: Change },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('store.write-result'),
      requestId: RequestId,
      ok: Type.Literal(false),
      code: Type.String({ maxLength: 64 }),
      message: Type.String({ maxLength: 1024 }),
    },
    { additionalProperties: false },
  ),
]);
/** A node asks for the stream from its position: the store answers with the changes after it, or a snapshot. */
export const StoreSyncMessage = Type.Object(
  { type: Type.Literal('store.sync'), epoch: Type.Union([Epoch, Type.Null()]), seq: Seq },
  { additionalProperties: false },
);
export const StoreSnapshotMessage = Type.Object(
  { type: Type.Literal('store.snapshot'), epoch: Epoch, seq: Seq, catalog: Catalog, data: BoardData },
  { additionalProperties: false },
);
/** Committed changes in sequence order, without gaps; `live` once the catch-up is done. */
export const StoreChangesMessage = Type.Object(
  {
    type: Type.Literal('store.changes'),
    epoch: Epoch,
    changes: Type.Array(Change, { maxItems: CHANGES_PER_MESSAGE_MAX }),
    live: Type.Boolean(),
  },
  { additionalProperties: false },
);

/**
 * A node reports how far its push has gone: every change up to `seq` has been handed
 * to its pages' sockets. The store paces its commits by these (server/store/commit-pacer.ts).
 */
export const StorePushedMessage = Type.Object(
  { type: Type.Literal('store.pushed'), seq: Seq },
  { additionalProperties: false },
);

/** A node reports a raffle entry it delivered; every node reports every entry, and they must agree. */
export const StoreRaffleEntryMessage = Type.Object(
  { type: Type.Literal('store.raffle-entry'), generation: Type.String({ minLength: 1, maxLength: 64 }), round: Type.Integer({ minimum: 0 }), entry: RaffleEntry },
  { additionalProperties: false },
);
/** A node reports the raffle's draw. */
export const StoreRaffleDrawMessage = Type.Object(
  { type: Type.Literal('store.raffle-draw'), generation: Type.String({ minLength: 1, maxLength: 64 }), winner: RaffleWinner },
  { additionalProperties: false },
);

export const StoreMessage = Type.Union([
  StoreRaffleEntryMessage,
  StoreRaffleDrawMessage,
  StoreWriteMessage,
  StoreWriteResultMessage,
  StoreSyncMessage,
  StoreSnapshotMessage,
  StoreChangesMessage,
  StorePushedMessage,
]);
export type StoreMessage = Static<typeof StoreMessage>;
export type StoreWriteMessage = Static<typeof StoreWriteMessage>;
export type StoreWriteResultMessage = Static<typeof StoreWriteResultMessage>;
export type StoreSnapshotMessage = Static<typeof StoreSnapshotMessage>;
export type StoreChangesMessage = Static<typeof StoreChangesMessage>;
export type StorePushedMessage = Static<typeof StorePushedMessage>;

import { Type, type Static } from '@sinclair/typebox';

// Leader election between the members (the nodes and the store) over their peer
// links: a bully-ordered election with Raft-style terms, majority votes, pre-votes
// and a leader lease (docs/algorithms/election.md). The sender of a message is the
// authenticated peer of the link it came on, so no message names its sender.
// Every number is bounded, hence finite.

/** An election term: 0 before any election, +1 per real (not pre-) vote. */
export const ElectionTerm = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** The sender's own tick count when it sent a request, echoed in the answer so that a lease is measured from the send. */
export const ElectionSeq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A member id: "store", "node-1", ... */
export const ElectionMemberId = Type.String({ minLength: 1, maxLength: 64 });

/** Would-be candidate -> all: "would you vote for me in `term`?" Changes nothing at the receiver; term is the sender's term + 1. */
export const ElectionPreVoteRequest = Type.Object(
  { type: Type.Literal('election.pre-vote-request'), term: ElectionTerm },
  { additionalProperties: false },
);
export type ElectionPreVoteRequest = Static<typeof ElectionPreVoteRequest>;

/** Answer to a pre-vote: granted with the proposed term, or refused with the receiver's term (which may be newer). */
export const ElectionPreVoteResponse = Type.Object(
  { type: Type.Literal('election.pre-vote-response'), term: ElectionTerm, granted: Type.Boolean() },
  { additionalProperties: false },
);
export type ElectionPreVoteResponse = Static<typeof ElectionPreVoteResponse>;

/** Candidate -> all: "vote for me in `term`". */
export const ElectionVoteRequest = Type.Object(
  { type: Type.Literal('election.vote-request'), term: ElectionTerm, seq: ElectionSeq },
  { additionalProperties: false },
);
export type ElectionVoteRequest = Static<typeof ElectionVoteRequest>;

/** Answer to a vote request; a granted vote also starts the new leader's lease at `seq`. */
export const ElectionVoteResponse = Type.Object(
  { type: Type.Literal('election.vote-response'), term: ElectionTerm, granted: Type.Boolean(), seq: ElectionSeq },
  { additionalProperties: false },
);
export type ElectionVoteResponse = Static<typeof ElectionVoteResponse>;

/** Leader -> all, every few ticks and to a peer whose link comes up: "I lead `term`". */
export const ElectionHeartbeat = Type.Object(
  { type: Type.Literal('election.heartbeat'), term: ElectionTerm, seq: ElectionSeq },
  { additionalProperties: false },
);
export type ElectionHeartbeat = Static<typeof ElectionHeartbeat>;

/** Follower -> leader: success renews the lease from `seq`; a refusal carries the follower's newer term. */
export const ElectionHeartbeatAck = Type.Object(
  { type: Type.Literal('election.heartbeat-ack'), term: ElectionTerm, seq: ElectionSeq, success: Type.Boolean() },
  { additionalProperties: false },
);
export type ElectionHeartbeatAck = Static<typeof ElectionHeartbeatAck>;

export const ElectionMessage = Type.Union([
  ElectionPreVoteRequest,
  ElectionPreVoteResponse,
  ElectionVoteRequest,
  ElectionVoteResponse,
  ElectionHeartbeat,
  ElectionHeartbeatAck,
]);
export type ElectionMessage = Static<typeof ElectionMessage>;

/** What a member writes durably before sending anything that depends on it. */
export const ElectionPersisted = Type.Object(
  { term: ElectionTerm, votedFor: Type.Union([ElectionMemberId, Type.Null()]) },
  { additionalProperties: false },
);
export type ElectionPersisted = Static<typeof ElectionPersisted>;

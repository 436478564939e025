import { Type, type Static } from '@sinclair/typebox';
import { ClusterStatusMessage } from './cluster.js';
import { ClockMessage } from './peer/clock.js';
import { ElectionMessage } from './peer/election.js';
import { MulticastMessage } from './peer/multicast.js';
import { StoreMessage } from './peer/store.js';

// Every message that crosses a peer link, as one union: the mesh validates each
// received frame against it before anything else sees the message.

export const PEER_PROTOCOL_VERSION = 1;

export const PeerMessage = Type.Union([StoreMessage, ElectionMessage, ClockMessage, MulticastMessage, ClusterStatusMessage]);
export type PeerMessage = Static<typeof PeerMessage>;

/** Messages of the node <-> store data path (writes and the change stream). */
export function isStoreMessage(message: PeerMessage): message is StoreMessage {
  return message.type.startsWith('store.');
}

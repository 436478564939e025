import { Type, type Static } from '@sinclair/typebox';
import { StoreMessage } from './peer/store.js';

// Every message that crosses a peer link, as one union: the mesh validates each
// received frame against it before anything else sees the message.

export const PEER_PROTOCOL_VERSION = 1;

export const PeerMessage = Type.Union([StoreMessage]);
export type PeerMessage = Static<typeof PeerMessage>;

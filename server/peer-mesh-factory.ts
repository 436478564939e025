import { PEER_PROTOCOL_VERSION, PeerMessage } from '../shared/peer-protocol.js';
import { compileSchema } from './compile-schema.js';
import { peerUrl, type MemberAddress } from './config.js';
import type { Log } from './log.js';
import { PeerMesh } from './mesh/peer-mesh.js';

// Every process builds its mesh the same way: the shared peer protocol, validated on
// receipt with the compiled schema of every peer message.

const validatePeerMessage = compileSchema(PeerMessage);

export function createPeerMesh(selfId: string, peers: MemberAddress[], secret: string, log: Log): PeerMesh<PeerMessage> {
  return new PeerMesh<PeerMessage>({
    selfId,
    peers: peers.map((peer) => ({ id: peer.id, url: peerUrl(peer.url) })),
    secret,
    protocolVersion: PEER_PROTOCOL_VERSION,
    parse: (text) => {
      const parsed = validatePeerMessage.parse(text);
      return parsed.ok ? { ok: true, message: parsed.value } : { ok: false, error: parsed.error };
    },
    log,
  });
}

import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import type { StoreMessage } from '../../shared/peer/store.js';
import type { NodeConfig } from '../config.js';
import type { Log } from '../log.js';
import { attachToHttpServer } from '../mesh/peer-mesh.js';
import { createPeerMesh } from '../peer-mesh-factory.js';
import { monotonicClock, systemClock } from '../process-clock.js';
import { buildNodeApp, type NodeApp } from './node-app.js';

// A frontend node process: the node app on its port, the peer mesh to the store and
// the other nodes on the same port under /peer.

export interface RunningNode {
  url: string;
  node: NodeApp;
  close(): Promise<void>;
}

const STORE_ID = 'store';

export async function startNode(config: NodeConfig, log: Log): Promise<RunningNode> {
  const storeMember = config.peers.find((peer) => peer.id === STORE_ID);
  if (!storeMember) throw new Error(`node ${config.id} needs --peer store=URL`);
  const clock = systemClock({ skewMs: config.clockSkewMs, driftPpm: config.clockDriftPpm });
  const mesh = createPeerMesh(config.id, config.peers, config.secret, log);
  const incarnation = randomBytes(6).toString('hex');

  const node = await buildNodeApp({
    id: config.id,
    incarnation,
    token: config.token,
    log,
    now: () => clock.nowMs(),
    monotonicMs: () => monotonicClock.nowMs(),
    sendToStore: (message: StoreMessage) => mesh.send(STORE_ID, message),
    allowedOrigins: new Set(config.allowedOrigins),
    historyLimit: config.historyLimit,
    raffle: { enabled: config.raffle, everyN: config.raffleEveryN },
    health: () => ({ role: 'node', links: mesh.links() }),
  });

  mesh.on('up', (peer) => {
    log('peer.up', { peer });
    if (peer === STORE_ID) node.storeClient.linkOpened();
  });
  mesh.on('down', (peer, reason) => {
    log('peer.down', { peer, reason });
    if (peer === STORE_ID) node.storeClient.linkClosed();
  });
  mesh.on('message', (peer, message: PeerMessage) => {
    if (peer === STORE_ID && message.type.startsWith('store.')) node.storeClient.receive(message);
  });

  attachToHttpServer(node.upgrades.emitterFor('/peer') as unknown as HttpServer, mesh, '/peer');
  await node.app.listen({ host: config.host, port: config.port });
  mesh.start();
  const address = node.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  log('node.listening', { url, incarnation });
  return {
    url,
    node,
    async close() {
      await mesh.close();
      await node.close();
    },
  };
}

import Fastify from 'fastify';
import type { Server as HttpServer } from 'node:http';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import type { StoreConfig } from '../config.js';
import { installErrorHandler } from '../http-errors.js';
import type { Log } from '../log.js';
import { attachToHttpServer } from '../mesh/peer-mesh.js';
import { createPeerMesh } from '../peer-mesh-factory.js';
import { routeUpgrades } from '../upgrade-router.js';
import { SqliteStore } from './sqlite-store.js';
import { StoreService } from './store-service.js';

// The store process: SQLite, the peer links to the nodes, and a small HTTP face for
// health checks and for people who want to look at the data of record.

export interface RunningStore {
  url: string;
  close(): Promise<void>;
}

export async function startStore(config: StoreConfig, log: Log): Promise<RunningStore> {
  const store = SqliteStore.open(config.dataDir, config.catalog);
  log('store.opened', { dataDir: config.dataDir, epoch: store.epoch, seq: store.seq, teams: store.catalog.teams.length, events: store.catalog.events.length });
  const mesh = createPeerMesh(config.id, config.peers, config.secret, log);
  const nodeIds = new Set(config.peers.map((peer) => peer.id));
  const service = new StoreService({
    store,
    log,
    send: (node, message) => mesh.send(node, message),
    broadcast: (message) => mesh.broadcast(message, (peer) => nodeIds.has(peer)),
  });
  mesh.on('message', (peer, message: PeerMessage) => {
    if (message.type.startsWith('store.')) service.receive(peer, message);
  });
  mesh.on('up', (peer) => log('peer.up', { peer }));
  mesh.on('down', (peer, reason) => log('peer.down', { peer, reason }));

  const app = Fastify({ logger: false, bodyLimit: 1024 });
  installErrorHandler(app, log);
  app.get('/api/health', async () => ({
    member: config.id,
    role: 'store',
    epoch: store.epoch,
    seq: store.seq,
    writesCommitted: service.writesCommitted,
    links: mesh.links(),
  }));
  app.get('/api/state', async () => store.snapshot());
  const router = routeUpgrades(app.server);
  attachToHttpServer(router.emitterFor('/peer') as unknown as HttpServer, mesh, '/peer');
  await app.listen({ host: config.host, port: config.port });
  mesh.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  log('store.listening', { url });
  return {
    url,
    async close() {
      await mesh.close();
      await app.close();
      store.close();
    },
  };
}

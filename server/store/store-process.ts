import Fastify from 'fastify';
import type { Server as HttpServer } from 'node:http';
import { isStoreMessage, type PeerMessage } from '../../shared/peer-protocol.js';
import { ViewCoordinator, type CoordinatorEvent } from '../algorithms/total-order-multicast.js';
import { bearerToken, secretsEqual } from '../auth.js';
import type { StoreConfig } from '../config.js';
import { Errors } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import { httpServerOptions } from '../http-options.js';
import type { Log } from '../log.js';
import { ClusterBoard } from '../member/cluster-board.js';
import { registerControlRoutes } from '../member/control-routes.js';
import { createMember } from '../member/member-process.js';
import { attachToHttpServer } from '../mesh/peer-mesh.js';
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
  const { base, clock, mesh, runtime, incarnation } = createMember(config.id, config, log);
  const nodeIds = new Set(config.peers.map((peer) => peer.id));
  const service = new StoreService({
    store,
    log,
    send: (node, message) => mesh.send(node, message),
    broadcast: (message) => mesh.broadcast(message, (peer) => nodeIds.has(peer)),
    now: () => clock.nowMs(),
  });
  // When the store leads, it installs the multicast's views among the nodes (it holds no
  // tickets itself: the coordinator role needs none).
  const coordinator = new ViewCoordinator({ id: config.id, group: [...nodeIds].sort() });
  runtime.host({
    prefix: 'multicast.',
    machine: coordinator as never,
    setLeader: (leader, term) => coordinator.setLeader(leader, term),
    onEvents: (events) => {
      for (const event of events as CoordinatorEvent[]) {
        if (event.type === 'view-installing') log('multicast.view-installing', { viewId: event.viewId, members: event.members, joiners: event.joiners });
        else if (event.type === 'view-change') log('multicast.view-change', { term: event.term, attempt: event.attempt, candidates: event.candidates });
        else log('multicast.view-stalled', { reason: event.reason });
      }
    },
  });
  const board = new ClusterBoard({
    selfId: config.id,
    mesh,
    now: () => clock.nowMs(),
    ownStatus: () =>
      runtime.published({
        role: 'store',
        incarnation,
        injectedSkewMs: base.injectedSkewMs(),
        multicast: null,
        push: null,
        store: { seq: store.seq, writesCommitted: service.writesCommitted },
      }),
  });
  mesh.on('message', (peer, message: PeerMessage) => {
    if (isStoreMessage(message)) service.receive(peer, message);
    else if (message.type === 'cluster.status') board.receive(peer, message.status);
    else runtime.receive(peer, message);
  });
  mesh.on('up', (peer) => log('peer.up', { peer }));
  mesh.on('down', (peer, reason) => {
    log('peer.down', { peer, reason });
    if (nodeIds.has(peer)) service.linkDown(peer);
  });

  const app = Fastify({ ...httpServerOptions, bodyLimit: 1024 });
  installErrorHandler(app, log);
  app.get('/api/health', async () => ({
    id: config.id,
    role: 'store',
    epoch: store.epoch,
    seq: store.seq,
    writesCommitted: service.writesCommitted,
    // Commits wait for the nodes' pushes (server/store/commit-pacer.ts).
    pacing: { ...service.pacer.status(), queuedWrites: service.queuedWrites },
    links: mesh.links(),
    member: runtime.status(),
  }));
  app.get('/api/state', async () => store.snapshot());
  app.get('/api/raffle', async () => store.raffle());
  // The change log, for audits and the chaos suite: every committed change in order.
  app.get('/api/changes', async (request) => {
    const query = request.query as Record<string, unknown>;
    const after = Number(query.after ?? 0);
    const limit = Number(query.limit ?? 1000);
    if (!Number.isInteger(after) || after < 0) throw Errors.badParameter('after must be a whole number >= 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw Errors.badParameter('limit must be a whole number from 1 to 10000');
    return { epoch: store.epoch, seq: store.seq, changes: store.changesAfter(after, limit) };
  });
  app.get('/api/cluster', async () => board.state());
  registerControlRoutes(app, {
    requireToken: (request) => {
      if (config.token === null) throw Errors.wrongToken();
      const token = bearerToken(request.headers.authorization);
      if (token === null) throw Errors.missingToken();
      if (!secretsEqual(token, config.token)) throw Errors.wrongToken();
    },
    mesh,
    clock: base,
    log,
  });
  const router = routeUpgrades(app.server);
  attachToHttpServer(router.emitterFor('/peer') as unknown as HttpServer, mesh, '/peer');
  await app.listen({ host: config.host, port: config.port });
  mesh.start();
  runtime.start();
  board.start();
  // The store stamps every change at its commit: its clock is one of the ensemble and may step once at start.
  void runtime.waitForFirstSync(3000).then(() => {
    clock.markServing();
    service.clockReady();
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  log('store.listening', { url });
  return {
    url,
    async close() {
      board.stop();
      runtime.close();
      service.close();
      await mesh.close();
      await app.close();
      store.close();
    },
  };
}

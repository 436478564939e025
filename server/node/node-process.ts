import type { Server as HttpServer } from 'node:http';
import { CLUSTER_TOPIC } from '../../shared/board.js';
import { isStoreMessage, type PeerMessage } from '../../shared/peer-protocol.js';
import type { StoreMessage } from '../../shared/peer/store.js';
import type { NodeConfig } from '../config.js';
import { Errors } from '../errors.js';
import type { Log } from '../log.js';
import { ClusterBoard } from '../member/cluster-board.js';
import { registerControlRoutes } from '../member/control-routes.js';
import { createMember } from '../member/member-process.js';
import { attachToHttpServer } from '../mesh/peer-mesh.js';
import { monotonicClock } from '../process-clock.js';
import { buildNodeApp, type NodeApp } from './node-app.js';
import { RaffleService } from './raffle-service.js';

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
  // Every "last updated at" this node stamps comes from member.clock, the synchronised clock.
  const { base, clock, mesh, runtime, incarnation } = createMember(config.id, config, log);
  // A node serves nobody before its clock is synchronised (so that a large start-up
  // error can be stepped once), or before a bound, since a time daemon may not come.
  let serving = false;
  const nodeIds = [config.id, ...config.peers.filter((peer) => peer.id !== STORE_ID).map((peer) => peer.id)];
  let raffle: RaffleService | null = null;
  const disabledRaffle = { enabled: false, everyN: config.raffleEveryN, delivered: 0, entries: 0, recentEntries: [], closed: false, winner: null };

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
    clientsMax: config.clientsMax,
    clientsPerAddressMax: config.clientsPerAddressMax,
    raffle: { enabled: config.raffle, everyN: config.raffleEveryN },
    onTicket: (client, kind) => raffle?.ticket(client, kind),
    raffleState: () => raffle?.clientState() ?? disabledRaffle,
    clusterState: () => board.state(),
    routes: (app, context) => {
      registerControlRoutes(app, { requireToken: context.requireToken, mesh, clock: base, log });
      app.get('/api/cluster', async () => board.state());
      const requireRaffle = (): RaffleService => {
        if (!raffle) throw Errors.raffleDisabled();
        return raffle;
      };
      app.get('/api/raffle', async () => {
        if (!raffle) return disabledRaffle;
        const { generation, round, tickets, winner } = raffle.status().raffle;
        // What pages show, plus the run, the round, the full draw and every entry of the round.
        return { ...raffle.clientState(), generation, round, tickets, draw: winner, allEntries: raffle.raffle.entries };
      });
      app.get('/api/multicast', async () => (raffle ? raffle.status() : { enabled: false }));
      const guard = async (request: Parameters<typeof context.requireToken>[0]) => {
        context.requireOrigin(request);
        context.requireToken(request);
      };
      app.post('/api/raffle/close', { preValidation: guard }, async () => {
        const winner = await requireRaffle().closeRaffle();
        return { ok: true, winner };
      });
      if (process.env.OLYMPIX_BENCH_HOOKS === '1') {
        // Benchmark hooks: a synthetic ticket source in this node (see bench/multicast.ts).
        app.post('/api/bench/tickets', { preValidation: guard }, async (request) => {
          const body = request.body as { ratePerS?: unknown; durationMs?: unknown } | undefined;
          const ratePerS = Number(body?.ratePerS ?? 0);
          const durationMs = Number(body?.durationMs ?? 1000);
          if (!(ratePerS >= 0 && ratePerS <= 1_000_000 && durationMs > 0 && durationMs <= 600_000)) throw Errors.badBody('ratePerS 0..1e6 and durationMs 1..600000');
          requireRaffle().bench.start(ratePerS, durationMs);
          return { ok: true };
        });
        app.get('/api/bench/tickets', async () => {
          const service = requireRaffle();
          return { offered: service.bench.offered, refused: service.bench.refused, delivered: service.status().delivered, ...service.bench.take() };
        });
      }
      app.post('/api/raffle/reopen', { preValidation: guard }, async () => {
        await requireRaffle().reopenRaffle();
        return { ok: true, round: requireRaffle().raffle.status().round };
      });
    },
    serving: () => serving,
    health: () => ({ role: 'node', links: mesh.links(), member: runtime.status(), multicast: raffle?.multicast.status() ?? null }),
  });

  if (config.raffle) {
    raffle = new RaffleService({
      nodeId: config.id,
      group: nodeIds,
      everyN: config.raffleEveryN,
      log,
      hub: node.hub,
      sendToStore: (message) => mesh.send(STORE_ID, message),
      pump: () => runtime.pump(),
    });
    runtime.host(raffle.hosted());
  }

  mesh.on('up', (peer) => {
    log('peer.up', { peer });
    if (peer === STORE_ID) node.storeClient.linkOpened();
  });
  mesh.on('down', (peer, reason) => {
    log('peer.down', { peer, reason });
    if (peer === STORE_ID) node.storeClient.linkClosed();
  });
  const board: ClusterBoard = new ClusterBoard({
    selfId: config.id,
    mesh,
    now: () => clock.nowMs(),
    ownStatus: () =>
      runtime.published({
        role: 'node',
        incarnation,
        injectedSkewMs: base.injectedSkewMs(),
        push: node.hub.pushStatus(),
        store: null,
        multicast: raffle?.publishedStatus() ?? null,
      }),
    publish: (state) => node.hub.publishTo(CLUSTER_TOPIC, { type: 'cluster', state }),
  });

  mesh.on('message', (peer, message: PeerMessage) => {
    if (isStoreMessage(message)) {
      if (peer === STORE_ID) node.storeClient.receive(message);
    } else if (message.type === 'cluster.status') board.receive(peer, message.status);
    else runtime.receive(peer, message);
  });

  attachToHttpServer(node.upgrades.emitterFor('/peer') as unknown as HttpServer, mesh, '/peer');
  await node.app.listen({ host: config.host, port: config.port });
  mesh.start();
  runtime.start();
  board.start();
  void runtime.waitForFirstSync(3000).then((synced) => {
    clock.markServing();
    serving = true;
    log('node.serving', { clockSynced: synced, offsetMs: clock.offsetMs() });
  });
  const address = node.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
  log('node.listening', { url, incarnation });
  return {
    url,
    node,
    async close() {
      board.stop();
      runtime.close();
      raffle?.stop();
      await mesh.close();
      await node.close();
    },
  };
}

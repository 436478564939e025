import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { medalTopic, scoreTopic, type Change } from '../../shared/board.js';
import {
  CLIENT_MAX_PAYLOAD_BYTES,
  CloseCode,
  MedalAwardBody,
  ScoreSetBody,

} from '../../shared/client-protocol.js';
import type { StoreMessage } from '../../shared/peer/store.js';
import type { ClusterState } from '../../shared/cluster.js';
import { bearerToken, originAllowed, secretsEqual } from '../auth.js';
import { Errors } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import { routeUpgrades, type UpgradeRouter } from '../upgrade-router.js';
import type { Log } from '../log.js';
import { BoardReplica } from './board-replica.js';
import { ClientHub, type TicketKind } from './client-hub.js';
import { StoreClient } from './store-client.js';

// A frontend node's HTTP and WebSocket face: browser sessions with push, the pull
// API (with the seed's routes), and authenticated writes forwarded to the store.
// The peer mesh is wired by the caller (server/node/node-process.ts); this module
// only needs a way to send to the store.

export interface NodeAppOptions {
  id: string;
  /** Distinguishes this run from earlier ones (write ids). */
  incarnation: string;
  token: string;
  log: Log;
  /** The synchronised clock, ms since the Unix epoch: every "last updated at" comes from it. */
  now: () => number;
  monotonicMs: () => number;
  sendToStore: (message: StoreMessage) => boolean;
  /** Origins (scheme://host:port) allowed to open WebSockets and send writes; "*" for any. */
  allowedOrigins: ReadonlySet<string>;
  historyLimit?: number;
  raffle?: { enabled: boolean; everyN: number };
  onTicket?: (client: string, kind: TicketKind) => void;
  raffleState?: () => unknown;
  clusterState?: () => ClusterState;
  /** False until the node may serve clients (its clock synchronised); default always true. */
  serving?: () => boolean;
  /** Extra fields for /api/health (leader, clock...). */
  health?: () => Record<string, unknown>;
  maxClientBufferedBytes?: number;
  clientMessagesPerS?: number;
  /** Extra routes (raffle, cluster) registered by the caller. */
  routes?: (app: FastifyInstance, context: NodeContext) => void;
}

export interface NodeContext {
  replica: BoardReplica;
  hub: ClientHub;
  storeClient: StoreClient;
  requireToken: (request: FastifyRequest) => void;
  requireOrigin: (request: FastifyRequest) => void;
  ticket: (request: FastifyRequest) => void;
}

export interface NodeApp extends NodeContext {
  app: FastifyInstance;
  /** Upgrades on /ws go to the browser route; the caller attaches the peer mesh on /peer. */
  upgrades: UpgradeRouter;
  close(): Promise<void>;
}

export async function buildNodeApp(options: NodeAppOptions): Promise<NodeApp> {
  const { log } = options;
  const replica = new BoardReplica(options.historyLimit ?? 10_000);
  const onTicket = options.onTicket ?? (() => {});
  const hub = new ClientHub({
    nodeId: options.id,
    replica,
    log,
    now: options.now,
    monotonicMs: options.monotonicMs,
    raffle: options.raffle ?? { enabled: false, everyN: 100 },
    onTicket,
    raffleState: options.raffleState ?? (() => ({ enabled: false })),
    clusterState: options.clusterState ?? (() => ({ via: options.id, atMs: options.now(), members: {}, stale: [] })),
    ...(options.maxClientBufferedBytes === undefined ? {} : { maxBufferedBytes: options.maxClientBufferedBytes }),
    ...(options.clientMessagesPerS === undefined ? {} : { messagesPerS: options.clientMessagesPerS }),
  });
  const storeClient = new StoreClient({
    nodeId: options.id,
    incarnation: options.incarnation,
    replica,
    channel: { send: options.sendToStore },
    log,
    onChange: (change: Change) => {
      hub.notePublish(change);
      hub.publish(change);
    },
    onSnapshot: () => {
      log('node.snapshot-loaded', { seq: replica.seq, epoch: replica.epoch, clients: hub.clientCount });
      // The history restarted: pages' positions may now fall in a hole. Every page
      // gets a fresh snapshot of its topics, so none keeps stale values.
      hub.resnapshotAll();
    },
  });

  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // Fastify's default silently strips unknown fields and coerces types; a write with
    // a field we do not know is more likely a mistake the sender should hear about.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  installErrorHandler(app, log);
  // Writes are JSON; anything else is 415, not a confusing schema error.
  app.removeContentTypeParser('text/plain');
  const upgrades = routeUpgrades(app.server);
  await app.register(websocket, {
    options: {
      maxPayload: CLIENT_MAX_PAYLOAD_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
      server: upgrades.fallback as never,
    },
  });

  const requireToken = (request: FastifyRequest): void => {
    const token = bearerToken(request.headers.authorization);
    if (token === null) throw Errors.missingToken();
    if (!secretsEqual(token, options.token)) throw Errors.wrongToken();
  };
  const requireOrigin = (request: FastifyRequest): void => {
    const origin = request.headers.origin;
    if (!originAllowed(origin, options.allowedOrigins)) throw Errors.originRefused(origin ?? '');
  };
  const clientOf = (request: FastifyRequest): string => {
    const header = request.headers['x-olympix-client'];
    return typeof header === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(header) ? header : `ip-${request.ip}`;
  };
  const ticket = (request: FastifyRequest): void => onTicket(clientOf(request), 'read');
  const serving = options.serving ?? (() => true);
  const requireReady = (): void => {
    if (!replica.ready) throw Errors.storeUnavailable('this node has not loaded the board from the store yet');
    if (!serving()) throw Errors.notServing();
  };

  // CORS for the pages, which the dispatcher serves from another origin: only
  // allow-listed origins get the headers, so other sites cannot read or write.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (origin !== undefined && originAllowed(origin, options.allowedOrigins)) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'origin');
      if (request.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
        reply.header('access-control-allow-headers', 'authorization, content-type, x-olympix-client');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      }
    }
    return undefined;
  });
  app.options('/*', async (request, reply) => {
    requireOrigin(request);
    return reply.code(204).send();
  });

  app.get(
    '/ws',
    {
      websocket: true,
      preValidation: async (request, reply) => {
        if (!originAllowed(request.headers.origin, options.allowedOrigins)) {
          log('client.refused', { reason: 'origin', origin: request.headers.origin });
          return reply.code(403).send({ statusCode: 403, error: 'Forbidden', code: 'OLX_ORIGIN_REFUSED', message: `origin ${request.headers.origin} is not allowed` });
        }
        return undefined;
      },
    },
    (socket, request) => {
      if (!replica.ready || !serving()) {
        socket.close(CloseCode.notReady, 'node not ready: ask the dispatcher for another');
        return;
      }
      const session = hub.accept(socket, request.ip);
      log('client.connected', { client: session.client, address: request.ip, clients: hub.clientCount });
      socket.on('close', () => log('client.disconnected', { client: session.client, clients: hub.clientCount }));
    },
  );

  // ---- pull reads: a JSON API, and the seed's own routes ----
  const medalsOf = (team: string) => {
    requireReady();
    if (!replica.catalog.teams.includes(team)) throw Errors.unknownTeam(team);
    return { team, seq: replica.seq, medals: replica.slice(new Set([medalTopic(team)])).medals[team] };
  };
  const scoresOf = (event: string) => {
    requireReady();
    if (!replica.catalog.events.includes(event)) throw Errors.unknownEvent(event);
    return { event, seq: replica.seq, scores: replica.slice(new Set([scoreTopic(event)])).scores[event] };
  };
  const params = (request: FastifyRequest) => request.params as Record<string, string>;
  for (const path of ['/api/medals/:team', '/getMedalTally/:team']) {
    app.get(path, async (request) => {
      const body = medalsOf(params(request).team!);
      ticket(request);
      return body;
    });
  }
  for (const path of ['/api/scores/:event', '/getScore/:event']) {
    app.get(path, async (request) => {
      const body = scoresOf(params(request).event!);
      ticket(request);
      return body;
    });
  }
  app.get('/api/state', async (request) => {
    requireReady();
    ticket(request);
    return { node: options.id, epoch: replica.epoch, seq: replica.seq, catalog: replica.catalog, data: replica.board() };
  });
  app.get('/api/health', async () => ({
    node: options.id,
    ready: replica.ready && storeClient.connected && serving(),
    store: storeClient.connected ? 'up' : 'down',
    clients: hub.clientCount,
    seq: replica.seq,
    epoch: replica.epoch,
    ...(options.health ? options.health() : {}),
  }));

  // ---- writes: token, origin, schema, catalog; then the store commits ----
  const writeGuard = async (request: FastifyRequest) => {
    requireOrigin(request);
    requireToken(request);
  };
  app.post('/api/medals/:team', { preValidation: writeGuard, schema: { body: MedalAwardBody } }, async (request) => {
    requireReady();
    const team = params(request).team!;
    if (!replica.catalog.teams.includes(team)) throw Errors.unknownTeam(team);
    const body = request.body as MedalAwardBody;
    const delta = body.delta ?? 1;
    if (delta === 0) throw Errors.badBody('body/delta must not be 0');
    const change = await storeClient.write({ kind: 'medal', team, medal: body.medal, delta }, options.now());
    log('write.accepted', { seq: change.seq, kind: 'medal', team, medal: body.medal, delta });
    return { ok: true, seq: change.seq, change };
  });
  app.post('/api/scores/:event', { preValidation: writeGuard, schema: { body: ScoreSetBody } }, async (request) => {
    requireReady();
    const event = params(request).event!;
    if (!replica.catalog.events.includes(event)) throw Errors.unknownEvent(event);
    const body = request.body as ScoreSetBody;
    for (const team of Object.keys(body.scores)) {
      if (!replica.catalog.teams.includes(team)) throw Errors.unknownTeam(team);
    }
    const change = await storeClient.write({ kind: 'score', event, scores: body.scores }, options.now());
    log('write.accepted', { seq: change.seq, kind: 'score', event, teams: Object.keys(body.scores).length });
    return { ok: true, seq: change.seq, change };
  });

  const context: NodeContext = { replica, hub, storeClient, requireToken, requireOrigin, ticket };
  options.routes?.(app, context);

  return {
    app,
    upgrades,
    ...context,
    async close() {
      hub.closeAll();
      storeClient.close();
      await app.close();
    },
  };
}


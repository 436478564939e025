import websocket from '@fastify/websocket';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
import { ConnectionLimits, RefusalLog } from '../connection-limits.js';
import { Errors } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import { httpServerOptions } from '../http-options.js';
import { routeUpgrades, type UpgradeRouter } from '../upgrade-router.js';
import type { Log } from '../log.js';
import { BoardReplica } from './board-replica.js';
import { ClientHub, type TicketKind } from './client-hub.js';
import { ClientSocket } from './client-socket.js';
import { StoreClient } from './store-client.js';

// A frontend node's HTTP and WebSocket face: browser sessions with push, the pull
// API (with the seed's routes), and authenticated writes forwarded to the store.
// The peer mesh is wired by the caller (server/node/node-process.ts); this module
// only needs a way to send to the store.

/** The largest request head (request line and headers) a node reads: 431 past it. */
/** Fragments one client message may come in (ws closes with 1008 past it). */
const CLIENT_FRAGMENTS_MAX = 64;
/** A socket we closed (4509, or a protocol error) whose client does not answer the close is destroyed after this. */
const CLIENT_CLOSE_GRACE_MS = 2000;

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
  /** Concurrent browser WebSockets per address (IPv6: per /64); default 1000. Past it: closed with 4509. */
  clientsPerAddressMax?: number;
  /** Concurrent browser WebSockets on this node; default 20,000. Past it: closed with 4509. */
  clientsMax?: number;
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
  const limits = new ConnectionLimits({
    ...(options.clientsPerAddressMax === undefined ? {} : { perAddressMax: options.clientsPerAddressMax }),
    ...(options.clientsMax === undefined ? {} : { totalMax: options.clientsMax }),
  });
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
    onSocketClosed: (session) => {
      limits.release(session.address);
      log('client.disconnected', { client: session.client, clients: hub.clientCount });
    },
  });
  let pushedReportScheduled = false;
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
    // The store paces its commits by the nodes' pushes: once this turn's changes have
    // been handed to the pages' sockets, say how far the push has gone (one message per
    // batch of changes, not per change).
    onChangesApplied: () => {
      if (pushedReportScheduled) return;
      pushedReportScheduled = true;
      hub.afterFlush(() => {
        pushedReportScheduled = false;
        options.sendToStore({ type: 'store.pushed', seq: replica.seq });
      });
    },
    onSnapshot: () => {
      log('node.snapshot-loaded', { seq: replica.seq, epoch: replica.epoch, clients: hub.clientCount });
      // The history restarted: pages' positions may now fall in a hole. Every page
      // gets a fresh snapshot of its topics, so none keeps stale values.
      hub.resnapshotAll();
    },
  });

  const refusals = new RefusalLog(log, options.monotonicMs);

  const app = Fastify({
    ...httpServerOptions,
    bodyLimit: 16 * 1024,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
  });
  installErrorHandler(app, log);
  // Writes are JSON; anything else is 415, not a confusing schema error.
  app.removeContentTypeParser('text/plain');
  const upgrades = routeUpgrades(app.server);
  await app.register(websocket, {
    // Errors of sockets the hub has not adopted (refused ones; an adopted socket's errors
    // go to the hub) and of a handler that threw. The plugin's default is terminate(). For a protocol
    // violation ws has already sent the close frame that says why (1007 bad UTF-8, 1009
    // too big, 1008 too many fragments, 1002 bad framing) and ended its side; cutting the
    // connection at once would reset it under that frame and the page would see 1006.
    // So those get a grace period; anything else (a handler that threw) is cut at once.
    errorHandler: (error, socket) => {
      if (/^WS_ERR_/.test(String((error as { code?: unknown }).code))) {
        setTimeout(() => socket.terminate(), CLIENT_CLOSE_GRACE_MS).unref();
        return;
      }
      log('client.error', { error: String(error.message).slice(0, 200) });
      socket.terminate();
    },
    options: {
      maxPayload: CLIENT_MAX_PAYLOAD_BYTES,
      // Pages send each message in one frame; ws's default (16,384 fragments for one
      // message) is far more than any page needs. Past it ws closes with 1008.
      maxFragments: CLIENT_FRAGMENTS_MAX,
      perMessageDeflate: false,
      clientTracking: false,
      // The page's state lives on its socket (server/node/client-socket.ts). The cast: the
      // plugin's types ask for ws's class with its namespace, ws itself for a subclass.
      WebSocket: ClientSocket as never,
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
          refusals.note(`origin:${request.ip}`, 'client.refused', { reason: 'origin', origin: String(request.headers.origin).slice(0, 200), address: request.ip });
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
      // Counted after the upgrade, for as long as the socket lives: a slot taken before the
      // upgrade would leak whenever a handshake fails. Refused sockets are closed with 4509,
      // which a page can see (a refused upgrade's status never reaches a page's script).
      const admission = limits.admit(request.ip);
      if (!admission.ok) {
        refusals.note(`clients:${admission.address}`, 'client.refused', { reason: admission.reason === 'total' ? 'too many clients' : 'too many clients from this address', address: request.ip, count: admission.count, max: admission.max });
        socket.close(CloseCode.tooManyConnections, admission.reason === 'total' ? 'too many connections' : 'too many connections from this address');
        // A client that does not answer the close frame is not given ws's 30 s.
        setTimeout(() => socket.terminate(), CLIENT_CLOSE_GRACE_MS).unref();
        return;
      }
      // @fastify/websocket keeps the upgrade's request and reply alive for as long as the
      // socket lives (its 'error' listener closes over them, and the reply it made holds
      // the TCP socket as its _httpMessage): some 2.5 KB per connection that is never read
      // again. The hub's own listener takes over errors.
      socket.removeAllListeners('error');
      const tcp = request.raw.socket as (Socket & { _httpMessage?: ServerResponse | null }) | undefined;
      if (tcp?._httpMessage) tcp._httpMessage.detachSocket(tcp);
      const session = hub.accept(socket as ClientSocket, request.ip);
      log('client.connected', { client: session.client, address: request.ip, clients: hub.clientCount });
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
    // Ready to serve pages: the board is loaded and the clock synchronised. A node cut
    // off from the store still serves its last board (writes get 503); the dispatcher
    // prefers nodes whose store link is up.
    ready: replica.ready && serving(),
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
    const change = await storeClient.write({ kind: 'medal', team, medal: body.medal, delta });
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
    const change = await storeClient.write({ kind: 'score', event, scores: body.scores });
    log('write.accepted', { seq: change.seq, kind: 'score', scoreEvent: event, teams: Object.keys(body.scores).length });
    return { ok: true, seq: change.seq, change };
  });

  const context: NodeContext = { replica, hub, storeClient, requireToken, requireOrigin, ticket };
  options.routes?.(app, context);
  // Every TCP connection costs a file descriptor, WebSocket or not: past the client cap
  // and room for peers and plain requests, Node closes new ones as soon as it accepts them.
  app.server.maxConnections = limits.totalMax + 1024;

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


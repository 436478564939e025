import Fastify, { type FastifyInstance } from 'fastify';
import type { DispatcherConfig } from '../config.js';
import { Errors, OlympixError } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import { httpServerOptions } from '../http-options.js';
import type { Log } from '../log.js';
import { NodeDirectory, type NodeReport } from './node-directory.js';
import { buildWebAssets } from './web-assets.js';

// The dispatcher: serves the pages and tells each page which node to connect to.
// It learns every node's load and health by asking each node's /api/health several
// times a second, as a load balancer's health check does; a node that does not
// answer is out of the rotation at once.

/** The longest `exclude` list /api/assign reads. */
const EXCLUDE_MAX_CHARS = 1000;
const MEMBER_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface DispatcherOptions {
  config: DispatcherConfig;
  log: Log;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** Test seam: how a node's health is fetched. */
  fetchHealth?: (url: string, timeoutMs: number) => Promise<NodeReport>;
  /** How long the cluster supervisor has to answer a proxied control (a restart waits for the exit). Default 15,000. */
  controlTimeoutMs?: number;
}

export interface Dispatcher {
  app: FastifyInstance;
  directory: NodeDirectory;
  /** Polls every node once; resolves when all answered or failed. */
  pollOnce(): Promise<void>;
  close(): Promise<void>;
}

async function defaultFetchHealth(url: string, timeoutMs: number): Promise<NodeReport> {
  const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`status ${response.status}`);
  const body = (await response.json()) as { clients?: unknown; ready?: unknown; store?: unknown };
  if (typeof body.clients !== 'number' || typeof body.ready !== 'boolean') throw new Error('malformed health report');
  return { clients: body.clients, ready: body.ready, storeUp: body.store === 'up' };
}

export async function buildDispatcher(options: DispatcherOptions): Promise<Dispatcher> {
  const { config, log } = options;
  const directory = new NodeDirectory(config.nodes);
  const fetchHealth = options.fetchHealth ?? defaultFetchHealth;
  const healthTimeoutMs = options.healthTimeoutMs ?? 500;
  const assets = await buildWebAssets();

  const pollOnce = async (): Promise<void> => {
    await Promise.all(
      directory.entries().map(async (node) => {
        const requestedMs = performance.now();
        try {
          const report = await fetchHealth(node.http, healthTimeoutMs);
          const wasUsable = node.healthy && node.ready;
          directory.report(node.id, report, requestedMs, performance.now());
          if (!wasUsable && report.ready) log('node.healthy', { node: node.id, clients: report.clients });
        } catch (error) {
          if (directory.failed(node.id)) log('node.unhealthy', { node: node.id, error: String((error as Error).message ?? error) });
        }
      }),
    );
  };
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    void pollOnce().finally(() => (polling = false));
  }, options.healthIntervalMs ?? 200);

  const nodeOrigins = config.nodes.flatMap((node) => [node.url, node.url.replace(/^http/, 'ws')]).join(' ');
  const app = Fastify({ ...httpServerOptions, bodyLimit: 1024 });
  installErrorHandler(app, log);
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    return payload;
  });

  app.get('/api/assign', async (request) => {
    const query = request.query as Record<string, unknown>;
    const exclude = new Set<string>();
    if (query.exclude !== undefined) {
      // One comma-separated list of node ids, of bounded length. Ids the dispatcher does
      // not know are ignored (a page may remember a node that is gone), and never logged:
      // only what the directory knows reaches the log.
      if (typeof query.exclude !== 'string' || query.exclude.length > EXCLUDE_MAX_CHARS) {
        throw Errors.badParameter(`exclude must be one comma-separated list of node ids, at most ${EXCLUDE_MAX_CHARS} characters`);
      }
      for (const id of query.exclude.split(',')) {
        if (id === '') continue;
        if (!MEMBER_ID.test(id)) throw Errors.badParameter('exclude must list node ids (1-64 characters of A-Z a-z 0-9 . _ -)');
        if (directory.get(id)) exclude.add(id);
      }
    }
    const node = directory.choose(exclude, performance.now());
    if (!node) throw Errors.noNode();
    log('client.assigned', { node: node.id, load: directory.load(node), excluded: [...exclude] });
    return { node: node.id, http: node.http, ws: node.ws, clients: node.clients };
  });
  app.get('/api/nodes', async () =>
    directory.entries().map((node) => ({
      id: node.id,
      http: node.http,
      healthy: node.healthy,
      ready: node.ready,
      storeUp: node.storeUp,
      clients: node.clients,
      load: directory.load(node),
      assigned: node.assignedTotal,
    })),
  );
  app.get('/api/health', async () => ({ role: 'dispatcher', nodes: directory.entries().filter((node) => node.healthy).length }));

  registerControlProxy(app, config.control, options.controlTimeoutMs ?? 15_000, log);

  for (const [path, asset] of assets) {
    app.get(path, async (_request, reply) => {
      reply.header('content-type', asset.contentType);
      if (asset.contentType.startsWith('text/html')) {
        reply.header(
          'content-security-policy',
          `default-src 'self'; connect-src 'self' ${nodeOrigins}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'`,
        );
        reply.header('cache-control', 'no-cache');
      }
      return reply.send(asset.body);
    });
  }

  return {
    app,
    directory,
    pollOnce,
    async close() {
      clearInterval(timer);
      await app.close();
    },
  };
}

/**
 * The fault controls, proxied to the cluster supervisor (--control) so that the
 * cluster page calls its own origin: method, body, content type and Authorization go
 * through untouched, status and body come back. The supervisor checks the token.
 * Bodies are read as text in this scope only, so that the supervisor's own schema
 * errors reach the page as they are.
 */
function registerControlProxy(app: FastifyInstance, control: string | null, timeoutMs: number, log: Log): void {
  const PREFIX = '/api/control/';
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.route({
      method: ['GET', 'POST'],
      url: `${PREFIX}*`,
      handler: async (request, reply) => {
        if (control === null) {
          throw new OlympixError('OLX_NO_CONTROL', 503, 'no cluster supervisor behind this dispatcher: fault controls need `olympix cluster` (or --control URL)');
        }
        // Only the path (and query) of the request is forwarded, to the supervisor's
        // origin: an absolute-form request line ("GET http://elsewhere/...") must not
        // make the dispatcher fetch another host. A path that normalises out of
        // /api/control/ (dot segments) is not forwarded either.
        const base = new URL(control);
        const requested = new URL(request.url, 'http://dispatcher.invalid');
        const target = new URL(requested.pathname + requested.search, base);
        if (target.origin !== base.origin || !target.pathname.startsWith(PREFIX)) {
          throw Errors.notFound(`route ${request.method} ${requested.pathname}`);
        }
        const headers: Record<string, string> = {};
        const contentType = request.headers['content-type'];
        if (typeof contentType === 'string') headers['content-type'] = contentType;
        if (typeof request.headers.authorization === 'string') headers.authorization = request.headers.authorization;
        let response: Response;
        let text: string;
        try {
          response = await fetch(target, {
            method: request.method,
            headers,
            ...(request.method === 'POST' ? { body: typeof request.body === 'string' ? request.body : '' } : {}),
            signal: AbortSignal.timeout(timeoutMs),
          });
          text = await response.text();
        } catch (error) {
          const reason = (error as Error).message ?? String(error);
          log('control.unreachable', { url: target.origin, error: reason });
          // 502 is not among statusText()'s entries: the reply is made here, in the same shape.
          return reply.code(502).send({
            statusCode: 502,
            error: 'Bad Gateway',
            code: 'OLX_CONTROL_UNREACHABLE',
            message: `the cluster supervisor at ${target.origin} did not answer: ${reason}`,
          });
        }
        reply.code(response.status);
        reply.header('content-type', response.headers.get('content-type') ?? 'application/json; charset=utf-8');
        reply.header('cache-control', 'no-store');
        return reply.send(text);
      },
    });
  });
}

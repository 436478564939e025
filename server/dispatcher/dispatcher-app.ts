import Fastify, { type FastifyInstance } from 'fastify';
import type { DispatcherConfig } from '../config.js';
import { Errors, OlympixError } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import type { Log } from '../log.js';
import { NodeDirectory } from './node-directory.js';
import { buildWebAssets } from './web-assets.js';

// The dispatcher: serves the pages and tells each page which node to connect to.
// It learns every node's load and health by asking each node's /api/health several
// times a second, as a load balancer's health check does; a node that does not
// answer is out of the rotation at once.

export interface DispatcherOptions {
  config: DispatcherConfig;
  log: Log;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** Test seam: how a node's health is fetched. */
  fetchHealth?: (url: string, timeoutMs: number) => Promise<{ clients: number; ready: boolean }>;
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

async function defaultFetchHealth(url: string, timeoutMs: number): Promise<{ clients: number; ready: boolean }> {
  const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`status ${response.status}`);
  const body = (await response.json()) as { clients?: unknown; ready?: unknown };
  if (typeof body.clients !== 'number' || typeof body.ready !== 'boolean') throw new Error('malformed health report');
  return { clients: body.clients, ready: body.ready };
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
  const app = Fastify({ logger: false, bodyLimit: 1024 });
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
      if (typeof query.exclude !== 'string' || query.exclude.length > 1000) throw Errors.badParameter('exclude must be a comma-separated list of node ids');
      for (const id of query.exclude.split(',')) if (id) exclude.add(id);
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
        const target = new URL(request.url, control);
        // A path that normalises out of /api/control/ (dot segments) is not forwarded.
        if (!target.pathname.startsWith(PREFIX)) throw Errors.notFound(`route ${request.method} ${target.pathname}`);
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

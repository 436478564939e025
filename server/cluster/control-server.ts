import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { bearerToken, secretsEqual } from '../auth.js';
import { Errors, OlympixError } from '../errors.js';
import { installErrorHandler } from '../http-errors.js';
import { httpServerOptions } from '../http-options.js';
import type { Log } from '../log.js';
import type { ProcessSpec } from './topology.js';

// The cluster supervisor's fault controls, for the cluster view, the browser tests and
// scripts: list the processes, stop one (SIGKILL, and it stays down), start it again,
// restart it, cut a member off from its peers and heal it, put a member's clock off.
// The last two are forwarded to the member's own control route with the same token.
// It listens on loopback only; the dispatcher proxies /api/control/* to it so that the
// cluster page calls its own origin. Every route needs the write token.

/** What the control server needs of a supervised child (ManagedProcess has it). */
export interface ControlledProcess {
  readonly spec: ProcessSpec;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stopped on request and not started since. */
  readonly held: boolean;
  readonly restarts: number;
  readonly uptimeMs: number | null;
  /** SIGKILL without restarting; resolves on exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs; resolves on exit. */
  stop(graceMs?: number): Promise<void>;
  /** Starts it again (counted as a restart). */
  startAgain(): void;
}

const MemberName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' });
export const MemberControlBody = Type.Object({ member: MemberName }, { additionalProperties: false });
export const PartitionControlBody = Type.Object({ member: MemberName, cut: Type.Boolean() }, { additionalProperties: false });
export const ClockSkewControlBody = Type.Object(
  { member: MemberName, deltaMs: Type.Number({ minimum: -60_000, maximum: 60_000 }) },
  { additionalProperties: false },
);
export type MemberControlBody = Static<typeof MemberControlBody>;
export type PartitionControlBody = Static<typeof PartitionControlBody>;
export type ClockSkewControlBody = Static<typeof ClockSkewControlBody>;

/** One process as GET /api/control/processes lists it. */
export interface ProcessReport {
  name: string;
  role: ProcessSpec['role'];
  url: string;
  pid: number | null;
  running: boolean;
  /** running, stopped (on request: it stays down until started), or restarting (died; the supervisor starts it again). */
  state: 'running' | 'stopped' | 'restarting';
  restarts: number;
  uptimeMs: number | null;
}

export interface ControlServerOptions {
  /** The supervised processes by name; read at each request, so it may be filled after the build. */
  processes: ReadonlyMap<string, ControlledProcess>;
  token: string;
  log: Log;
  /** How long a member has to answer a forwarded control. Default 5,000. */
  forwardTimeoutMs?: number;
  /** SIGTERM grace of a restart before SIGKILL. Default 3,000. */
  restartGraceMs?: number;
  /** Test seam: how a control is forwarded to a member. */
  fetch?: typeof globalThis.fetch;
}

export const BAD_GATEWAY = 502;

/** 502 in the project's error shape; statusText() has no entry for it, so the reply is made here. */
function sendBadGateway(reply: FastifyReply, code: string, message: string): FastifyReply {
  return reply.code(BAD_GATEWAY).send({ statusCode: BAD_GATEWAY, error: 'Bad Gateway', code, message });
}

export function reportOf(child: ControlledProcess): ProcessReport {
  return {
    name: child.spec.name,
    role: child.spec.role,
    url: child.spec.url,
    pid: child.running ? (child.pid ?? null) : null,
    running: child.running,
    state: child.running ? 'running' : child.held ? 'stopped' : 'restarting',
    restarts: child.restarts,
    uptimeMs: child.uptimeMs === null ? null : Math.round(child.uptimeMs),
  };
}

export async function buildControlServer(options: ControlServerOptions): Promise<FastifyInstance> {
  const { processes, token, log } = options;
  const fetchMember = options.fetch ?? globalThis.fetch;
  const forwardTimeoutMs = options.forwardTimeoutMs ?? 5_000;
  const restartGraceMs = options.restartGraceMs ?? 3_000;

  const app = Fastify({ ...httpServerOptions, bodyLimit: 1024 });
  installErrorHandler(app, log);
  app.removeContentTypeParser('text/plain');

  // Every route, the listing included: pids and URLs are the operator's business.
  app.addHook('onRequest', async (request) => {
    const given = bearerToken(request.headers.authorization);
    if (given === null) throw Errors.missingToken();
    if (!secretsEqual(given, token)) throw Errors.wrongToken();
  });

  const processOf = (name: string): ControlledProcess => {
    const child = processes.get(name);
    if (!child) throw new OlympixError('OLX_NOT_FOUND', 404, `unknown member "${name}"; the cluster's processes are ${[...processes.keys()].join(', ')}`);
    return child;
  };
  /** The store and the nodes have peer links and a synchronised clock; the dispatcher has neither. */
  const memberOf = (name: string): ControlledProcess => {
    const child = processOf(name);
    if (child.spec.role === 'dispatcher') throw Errors.conflict(`${name} has no peer links and no synchronised clock; only the store and the nodes do`);
    if (!child.running) throw Errors.conflict(`${name} is not running; start it first`);
    return child;
  };

  /** POSTs a control to a member's own route with the token; passes its status and body back. */
  const forward = async (reply: FastifyReply, child: ControlledProcess, path: string, body: unknown, event: string, fields: Record<string, unknown>) => {
    const url = `${child.spec.url}${path}`;
    let status: number;
    let answer: unknown;
    try {
      const response = await fetchMember(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(forwardTimeoutMs),
      });
      status = response.status;
      const text = await response.text();
      try {
        answer = JSON.parse(text);
      } catch {
        answer = { message: text.slice(0, 500) };
      }
    } catch (error) {
      const reason = (error as Error).message ?? String(error);
      log(`${event}-failed`, { member: child.spec.name, ...fields, error: reason });
      return sendBadGateway(reply, 'OLX_MEMBER_UNREACHABLE', `${child.spec.name} did not answer at ${url}: ${reason}`);
    }
    log(event, { member: child.spec.name, ...fields, status });
    const payload = status < 300 && answer !== null && typeof answer === 'object' ? { member: child.spec.name, ...(answer as object) } : answer;
    return reply.code(status).send(payload);
  };

  app.get('/api/control/processes', async () => [...processes.values()].map(reportOf));

  app.post('/api/control/stop', { schema: { body: MemberControlBody } }, async (request: FastifyRequest) => {
    const { member } = request.body as MemberControlBody;
    const child = processOf(member);
    if (child.held) throw Errors.conflict(`${member} is stopped already`);
    const pid = child.pid ?? null;
    await child.kill('SIGKILL');
    log('control.stop', { member, pid, signal: 'SIGKILL' });
    return { ok: true, member, stoppedPid: pid, process: reportOf(child) };
  });

  app.post('/api/control/start', { schema: { body: MemberControlBody } }, async (request: FastifyRequest) => {
    const { member } = request.body as MemberControlBody;
    const child = processOf(member);
    if (child.running) throw Errors.conflict(`${member} is running already (pid ${child.pid ?? '?'})`);
    child.startAgain();
    log('control.start', { member, pid: child.pid ?? null });
    return { ok: true, member, process: reportOf(child) };
  });

  app.post('/api/control/restart', { schema: { body: MemberControlBody } }, async (request: FastifyRequest) => {
    const { member } = request.body as MemberControlBody;
    const child = processOf(member);
    const stoppedPid = child.running ? (child.pid ?? null) : null;
    if (child.running) await child.stop(restartGraceMs);
    // Another control may have started it while this one waited for the exit.
    if (child.running) throw Errors.conflict(`${member} was started by another control meanwhile`);
    child.startAgain();
    log('control.restart', { member, stoppedPid, pid: child.pid ?? null });
    return { ok: true, member, stoppedPid, process: reportOf(child) };
  });

  app.post('/api/control/partition', { schema: { body: PartitionControlBody } }, async (request: FastifyRequest, reply) => {
    const { member, cut } = request.body as PartitionControlBody;
    return forward(reply, memberOf(member), '/api/control/partition', { cut }, 'control.partition', { cut });
  });

  app.post('/api/control/clock-skew', { schema: { body: ClockSkewControlBody } }, async (request: FastifyRequest, reply) => {
    const { member, deltaMs } = request.body as ClockSkewControlBody;
    return forward(reply, memberOf(member), '/api/control/clock-skew', { deltaMs }, 'control.clock-skew', { deltaMs });
  });

  return app;
}

export interface RunningControlServer {
  url: string;
  close(): Promise<void>;
}

/** Builds the control server and listens on host:port (loopback). */
export async function startControlServer(options: ControlServerOptions & { host: string; port: number }): Promise<RunningControlServer> {
  const app = await buildControlServer(options);
  await app.listen({ host: options.host, port: options.port });
  const url = `http://${options.host}:${options.port}`;
  options.log('control.listening', { url });
  return { url, close: () => app.close() };
}

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerToken, secretsEqual } from '../../server/auth.js';

// The write path of the reference servers, equivalent to a node's: POST
// /api/scores/:event with the bearer token and a JSON body {"scores": {...}} gets the
// next sequence number and the change is broadcast to the event's topic; the answer
// is olympix's {"ok":true,"seq":…,"change":{…}}. No store, no disk: the references
// show what the WebSocket layer alone costs. GET /api/health counts the clients.

export interface ScoreChange {
  kind: 'score';
  seq: number;
  event: string;
  scores: Record<string, number>;
  updatedAt: number;
  node: string;
}

export interface ReferenceHttpOptions {
  node: string;
  token: string;
  clients: () => number;
  /** Sends the change to every subscriber of score:<event>. */
  broadcast: (topic: string, message: { type: 'change'; epoch: string; change: ScoreChange }) => void;
}

const BODY_MAX_BYTES = 16 * 1024;

/** Wall time in ms with a fraction, as olympix's system clock: the time origin plus the monotonic counter. */
const wallClockMs = (): number => performance.timeOrigin + performance.now();

export function referenceHttpHandler(options: ReferenceHttpOptions): (request: IncomingMessage, response: ServerResponse) => void {
  const epoch = `${options.node}-${randomBytes(6).toString('hex')}`;
  let seq = 0;
  const answer = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
  return (request, response) => {
    const url = request.url ?? '/';
    if (request.method === 'GET' && url === '/api/health') {
      // As a node's health: the clock that stamps updatedAt and CLOCK_MONOTONIC read at the same instant.
      return answer(response, 200, { node: options.node, clients: options.clients(), seq, clock: { nowMs: wallClockMs(), monotonicMs: Number(process.hrtime.bigint()) / 1e6 } });
    }
    const match = /^\/api\/scores\/([^/?]+)$/.exec(url);
    if (request.method !== 'POST' || !match) return answer(response, 404, { statusCode: 404, code: 'OLX_NOT_FOUND', message: 'not found' });
    const token = bearerToken(request.headers.authorization);
    if (token === null) return answer(response, 401, { statusCode: 401, code: 'OLX_MISSING_TOKEN', message: 'no bearer token' });
    if (!secretsEqual(token, options.token)) return answer(response, 403, { statusCode: 403, code: 'OLX_WRONG_TOKEN', message: 'wrong token' });
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_MAX_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > BODY_MAX_BYTES) return answer(response, 413, { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'body too large' });
      let scores: Record<string, number>;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { scores?: unknown };
        if (typeof body.scores !== 'object' || body.scores === null) throw new Error('body/scores must be an object');
        for (const value of Object.values(body.scores)) if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error('scores must be numbers');
        scores = body.scores as Record<string, number>;
      } catch (error) {
        return answer(response, 400, { statusCode: 400, code: 'OLX_BAD_BODY', message: (error as Error).message });
      }
      const event = decodeURIComponent(match[1]!);
      // updatedAt is the moment the write is accepted, on the clock /api/health reports, as a node stamps it.
      const change: ScoreChange = { kind: 'score', seq: ++seq, event, scores, updatedAt: wallClockMs(), node: options.node };
      options.broadcast(`score:${event}`, { type: 'change', epoch, change });
      answer(response, 200, { ok: true, seq: change.seq, change });
    });
  };
}

/** Makes the process collectable on demand (SIGUSR2 with --expose-gc), stoppable by SIGTERM, and mortal with the bench. */
export function installProcessHooks(stop: () => void): void {
  process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by the bench: stop when the bench's end of stdin closes, so that no server outlives it.
  if (process.env.BENCH_SUPERVISED === '1') {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}

export function parsePort(args: string[]): number {
  const index = args.indexOf('--port');
  return index >= 0 ? Number(args[index + 1]) : 0;
}

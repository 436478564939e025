// The cluster page's fault controls and side reads: POST /api/control/<action> with
// the bearer token through the dispatcher (same origin), and turn the answer into a
// line the page can show: what was done, or the server's own error text.

// The named Check (not the Value namespace) lets the bundler drop the rest of TypeBox's value module.
import { Check } from '@sinclair/typebox/value';
import { HttpError } from '../../shared/client-protocol.js';

export const CONTROL_TIMEOUT_MS = 20_000;

export type ControlAction = 'stop' | 'start' | 'restart' | 'partition' | 'clock-skew';

export type ControlResult =
  | { readonly ok: true; readonly status: number; readonly body: Record<string, unknown> }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

export interface ControlResponse {
  readonly ok: boolean;
  readonly status: number;
  text(): Promise<string>;
}
export type ControlFetch = (
  url: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<ControlResponse>;

/** One process as the supervisor lists it (server/cluster/control-server.ts, ProcessReport). */
export interface ProcessInfo {
  name: string;
  role: 'dispatcher' | 'store' | 'node';
  url: string;
  pid: number | null;
  running: boolean;
  state: 'running' | 'stopped' | 'restarting';
  restarts: number;
  uptimeMs: number | null;
}

/** One node as the dispatcher sees it (GET /api/nodes). */
export interface DispatcherNodeInfo {
  id: string;
  http: string;
  healthy: boolean;
  ready: boolean;
  clients: number;
  load: number;
  assigned: number;
}

async function call(fetchControl: ControlFetch, url: string, method: 'GET' | 'POST', token: string | null, body?: unknown): Promise<ControlResult> {
  const abort = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), CONTROL_TIMEOUT_MS) : null;
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: ControlResponse;
  let text: string;
  try {
    response = await fetchControl(url, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(abort ? { signal: abort.signal } : {}),
    });
    text = await response.text();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, status: 0, code: 'network', message: `could not reach the dispatcher (${reason})` };
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok && parsed !== null && typeof parsed === 'object') {
    return { ok: true, status: response.status, body: parsed as Record<string, unknown> };
  }
  if (Check(HttpError, parsed)) return { ok: false, status: response.status, code: parsed.code, message: parsed.message };
  return {
    ok: false,
    status: response.status,
    code: `http-${response.status}`,
    message: response.ok ? 'an answer that is not JSON' : `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
  };
}

export function postControl(fetchControl: ControlFetch, action: ControlAction, body: Record<string, unknown>, token: string): Promise<ControlResult> {
  return call(fetchControl, `/api/control/${action}`, 'POST', token, body);
}

export async function getProcesses(fetchControl: ControlFetch, token: string): Promise<{ ok: true; processes: ProcessInfo[] } | Extract<ControlResult, { ok: false }>> {
  const result = await call(fetchControl, '/api/control/processes', 'GET', token);
  if (!result.ok) return result;
  if (!Array.isArray(result.body)) return { ok: false, status: result.status, code: 'bad-answer', message: 'the process list is not a list' };
  return { ok: true, processes: result.body as unknown as ProcessInfo[] };
}

export async function getDispatcherNodes(fetchControl: ControlFetch): Promise<DispatcherNodeInfo[] | null> {
  const result = await call(fetchControl, '/api/nodes', 'GET', null);
  return result.ok && Array.isArray(result.body) ? (result.body as unknown as DispatcherNodeInfo[]) : null;
}

/** What the page says about a control that succeeded. */
export function describeControl(action: ControlAction, member: string, body: Record<string, unknown>): string {
  const child = body.process as Partial<ProcessInfo> | undefined;
  switch (action) {
    case 'stop':
      return `Stopped ${member} with SIGKILL${typeof body.stoppedPid === 'number' ? ` (pid ${body.stoppedPid})` : ''}; it stays down until you start it.`;
    case 'start':
      return `Started ${member}${typeof child?.pid === 'number' ? ` (pid ${child.pid})` : ''}; it rejoins once it is up.`;
    case 'restart':
      return `Restarted ${member}${typeof child?.pid === 'number' ? ` (pid ${child.pid})` : ''}.`;
    case 'partition':
      return body.cut === true
        ? `Cut ${member} off from all its peers: watch the others elect, change the view and carry on without it.`
        : `Healed ${member}'s links: it reconnects and rejoins the view.`;
    case 'clock-skew': {
      const delta = Number(body.deltaMs);
      const injected = Number(body.injectedSkewMs);
      const so = Number.isFinite(injected) ? ` (injected so far: ${Math.round(injected * 10) / 10} ms)` : '';
      // A system clock under the synchronised clock never goes backwards: a negative skew runs it at half speed until absorbed.
      const how = delta < 0 ? `; it runs at half speed for ${Math.abs(delta) * 2} ms to get there` : '';
      return `Moved ${member}'s system clock by ${delta > 0 ? '+' : ''}${delta} ms${so}${how}: watch Berkeley pull it back.`;
    }
  }
}

// The cauldron's writes: POST to the assigned node with the bearer token, and turn
// the answer into a result the form can show (the server's own error text on refusal).

// The named Check (not the Value namespace) lets the bundler drop the rest of TypeBox's value module: half the bundle.
import { Check } from '@sinclair/typebox/value';
import type { Change, Medal } from '../../shared/board.js';
import { HttpError, WriteAccepted, type MedalAwardBody, type ScoreSetBody } from '../../shared/client-protocol.js';

export type WriteResult =
  | { readonly ok: true; readonly seq: number; readonly change: Change }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

export interface WriteResponse {
  readonly ok: boolean;
  readonly status: number;
  text(): Promise<string>;
}
export type WriteFetch = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<WriteResponse>;

export const WRITE_TIMEOUT_MS = 10_000;

export function scoresUrl(nodeHttp: string, event: string): string {
  return `${nodeHttp.replace(/\/+$/, '')}/api/scores/${encodeURIComponent(event)}`;
}

export function medalsUrl(nodeHttp: string, team: string): string {
  return `${nodeHttp.replace(/\/+$/, '')}/api/medals/${encodeURIComponent(team)}`;
}

type Posted = { ok: true; status: number; parsed: unknown; text: string } | { ok: false; result: Extract<WriteResult, { ok: false }> };

/** POSTs JSON with the token; a network failure or timeout is already an error result. */
async function postJson(fetchWrite: WriteFetch, url: string, body: unknown, token: string): Promise<Posted> {
  const abort = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), WRITE_TIMEOUT_MS) : null;
  try {
    const response = await fetchWrite(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      ...(abort ? { signal: abort.signal } : {}),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { ok: response.ok, status: response.status, parsed, text } as Posted & { ok: true };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, result: { ok: false, status: 0, code: 'network', message: `could not reach the node (${reason}); try again` } };
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

function refusal(status: number, ok: boolean, parsed: unknown, text: string): Extract<WriteResult, { ok: false }> {
  if (Check(HttpError, parsed)) return { ok: false, status, code: parsed.code, message: parsed.message };
  return {
    ok: false,
    status,
    code: ok ? 'bad-answer' : `http-${status}`,
    message: ok ? 'the node answered something unexpected' : `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`,
  };
}

export async function postWrite(
  fetchWrite: WriteFetch,
  url: string,
  body: ScoreSetBody | MedalAwardBody,
  token: string,
): Promise<WriteResult> {
  const posted = await postJson(fetchWrite, url, body, token);
  if (!('parsed' in posted)) return posted.result;
  const { status, parsed, text } = posted;
  const ok = status >= 200 && status < 300;
  if (ok && Check(WriteAccepted, parsed)) return { ok: true, seq: parsed.seq, change: parsed.change };
  return refusal(status, ok, parsed, text);
}

export type RaffleActionResult = { ok: true; body: Record<string, unknown> } | Extract<WriteResult, { ok: false }>;

/** Closes the raffle (the draw) or starts a new round, on the assigned node. */
export async function postRaffleAction(fetchWrite: WriteFetch, nodeHttp: string, action: 'close' | 'reopen', token: string): Promise<RaffleActionResult> {
  const posted = await postJson(fetchWrite, `${nodeHttp.replace(/\/+$/, '')}/api/raffle/${action}`, {}, token);
  if (!('parsed' in posted)) return posted.result;
  const { status, parsed, text } = posted;
  const ok = status >= 200 && status < 300;
  if (ok && parsed !== null && typeof parsed === 'object' && (parsed as { ok?: unknown }).ok === true) return { ok: true, body: parsed as Record<string, unknown> };
  return refusal(status, ok, parsed, text);
}

export function scoreBody(scores: Record<string, number>): ScoreSetBody {
  return { scores };
}

export function medalBody(medal: Medal, delta: number): MedalAwardBody {
  return delta === 1 ? { medal } : { medal, delta };
}

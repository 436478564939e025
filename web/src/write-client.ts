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

export async function postWrite(
  fetchWrite: WriteFetch,
  url: string,
  body: ScoreSetBody | MedalAwardBody,
  token: string,
): Promise<WriteResult> {
  const abort = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = abort ? setTimeout(() => abort.abort(), WRITE_TIMEOUT_MS) : null;
  let response: WriteResponse;
  let text: string;
  try {
    response = await fetchWrite(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      ...(abort ? { signal: abort.signal } : {}),
    });
    text = await response.text();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, status: 0, code: 'network', message: `could not reach the node (${reason}); try again` };
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.ok && Check(WriteAccepted, parsed)) {
    return { ok: true, seq: parsed.seq, change: parsed.change };
  }
  if (Check(HttpError, parsed)) {
    return { ok: false, status: response.status, code: parsed.code, message: parsed.message };
  }
  return {
    ok: false,
    status: response.status,
    code: response.ok ? 'bad-answer' : `http-${response.status}`,
    message: response.ok ? 'the node answered something unexpected' : `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
  };
}

export function scoreBody(scores: Record<string, number>): ScoreSetBody {
  return { scores };
}

export function medalBody(medal: Medal, delta: number): MedalAwardBody {
  return delta === 1 ? { medal } : { medal, delta };
}

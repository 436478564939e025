// The cauldron form's checks before anything is sent: the same bounds the server's
// schemas enforce, so that a villager sees the problem next to the field at once.

import { SCORE_ABS_MAX } from '../../shared/board.js';

export type ScoreFormResult =
  | { readonly ok: true; readonly scores: Record<string, number> }
  | { readonly ok: false; readonly message: string; readonly fieldErrors: Record<string, string> };

/**
 * Reads one event's inputs (team -> raw text). Empty fields leave that team's score as
 * it is; at least one must be filled; each filled one must be a finite number within
 * the bounds. Decimal commas are accepted ("12,5").
 */
export function parseScoreForm(raw: ReadonlyArray<readonly [team: string, text: string]>): ScoreFormResult {
  const scores: Record<string, number> = {};
  const fieldErrors: Record<string, string> = {};
  for (const [team, text] of raw) {
    const trimmed = text.trim();
    if (trimmed === '') continue;
    const normalized = trimmed.replace(',', '.');
    const value = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(normalized) ? Number(normalized) : Number.NaN;
    if (!Number.isFinite(value)) {
      fieldErrors[team] = `${team}: "${trimmed}" is not a number`;
    } else if (Math.abs(value) > SCORE_ABS_MAX) {
      fieldErrors[team] = `${team}: must be between ${-SCORE_ABS_MAX} and ${SCORE_ABS_MAX}`;
    } else {
      scores[team] = value;
    }
  }
  const errors = Object.values(fieldErrors);
  if (errors.length > 0) return { ok: false, message: errors.join('; '), fieldErrors };
  if (Object.keys(scores).length === 0) return { ok: false, message: 'enter a score for at least one team', fieldErrors };
  return { ok: true, scores };
}

/** The token as it will be sent, or an error message. */
export function checkToken(text: string): { ok: true; token: string } | { ok: false; message: string } {
  const token = text.trim();
  if (token === '') return { ok: false, message: 'enter the write token printed by `npm start`' };
  if (token.length > 512) return { ok: false, message: 'that token is too long' };
  if (!/^[\x21-\x7e]+$/.test(token)) return { ok: false, message: 'the token has characters a token cannot have' };
  return { ok: true, token };
}

import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

// Validation at the edge of every process. The server compiles its schemas (see
// server/compile-schema.ts); the browser uses this interpreting checker, which needs
// no eval and so works under a strict Content-Security-Policy.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Describes the first problem found, naming the field: "/topics/0: Expected string". */
export function firstError(schema: TSchema, value: unknown): string {
  for (const error of Value.Errors(schema, value)) {
    return `${error.path || '(root)'}: ${error.message}`;
  }
  return 'invalid';
}

export function check<S extends TSchema>(schema: S, value: unknown): Parsed<Static<S>> {
  if (Value.Check(schema, value)) return { ok: true, value: value as Static<S> };
  return { ok: false, error: firstError(schema, value) };
}

/** Parses a JSON text frame and checks it against the schema. */
export function parseJson<S extends TSchema>(schema: S, text: string): Parsed<Static<S>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not valid JSON' };
  }
  return check(schema, value);
}

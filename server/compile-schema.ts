import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Parsed } from '../shared/validate.js';

// Server-side validators, compiled once per schema: several times faster than
// interpreting the schema on every message, which matters on the peer links.

export interface Validator<T> {
  check(value: unknown): Parsed<T>;
  parse(text: string): Parsed<T>;
}

/**
 * For a union of objects told apart by a literal `type` (every message union here),
 * the variant a value claims to be, so that an error names the field that is wrong in
 * that variant ("/topics: Expected array") rather than "Expected union value".
 */
function variantsByType(schema: TSchema): Map<string, TypeCheck<TSchema>> | null {
  const variants = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!variants) return null;
  const byType = new Map<string, TypeCheck<TSchema>>();
  const collect = (variant: TSchema): boolean => {
    const nested = (variant as { anyOf?: TSchema[] }).anyOf;
    if (nested) return nested.every(collect);
    const literal = (variant as { properties?: { type?: { const?: unknown } } }).properties?.type?.const;
    if (typeof literal !== 'string') return false;
    // Variants sharing a type (e.g. ok/error results) keep the first: still a field-level message.
    if (!byType.has(literal)) byType.set(literal, TypeCompiler.Compile(variant));
    return true;
  };
  return variants.every(collect) ? byType : null;
}

export function compileSchema<S extends TSchema>(schema: S): Validator<Static<S>> {
  const compiled = TypeCompiler.Compile(schema);
  const byType = variantsByType(schema);
  const describe = (value: unknown): string => {
    const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
    if (byType && typeof type === 'string') {
      const variant = byType.get(type);
      if (!variant) return `/type: unknown message type "${type.slice(0, 64)}"`;
      const first = variant.Errors(value).First();
      if (first) return `${first.path || '(root)'}: ${first.message}`;
    }
    const first = compiled.Errors(value).First();
    return first ? `${first.path || '(root)'}: ${first.message}` : 'invalid';
  };
  const check = (value: unknown): Parsed<Static<S>> =>
    compiled.Check(value) ? { ok: true, value: value as Static<S> } : { ok: false, error: describe(value) };
  return {
    check,
    parse(text: string) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return { ok: false, error: 'not valid JSON' };
      }
      return check(value);
    },
  };
}

import { createHash, timingSafeEqual } from 'node:crypto';

// Secrets are compared in constant time: both sides are hashed to equal-length
// digests first, so that neither the content nor the length leaks through timing.

export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token of an "Authorization: Bearer <token>" header, or null. */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Browsers send an Origin header; scripts and curl usually do not, and they are not
 * the cross-site threat an allow-list exists for. So: no Origin is allowed, an Origin
 * must be in the list, and "*" in the list allows every origin.
 */
export function originAllowed(origin: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined) return true;
  return allowed.has('*') || allowed.has(origin);
}

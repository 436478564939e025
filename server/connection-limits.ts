import { isIPv6 } from 'node:net';

// Caps on concurrent connections, so that one address (or everyone together) cannot
// hold more sockets, and the memory each one costs, than a node can afford. Pure
// bookkeeping: the caller admits a connection when it opens and releases it (once)
// when the socket is closed for good, so that the count follows the real resource (a
// socket that is closing still holds its buffers until it is gone).

/** Concurrent browser WebSockets one address may hold on one node. */
export const CLIENTS_PER_ADDRESS_MAX = 1000;
/** Concurrent browser WebSockets on one node, whatever their addresses. */
export const CLIENTS_MAX = 20_000;

export interface ConnectionLimitsOptions {
  perAddressMax?: number;
  totalMax?: number;
}

export type Admission =
  | { ok: true; address: string }
  | { ok: false; address: string; reason: 'per-address' | 'total'; count: number; max: number };

export class ConnectionLimits {
  readonly perAddressMax: number;
  readonly totalMax: number;
  private readonly byAddress = new Map<string, number>();
  private open = 0;

  constructor(options: ConnectionLimitsOptions = {}) {
    this.perAddressMax = options.perAddressMax ?? CLIENTS_PER_ADDRESS_MAX;
    this.totalMax = options.totalMax ?? CLIENTS_MAX;
    for (const [name, value] of [['perAddressMax', this.perAddressMax], ['totalMax', this.totalMax]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }

  /** Connections held now, in all. */
  get total(): number {
    return this.open;
  }

  /** Connections held now by the address (or the IPv6 /64) of `remoteAddress`. */
  countOf(remoteAddress: string | undefined): number {
    return this.byAddress.get(addressKey(remoteAddress)) ?? 0;
  }

  /**
   * Takes a slot for a new connection from `remoteAddress`, or says which cap refuses
   * it. Each admitted connection is released once, when its socket is closed for good
   * (no closure per connection: a node holds tens of thousands).
   */
  admit(remoteAddress: string | undefined): Admission {
    const address = addressKey(remoteAddress);
    const count = this.byAddress.get(address) ?? 0;
    if (this.open >= this.totalMax) return { ok: false, address, reason: 'total', count: this.open, max: this.totalMax };
    if (count >= this.perAddressMax) return { ok: false, address, reason: 'per-address', count, max: this.perAddressMax };
    this.byAddress.set(address, count + 1);
    this.open++;
    return { ok: true, address };
  }

  /** Gives back the slot of an admitted connection from `remoteAddress`. */
  release(remoteAddress: string | undefined): void {
    const address = addressKey(remoteAddress);
    const count = this.byAddress.get(address);
    if (count === undefined) return; // nothing held: never admitted, or released already
    this.open--;
    // An address with no connection left takes no memory: the map holds live addresses only.
    if (count <= 1) this.byAddress.delete(address);
    else this.byAddress.set(address, count - 1);
  }
}

/**
 * The key an address is counted under. IPv4 (also when mapped into IPv6, as a
 * dual-stack listener reports it) counts per address; IPv6 per /64, since one host or
 * one customer usually holds a whole /64 and could otherwise take a fresh address for
 * every connection.
 */
export function addressKey(remoteAddress: string | undefined): string {
  // A socket that has no address (an in-process test socket, one already gone) counts as one unknown address.
  const address = (remoteAddress ?? '').trim().toLowerCase() || 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address, without leading zeros ("2001:db8::1" -> 2001, db8, 0, ..., 1). */
function expandIPv6(address: string): string[] {
  const withoutZone = address.split('%', 1)[0]!;
  const [head, tail] = withoutZone.includes('::') ? withoutZone.split('::', 2) as [string, string] : [withoutZone, undefined];
  const parse = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4 was handled above; 64:ff9b::1.2.3.4 is not) counts as two hextets.
  const rightHextets = right.flatMap((part) => (part.includes('.') ? ['0', '0'] : [part]));
  const missing = 8 - left.length - rightHextets.length;
  const hextets = [...left, ...Array.from({ length: Math.max(0, missing) }, () => '0'), ...rightHextets];
  return hextets.map((hextet) => (Number.parseInt(hextet, 16) || 0).toString(16));
}

/**
 * Log lines about refused connections, at most `linesPerWindow` per key (an address)
 * per window: a flood of refusals must not become a flood of log lines. The line that
 * opens a new window says how many were left out of the last one.
 */
export class RefusalLog {
  private readonly windows = new Map<string, { startMs: number; count: number; suppressed: number }>();

  constructor(
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
    private readonly nowMs: () => number,
    private readonly windowMs = 10_000,
    private readonly linesPerWindow = 5,
    private readonly keysMax = 1000,
  ) {}

  note(key: string, event: string, fields: Record<string, unknown>): void {
    const nowMs = this.nowMs();
    let window = this.windows.get(key);
    if (window === undefined || nowMs - window.startMs > this.windowMs) {
      const suppressed = window?.suppressed ?? 0;
      // Bound the map: each new address would otherwise add an entry.
      if (window === undefined && this.windows.size >= this.keysMax) this.windows.clear();
      window = { startMs: nowMs, count: 0, suppressed: 0 };
      this.windows.set(key, window);
      if (suppressed > 0) fields = { ...fields, suppressed };
    }
    if (window.count >= this.linesPerWindow) {
      window.suppressed++;
      return;
    }
    window.count++;
    this.log(event, fields);
  }
}

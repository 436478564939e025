// The peer mesh: one persistent, authenticated WebSocket link to every other member of
// the cluster. The member with the smaller id dials, the other accepts, so that each
// pair has exactly one link. The mesh carries JSON messages and knows nothing of their
// content: the owner passes `parse`, which validates a frame against the shared schemas.
// See docs/PEER-LINKS.md for the handshake, heartbeats, reconnects, limits and close codes.

import { EventEmitter } from 'node:events';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { MemberId } from '../algorithms/machine.js';
import { backoffDelayMs, makeBackoffPolicy, type BackoffPolicy } from './backoff.js';
import { PeerCloseCode, PeerLink, type ParseResult, type PeerLogger } from './peer-link.js';

export { PeerCloseCode, type ParseResult, type PeerLogger } from './peer-link.js';

/** Handshake headers, in lower case as node:http presents them. */
export const PeerHeader = {
  authorization: 'authorization',
  member: 'x-olympix-member',
  protocol: 'x-olympix-protocol',
  /** A random value from the dialler, so that the accepting side's proof cannot be replayed. */
  nonce: 'x-olympix-nonce',
  /** HMAC of the nonce and both ids with the cluster secret: the accepting side knows the secret too. */
  proof: 'x-olympix-proof',
} as const;

export interface PeerAddress {
  readonly id: MemberId;
  /** Where the peer accepts links, e.g. ws://127.0.0.1:4101/peer. Only dialled if our id is the smaller. */
  readonly url: string;
}

export interface PeerMeshOptions<M> {
  readonly selfId: MemberId;
  /** Every other member of the cluster (selfId, if listed, is skipped). */
  readonly peers: readonly PeerAddress[];
  /** The cluster secret; compared in constant time, never logged, never put in a URL. */
  readonly secret: string;
  /** Both sides of a link must speak the same version; otherwise the handshake is refused with 426. */
  readonly protocolVersion: number;
  /** Validates one received text frame. A message that fails is not delivered. */
  readonly parse: (text: string) => ParseResult<M>;
  readonly log: PeerLogger;
  /** Interval between pings; default 500. */
  readonly heartbeatMs?: number;
  /** A peer silent (no message, ping or pong) for longer than this is declared dead; default 1500. */
  readonly deadAfterMs?: number;
  /** Reconnect delays of the dialling side; default { initialMs: 50, maxMs: 2000, jitter: 0.5 }. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** send() refuses a message when the bytes waiting on the link would pass this; default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** The largest frame sent or accepted; default 4 MiB. */
  readonly maxPayloadBytes?: number;
  /** More than `count` invalid messages within `windowMs` closes the link with 4400; default 10 in 10 s. */
  readonly invalidBudget?: { readonly count: number; readonly windowMs: number };
  /** Time allowed for a dial's opening handshake; default deadAfterMs. */
  readonly handshakeTimeoutMs?: number;
  /** Monotonic time in ms; default performance.now. */
  readonly nowMs?: () => number;
  /** Random draws in [0, 1) for the backoff jitter; default Math.random. */
  readonly random?: () => number;
}

export type LinkState = 'up' | 'connecting' | 'down';

export interface LinkInfo {
  readonly state: LinkState;
  /** Wall-clock time (ms since the epoch) of the last state change. */
  readonly since: number;
  /** The last measured ping round trip of the current link. */
  readonly rttMs?: number;
  /** How many times the link came up again after its first time up. */
  readonly reconnects: number;
  /** True if this process dials the peer, false if it waits for the peer to dial. */
  readonly dials: boolean;
  /** Cut by cut(): no link until heal(). */
  readonly cut: boolean;
  /** Messages from this peer that failed parse, over the life of the mesh. */
  readonly invalidMessages: number;
  /** send()/broadcast() calls refused because the link was over its buffer bound, over the life of the mesh. */
  readonly sendsRefused: number;
  /** The reason the link last went down or a dial last failed. */
  readonly lastError?: string;
}

export type AuthenticateResult =
  | { ok: true; member: MemberId }
  | { ok: false; status: 401 | 403 | 426 | 503; reason: string };

export type PeerMeshEvents<M> = {
  up: [peer: MemberId];
  down: [peer: MemberId, reason: string];
  message: [peer: MemberId, message: M];
};

interface Slot<M> {
  readonly id: MemberId;
  readonly url: string;
  readonly dials: boolean;
  state: LinkState;
  sinceWallMs: number;
  link: PeerLink<M> | undefined;
  dialSocket: WebSocket | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  attempt: number;
  reconnects: number;
  everUp: boolean;
  cut: boolean;
  invalidMessages: number;
  sendsRefused: number;
  lastError: string | undefined;
}

const mebibyte = 1024 * 1024;
const logWindowMs = 10_000;
const logsPerWindow = 5;

export class PeerMesh<M> extends EventEmitter<PeerMeshEvents<M>> {
  readonly selfId: MemberId;
  readonly protocolVersion: number;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly maxBufferedBytes: number;
  readonly maxPayloadBytes: number;

  private readonly slots = new Map<MemberId, Slot<M>>();
  private readonly secretDigest: Buffer;
  private readonly secret: string;
  private readonly parse: (text: string) => ParseResult<M>;
  private readonly logSink: PeerLogger;
  private readonly backoff: BackoffPolicy;
  private readonly invalidBudget: { readonly count: number; readonly windowMs: number };
  private readonly handshakeTimeoutMs: number;
  private readonly nowMs: () => number;
  private readonly random: () => number;
  private readonly logWindows = new Map<string, { startMs: number; count: number; suppressed: number }>();
  private phase: 'new' | 'running' | 'closing' | 'closed' = 'new';
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastHeartbeatMs = 0;
  private closing: Promise<void> | undefined;

  constructor(options: PeerMeshOptions<M>) {
    super();
    this.selfId = options.selfId;
    this.protocolVersion = options.protocolVersion;
    this.heartbeatMs = options.heartbeatMs ?? 500;
    this.deadAfterMs = options.deadAfterMs ?? 1500;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * mebibyte;
    this.maxPayloadBytes = options.maxPayloadBytes ?? 4 * mebibyte;
    this.invalidBudget = options.invalidBudget ?? { count: 10, windowMs: 10_000 };
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? this.deadAfterMs;
    this.backoff = makeBackoffPolicy(options.backoff);
    this.parse = options.parse;
    this.logSink = options.log;
    this.nowMs = options.nowMs ?? (() => performance.now());
    this.random = options.random ?? Math.random;

    assertMemberId(this.selfId, 'selfId');
    if (!Number.isInteger(this.protocolVersion) || this.protocolVersion < 0) {
      throw new RangeError(`protocolVersion must be a non-negative integer, got ${this.protocolVersion}`);
    }
    // The secret travels in an HTTP header, so it must be printable ASCII without spaces.
    if (typeof options.secret !== 'string' || !/^[\x21-\x7e]{16,}$/.test(options.secret)) {
      throw new RangeError('the cluster secret must be at least 16 printable ASCII characters without spaces');
    }
    this.secret = options.secret;
    this.secretDigest = sha256(options.secret);
    for (const [name, value] of [['heartbeatMs', this.heartbeatMs], ['deadAfterMs', this.deadAfterMs], ['maxBufferedBytes', this.maxBufferedBytes], ['maxPayloadBytes', this.maxPayloadBytes], ['handshakeTimeoutMs', this.handshakeTimeoutMs]] as const) {
      if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
    }
    if (this.deadAfterMs <= this.heartbeatMs) {
      throw new RangeError(`deadAfterMs (${this.deadAfterMs}) must be longer than heartbeatMs (${this.heartbeatMs}), or every link would flap`);
    }

    const wallMs = Date.now();
    for (const peer of options.peers) {
      if (peer.id === this.selfId) continue;
      assertMemberId(peer.id, 'peer id');
      if (this.slots.has(peer.id)) throw new Error(`peer ${peer.id} is listed twice`);
      const dials = this.selfId < peer.id;
      if (dials && !/^wss?:\/\//.test(peer.url)) throw new Error(`peer ${peer.id} needs a ws:// or wss:// url, got ${JSON.stringify(peer.url)}`);
      this.slots.set(peer.id, {
        id: peer.id, url: peer.url, dials, state: 'down', sinceWallMs: wallMs,
        link: undefined, dialSocket: undefined, retryTimer: undefined, attempt: 0, reconnects: 0,
        everUp: false, cut: false, invalidMessages: 0, sendsRefused: 0, lastError: undefined,
      });
    }
  }

  /** The members this mesh knows, other than itself. */
  get peerIds(): MemberId[] {
    return [...this.slots.keys()];
  }

  /** Starts the heartbeat and dials every peer whose id is larger than ours. Attach listeners first. */
  start(): void {
    if (this.phase !== 'new') throw new Error(`PeerMesh.start() called twice or after close (phase ${this.phase})`);
    this.phase = 'running';
    this.lastHeartbeatMs = this.nowMs();
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.heartbeatTimer.unref();
    for (const slot of this.slots.values()) {
      if (slot.dials) this.dial(slot);
    }
  }

  /**
   * Checks an upgrade request's headers before the upgrade. Order: the secret (401),
   * then the member (403), then the protocol version (426), then whether the mesh takes
   * links now (503: not started, closing, or the link is cut). Refusals are logged,
   * without the secret. Call it again from the upgrade handler to get the member.
   */
  authenticate(headers: IncomingHttpHeaders, remoteAddress?: string): AuthenticateResult {
    const result = this.check(headers);
    if (!result.ok) {
      const member = singleHeader(headers[PeerHeader.member]);
      this.logLimited(`refused:${remoteAddress ?? ''}`, 'mesh.refused', {
        status: result.status,
        reason: result.reason,
        // The claimed id is attacker-controlled: log a bounded, printable prefix of it.
        member: member === undefined ? undefined : member.slice(0, 64).replace(/[^\x20-\x7e]/g, '?'),
        remoteAddress,
      });
    }
    return result;
  }

  /**
   * Extra header lines for the 101 response of an authenticated peer upgrade: our id and
   * an HMAC proof that we hold the secret too, which the dialler checks. Returns [] for
   * any request that does not authenticate (other routes, refused peers).
   */
  upgradeResponseHeaders(request: Pick<IncomingMessage, 'headers'>): string[] {
    const result = this.check(request.headers);
    const nonce = singleHeader(request.headers[PeerHeader.nonce]);
    if (!result.ok || nonce === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) return [];
    return [
      `${PeerHeader.member}: ${this.selfId}`,
      `${PeerHeader.protocol}: ${this.protocolVersion}`,
      `${PeerHeader.proof}: ${this.proof(this.selfId, result.member, nonce)}`,
    ];
  }

  /**
   * Adopts a socket accepted for `member` (after authenticate() said ok). Attaches its
   * listeners synchronously. A link this member already had is closed with 4409: the
   * peer dialled again, so it no longer uses the old one.
   */
  accept(socket: WebSocket, member: MemberId): void {
    const slot = this.slots.get(member);
    if (slot === undefined || slot.dials) {
      // authenticate() refuses these; reaching here is a wiring mistake, so say it loudly.
      socket.close(PeerCloseCode.wrongPeer, 'not accepted from this member');
      throw new Error(`PeerMesh.accept(): ${member} is not a member that dials ${this.selfId}; call authenticate() first`);
    }
    if (this.phase !== 'running') {
      socket.close(PeerCloseCode.goingAway, 'mesh not running');
      return;
    }
    if (slot.cut) {
      socket.close(PeerCloseCode.cut, 'link cut');
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) {
      this.log('mesh.accept-closed-socket', { peer: member, readyState: socket.readyState });
      return;
    }
    this.adopt(slot, socket, 'accept');
  }

  /**
   * Sends one message to one peer. False when the link is not up, or when it is over
   * maxBufferedBytes: nothing is queued for later, the algorithms retransmit.
   */
  send(peer: MemberId, message: M): boolean {
    const slot = this.slots.get(peer);
    if (slot === undefined) throw new Error(`PeerMesh.send(): unknown peer ${peer}`);
    return this.sendBytes(slot, Buffer.from(JSON.stringify(message), 'utf8'));
  }

  /** Sends one message to every peer that is up (and passes the filter), serialised once. Returns the peers it was queued for. */
  broadcast(message: M, filter?: (peer: MemberId) => boolean): MemberId[] {
    const bytes = Buffer.from(JSON.stringify(message), 'utf8');
    const queued: MemberId[] = [];
    for (const slot of this.slots.values()) {
      if (slot.link === undefined || (filter !== undefined && !filter(slot.id))) continue;
      if (this.sendBytes(slot, bytes)) queued.push(slot.id);
    }
    return queued;
  }

  isUp(peer: MemberId): boolean {
    return this.slots.get(peer)?.state === 'up';
  }

  links(): Record<MemberId, LinkInfo> {
    const result: Record<MemberId, LinkInfo> = {};
    for (const slot of this.slots.values()) {
      const rttMs = slot.link?.rttMs;
      result[slot.id] = {
        state: slot.state,
        since: slot.sinceWallMs,
        ...(rttMs === undefined ? {} : { rttMs }),
        reconnects: slot.reconnects,
        dials: slot.dials,
        cut: slot.cut,
        invalidMessages: slot.invalidMessages + (slot.link?.invalidMessages ?? 0),
        sendsRefused: slot.sendsRefused + (slot.link?.sendsRefused ?? 0),
        ...(slot.lastError === undefined ? {} : { lastError: slot.lastError }),
      };
    }
    return result;
  }

  /**
   * Fault injection: closes the link to `peer` with 4503 and keeps it down (no dial, and
   * its dials are refused with 503) until heal(). To model a partition, cut both ends.
   */
  cut(peer: MemberId): void {
    const slot = this.slots.get(peer);
    if (slot === undefined) throw new Error(`PeerMesh.cut(): unknown peer ${peer}`);
    if (slot.cut) return;
    slot.cut = true;
    this.log('mesh.cut', { peer });
    this.stopDialling(slot);
    if (slot.link !== undefined) slot.link.close(PeerCloseCode.cut, 'link cut', this.deadAfterMs);
    else this.setState(slot, 'down');
  }

  /** Ends a cut: the dialling side dials at once; the accepting side takes the peer's next dial. */
  heal(peer: MemberId): void {
    const slot = this.slots.get(peer);
    if (slot === undefined) throw new Error(`PeerMesh.heal(): unknown peer ${peer}`);
    if (!slot.cut) return;
    slot.cut = false;
    slot.attempt = 0;
    this.log('mesh.heal', { peer });
    if (slot.dials && this.phase === 'running') this.dial(slot);
  }

  /** Stops dialling, closes every link with 1001 and resolves when every socket is closed. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const wasRunning = this.phase === 'running';
    this.phase = 'closing';
    clearInterval(this.heartbeatTimer);
    const settled: Promise<void>[] = [];
    for (const slot of this.slots.values()) {
      this.stopDialling(slot);
      const link = slot.link;
      if (link !== undefined) {
        settled.push(link.settled);
        link.close(PeerCloseCode.goingAway, 'mesh closed', this.deadAfterMs);
      }
    }
    if (wasRunning) this.log('mesh.closed', { links: settled.length });
    this.closing = Promise.all(settled).then(() => { this.phase = 'closed'; });
    return this.closing;
  }

  // --- inside ---

  private check(headers: IncomingHttpHeaders): AuthenticateResult {
    const authorization = singleHeader(headers[PeerHeader.authorization]);
    const match = authorization === undefined ? null : /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
    if (match === null) return { ok: false, status: 401, reason: 'missing bearer token' };
    // Digests have equal lengths whatever was presented, so timingSafeEqual neither throws
    // nor reveals the secret's length.
    if (!timingSafeEqual(sha256(match[1]!), this.secretDigest)) return { ok: false, status: 401, reason: 'wrong secret' };

    const member = singleHeader(headers[PeerHeader.member]);
    if (member === undefined || member === '') return { ok: false, status: 403, reason: 'missing member header' };
    const slot = this.slots.get(member);
    if (slot === undefined) return { ok: false, status: 403, reason: member === this.selfId ? 'member is ourselves' : 'unknown member' };
    if (slot.dials) return { ok: false, status: 403, reason: `${this.selfId} dials ${member}, not the other way` };

    const protocol = singleHeader(headers[PeerHeader.protocol]);
    if (protocol === undefined || !/^\d{1,9}$/.test(protocol) || Number(protocol) !== this.protocolVersion) {
      return { ok: false, status: 426, reason: `protocol ${protocol ?? 'missing'}, expected ${this.protocolVersion}` };
    }

    if (this.phase !== 'running') return { ok: false, status: 503, reason: `mesh ${this.phase}` };
    if (slot.cut) return { ok: false, status: 503, reason: 'link cut' };
    return { ok: true, member };
  }

  private proof(acceptor: MemberId, dialler: MemberId, nonce: string): string {
    return createHmac('sha256', this.secret)
      .update(`olympix-peer-accept\n${this.protocolVersion}\n${acceptor}\n${dialler}\n${nonce}`)
      .digest('base64url');
  }

  private dial(slot: Slot<M>): void {
    if (this.phase !== 'running' || slot.cut || slot.link !== undefined || slot.dialSocket !== undefined) return;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = undefined;
    this.setState(slot, 'connecting');
    const nonce = randomBytes(18).toString('base64url');
    let socket: WebSocket;
    try {
      socket = new WebSocket(slot.url, {
        headers: {
          [PeerHeader.authorization]: `Bearer ${this.secret}`,
          [PeerHeader.member]: this.selfId,
          [PeerHeader.protocol]: String(this.protocolVersion),
          [PeerHeader.nonce]: nonce,
        },
        perMessageDeflate: false,
        maxPayload: this.maxPayloadBytes,
        handshakeTimeout: this.handshakeTimeoutMs,
        followRedirects: false,
      });
    } catch (error) {
      // A url that ws cannot use (bad host, bad port) fails here, synchronously.
      this.handleDialFailed(slot, `cannot dial ${slot.url}: ${(error as Error).message}`);
      return;
    }
    slot.dialSocket = socket;
    let failure: string | undefined;

    const onUnexpectedResponse = (_request: unknown, response: IncomingMessage): void => {
      failure = `refused with ${response.statusCode}`;
      socket.terminate();
    };
    const onUpgrade = (response: IncomingMessage): void => {
      // The accepting side must be the member we meant to reach, holding the same secret.
      const member = singleHeader(response.headers[PeerHeader.member]);
      const proof = singleHeader(response.headers[PeerHeader.proof]);
      if (member !== slot.id) {
        failure = `reached ${member === undefined ? 'a server without a member header' : `member ${member.slice(0, 64)}`}, expected ${slot.id}`;
      } else if (proof === undefined || !equalStrings(proof, this.proof(slot.id, this.selfId, nonce))) {
        failure = 'the accepting side did not prove the cluster secret';
      }
      if (failure !== undefined) socket.terminate();
    };
    const onError = (error: Error): void => { failure ??= error.message; };
    const onClose = (): void => {
      if (slot.dialSocket !== socket) return;
      slot.dialSocket = undefined;
      this.handleDialFailed(slot, failure ?? 'closed during the handshake');
    };
    const onOpen = (): void => {
      socket.off('unexpected-response', onUnexpectedResponse);
      socket.off('upgrade', onUpgrade);
      socket.off('error', onError);
      socket.off('close', onClose);
      slot.dialSocket = undefined;
      this.adopt(slot, socket, 'dial');
    };
    socket.on('unexpected-response', onUnexpectedResponse);
    socket.on('upgrade', onUpgrade);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('open', onOpen);
  }

  private handleDialFailed(slot: Slot<M>, reason: string): void {
    // One log line per distinct reason, so that a peer down for minutes does not fill the log.
    if (reason !== slot.lastError) this.log('mesh.dial-failed', { peer: slot.id, reason, attempt: slot.attempt });
    slot.lastError = reason;
    this.scheduleDial(slot);
  }

  private scheduleDial(slot: Slot<M>): void {
    if (this.phase !== 'running' || slot.cut) {
      this.setState(slot, 'down');
      return;
    }
    const delayMs = backoffDelayMs(slot.attempt, this.backoff, this.random);
    slot.attempt++;
    this.setState(slot, 'connecting');
    slot.retryTimer = setTimeout(() => {
      slot.retryTimer = undefined;
      this.dial(slot);
    }, delayMs);
    slot.retryTimer.unref();
  }

  private stopDialling(slot: Slot<M>): void {
    clearTimeout(slot.retryTimer);
    slot.retryTimer = undefined;
    const socket = slot.dialSocket;
    if (socket !== undefined) {
      slot.dialSocket = undefined;
      socket.terminate();
    }
  }

  private adopt(slot: Slot<M>, socket: WebSocket, direction: 'dial' | 'accept'): void {
    if (this.phase !== 'running' || slot.cut) {
      socket.close(slot.cut ? PeerCloseCode.cut : PeerCloseCode.goingAway, slot.cut ? 'link cut' : 'mesh not running');
      return;
    }
    if (slot.link !== undefined) {
      this.log('mesh.replaced', { peer: slot.id });
      slot.link.close(PeerCloseCode.replaced, 'replaced by a newer connection', this.deadAfterMs);
    }
    const link: PeerLink<M> = new PeerLink<M>({
      peer: slot.id,
      socket,
      direction,
      parse: this.parse,
      nowMs: this.nowMs,
      deadAfterMs: this.deadAfterMs,
      maxBufferedBytes: this.maxBufferedBytes,
      maxPayloadBytes: this.maxPayloadBytes,
      invalidBudget: this.invalidBudget,
      log: (event, fields) => this.logLimited(`${event}:${slot.id}`, event, fields),
      onMessage: (message) => this.emit('message', slot.id, message),
      onFinished: (reason, peerCloseCode) => this.handleLinkFinished(slot, link, reason, peerCloseCode),
    });
    slot.link = link;
    if (slot.everUp) slot.reconnects++;
    slot.everUp = true;
    this.setState(slot, 'up');
    this.log('mesh.up', { peer: slot.id, direction, reconnects: slot.reconnects });
    this.emit('up', slot.id);
  }

  private handleLinkFinished(slot: Slot<M>, link: PeerLink<M>, reason: string, peerCloseCode: number | undefined): void {
    slot.invalidMessages += link.invalidMessages;
    slot.sendsRefused += link.sendsRefused;
    if (slot.link !== link) return;
    slot.link = undefined;
    slot.lastError = reason;
    // A link that stayed up for a while resets the backoff; one that dies at once (a peer
    // that accepts and then closes) keeps growing it, so that it cannot make us spin.
    if (this.nowMs() - link.openedAtMs >= this.deadAfterMs) slot.attempt = 0;
    this.setState(slot, 'down');
    this.log('mesh.down', { peer: slot.id, reason });
    if (peerCloseCode === PeerCloseCode.replaced) {
      // Only one process per member id dials us; if our link was replaced, another
      // process uses our id. Say so: it is a configuration error worth a loud line.
      this.log('mesh.duplicate-member', { peer: slot.id, selfId: this.selfId });
    }
    this.emit('down', slot.id, reason);
    // Listeners may have cut the link or closed the mesh; scheduleDial checks both.
    if (slot.dials && slot.link === undefined && slot.dialSocket === undefined && slot.retryTimer === undefined) {
      this.scheduleDial(slot);
    }
  }

  private heartbeat(): void {
    const nowMs = this.nowMs();
    const lateMs = nowMs - this.lastHeartbeatMs - this.heartbeatMs;
    this.lastHeartbeatMs = nowMs;
    if (lateMs > this.heartbeatMs) {
      // Our own event loop was stalled (a long GC, a blocking call, SIGSTOP), and timers run
      // before the pongs that wait in the socket buffers: the silence was ours, not our
      // peers'. Do not count it against them: move their deadlines by the time we lost.
      this.logLimited('stall', 'mesh.stall', { lateMs: Math.round(lateMs) });
      for (const slot of this.slots.values()) {
        const link = slot.link;
        if (link !== undefined) link.lastHeardMs = Math.min(nowMs, link.lastHeardMs + lateMs);
      }
    }
    for (const slot of this.slots.values()) slot.link?.heartbeat(nowMs);
  }

  private sendBytes(slot: Slot<M>, bytes: Buffer): boolean {
    const link = slot.link;
    if (link === undefined) return false;
    const sent = link.sendText(bytes);
    if (!sent && link.bufferedBytes + bytes.length > this.maxBufferedBytes) {
      this.logLimited(`send-refused:${slot.id}`, 'mesh.send-refused', { peer: slot.id, bufferedBytes: link.bufferedBytes, bytes: bytes.length });
    }
    return sent;
  }

  private setState(slot: Slot<M>, state: LinkState): void {
    if (slot.state === state) return;
    slot.state = state;
    slot.sinceWallMs = Date.now();
  }

  private log(event: string, fields: Record<string, unknown>): void {
    this.logSink(event, { self: this.selfId, ...fields });
  }

  /** At most a few lines per key per window; the next line that passes says how many were left out. */
  private logLimited(key: string, event: string, fields: Record<string, unknown>): void {
    const nowMs = this.nowMs();
    let window = this.logWindows.get(key);
    if (window === undefined || nowMs - window.startMs > logWindowMs) {
      const suppressed = window?.suppressed ?? 0;
      window = { startMs: nowMs, count: 0, suppressed: 0 };
      this.logWindows.set(key, window);
      if (suppressed > 0) fields = { ...fields, suppressed };
      // Bound the map: hostile clients could otherwise grow it with new remote addresses.
      if (this.logWindows.size > 1000) this.logWindows.clear();
    }
    if (window.count >= logsPerWindow) {
      window.suppressed++;
      return;
    }
    window.count++;
    this.log(event, fields);
  }
}

/**
 * Serves peer links on `path` of a plain node:http server, with a ws server of its own
 * (so that its maxPayload is the mesh's, whatever other WebSocket routes use): the
 * headers are checked before the upgrade, a refusal is answered with its status, and
 * an accepted socket is handed to mesh.accept(). Returns a function that detaches it.
 */
export function attachToHttpServer<M>(server: HttpServer, mesh: PeerMesh<M>, path = '/peer'): () => void {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: mesh.maxPayloadBytes, clientTracking: false });
  wss.on('headers', (headers, request) => { headers.push(...mesh.upgradeResponseHeaders(request)); });
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = (request.url ?? '').split('?', 1)[0];
    if (pathname !== path) return;
    socket.on('error', () => socket.destroy());
    const result = mesh.authenticate(request.headers, request.socket.remoteAddress);
    if (!result.ok) {
      refuseUpgrade(socket, result.status, result.reason, mesh.protocolVersion);
      return;
    }
    wss.handleUpgrade(request, socket, head, (webSocket) => mesh.accept(webSocket, result.member));
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
    wss.close();
  };
}

const statusText: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 426: 'Upgrade Required', 503: 'Service Unavailable' };

function refuseUpgrade(socket: Duplex, status: number, reason: string, protocolVersion: number): void {
  const body = JSON.stringify({ error: reason });
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json\r\n' +
    `${PeerHeader.protocol}: ${protocolVersion}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function equalStrings(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function assertMemberId(id: MemberId, what: string): void {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    throw new RangeError(`${what} must be 1-64 characters of [A-Za-z0-9._-], got ${JSON.stringify(id)}`);
  }
}

// One open WebSocket to one peer, for as long as that socket lives: it parses and
// counts incoming messages, sends with a bound on buffered bytes, pings and measures
// the round trip, and says when the socket is finished. It does not reconnect: the
// mesh (peer-mesh.ts) owns the peer's slot across sockets and decides what happens next.

import { WebSocket, type RawData } from 'ws';
import type { MemberId } from '../algorithms/machine.js';

/**
 * Close codes on peer links. 1001 and the 4000-4999 application range; a link that is
 * declared dead by the heartbeat is terminated without a close frame, so its peer
 * sees 1006.
 */
export const PeerCloseCode = {
  /** The mesh is closing (process shutting down). The dialler retries with backoff. */
  goingAway: 1001,
  /** The peer sent more invalid messages than the budget allows. */
  invalidMessages: 4400,
  /** accept() was called for a member that this process dials: a wiring mistake, since authenticate() refuses it. */
  wrongPeer: 4403,
  /** A newer connection from the same member replaced this one. */
  replaced: 4409,
  /** The link is cut for a test or a fault drill (PeerMesh.cut); no reconnect until healed. */
  cut: 4503,
} as const;
export type PeerCloseCode = (typeof PeerCloseCode)[keyof typeof PeerCloseCode];

export type ParseResult<M> = { ok: true; message: M } | { ok: false; error: string };

export type PeerLogger = (event: string, fields: Record<string, unknown>) => void;

export interface PeerLinkOptions<M> {
  readonly peer: MemberId;
  readonly socket: WebSocket;
  /** Whether this process dialled the socket or accepted it. */
  readonly direction: 'dial' | 'accept';
  readonly parse: (text: string) => ParseResult<M>;
  readonly nowMs: () => number;
  readonly deadAfterMs: number;
  readonly maxBufferedBytes: number;
  readonly maxPayloadBytes: number;
  /** More than `count` invalid messages within `windowMs` closes the link with 4400. */
  readonly invalidBudget: { readonly count: number; readonly windowMs: number };
  readonly log: PeerLogger;
  readonly onMessage: (message: M) => void;
  /**
   * Called exactly once, synchronously, at the moment the link is finished, whoever ended
   * it; `peerCloseCode` is the code of the peer's close frame when the peer ended it.
   */
  readonly onFinished: (reason: string, peerCloseCode: number | undefined) => void;
}

const pingPayloadBytes = 8;

export class PeerLink<M> {
  readonly peer: MemberId;
  readonly direction: 'dial' | 'accept';
  readonly openedAtMs: number;
  /** Resolves when the socket is closed for good (after the close handshake or a terminate). */
  readonly settled: Promise<void>;
  lastHeardMs: number;
  rttMs: number | undefined;
  messagesReceived = 0;
  messagesSent = 0;
  invalidMessages = 0;
  sendsRefused = 0;

  private readonly socket: WebSocket;
  private readonly options: PeerLinkOptions<M>;
  private finished = false;
  private invalidWindowStartMs: number;
  private invalidInWindow = 0;
  private closeFallbackTimer: NodeJS.Timeout | undefined;

  constructor(options: PeerLinkOptions<M>) {
    if (options.socket.readyState !== WebSocket.OPEN) {
      throw new Error(`PeerLink needs an open socket (peer ${options.peer}, readyState ${options.socket.readyState})`);
    }
    this.options = options;
    this.peer = options.peer;
    this.direction = options.direction;
    this.socket = options.socket;
    this.openedAtMs = options.nowMs();
    this.lastHeardMs = this.openedAtMs;
    this.invalidWindowStartMs = this.openedAtMs;
    let resolveSettled!: () => void;
    this.settled = new Promise((resolve) => { resolveSettled = resolve; });

    // Listeners are attached synchronously here, before any await anywhere, so that no
    // message that arrives right after the upgrade is lost (see @fastify/websocket's README).
    const socket = this.socket;
    socket.on('message', (data, isBinary) => this.handleMessage(data, isBinary));
    socket.on('pong', (data) => this.handlePong(data));
    socket.on('ping', () => { this.lastHeardMs = this.options.nowMs(); });
    socket.on('error', (error) => {
      this.options.log('mesh.socket-error', { peer: this.peer, error: error.message });
      this.finish(`socket error: ${error.message}`);
    });
    socket.on('close', (code, reasonBytes) => {
      clearTimeout(this.closeFallbackTimer);
      const reason = reasonBytes.toString('utf8');
      this.finish(`closed by peer or network (${code}${reason ? ` ${reason}` : ''})`, code);
      resolveSettled();
    });
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  /**
   * Queues one text frame. False, and nothing queued, when the socket is not open, when
   * the frame is over maxPayloadBytes (the peer would close on it), or when the bytes
   * already waiting plus this frame would pass maxBufferedBytes.
   */
  sendText(bytes: Buffer): boolean {
    if (this.finished || this.socket.readyState !== WebSocket.OPEN) return false;
    if (bytes.length > this.options.maxPayloadBytes) {
      this.sendsRefused++;
      this.options.log('mesh.send-too-large', { peer: this.peer, bytes: bytes.length, maxPayloadBytes: this.options.maxPayloadBytes });
      return false;
    }
    if (this.socket.bufferedAmount + bytes.length > this.options.maxBufferedBytes) {
      this.sendsRefused++;
      return false;
    }
    this.socket.send(bytes, { binary: false });
    this.messagesSent++;
    return true;
  }

  /**
   * One heartbeat: declares the peer dead if nothing (message, ping or pong) came from it
   * for longer than deadAfterMs, otherwise pings it with the send time as payload.
   * Returns false when the link was just declared dead.
   */
  heartbeat(nowMs: number): boolean {
    if (this.finished) return false;
    const silentMs = nowMs - this.lastHeardMs;
    if (silentMs > this.options.deadAfterMs) {
      this.terminate(`heartbeat timeout: silent for ${Math.round(silentMs)} ms`);
      return false;
    }
    const payload = Buffer.allocUnsafe(pingPayloadBytes);
    payload.writeDoubleBE(nowMs, 0);
    this.socket.ping(payload);
    return true;
  }

  /** Ends the link with a close frame; the socket is destroyed if the peer does not answer in time. */
  close(code: PeerCloseCode, reason: string, graceMs: number): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, reason);
      this.closeFallbackTimer = setTimeout(() => this.socket.terminate(), graceMs);
      this.closeFallbackTimer.unref();
    }
    this.finish(reason);
  }

  /** Ends the link at once, without a close frame: for a peer that is not answering anyway. */
  terminate(reason: string): void {
    this.socket.terminate();
    this.finish(reason);
  }

  private finish(reason: string, peerCloseCode?: number): void {
    if (this.finished) return;
    this.finished = true;
    this.options.onFinished(reason, peerCloseCode);
  }

  private handleMessage(data: RawData, isBinary: boolean): void {
    if (this.finished) return;
    const nowMs = this.options.nowMs();
    this.lastHeardMs = nowMs;
    // Peer messages are JSON in text frames; ws has already checked that text is valid UTF-8.
    const text = isBinary ? undefined : rawDataToText(data);
    const parsed: ParseResult<M> = text === undefined ? { ok: false, error: 'binary frame' } : this.parseSafely(text);
    if (parsed.ok) {
      this.messagesReceived++;
      this.options.onMessage(parsed.message);
      return;
    }
    this.invalidMessages++;
    if (nowMs - this.invalidWindowStartMs > this.options.invalidBudget.windowMs) {
      this.invalidWindowStartMs = nowMs;
      this.invalidInWindow = 0;
    }
    this.invalidInWindow++;
    // The log carries the reason and the size, never the content: it may be large or hostile.
    this.options.log('mesh.invalid-message', {
      peer: this.peer,
      error: parsed.error,
      bytes: rawDataLength(data),
      invalidInWindow: this.invalidInWindow,
    });
    if (this.invalidInWindow > this.options.invalidBudget.count) {
      this.close(PeerCloseCode.invalidMessages, 'invalid messages', this.options.deadAfterMs);
    }
  }

  private parseSafely(text: string): ParseResult<M> {
    try {
      return this.options.parse(text);
    } catch (error) {
      // A validator should return ok: false, not throw; a throw must not take the process down.
      return { ok: false, error: `parse threw: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  private handlePong(data: Buffer): void {
    const nowMs = this.options.nowMs();
    this.lastHeardMs = nowMs;
    if (data.length !== pingPayloadBytes) return;
    const rttMs = nowMs - data.readDoubleBE(0);
    // A pong echoes our own ping's payload; anything else (a forged or stale pong) is ignored.
    if (Number.isFinite(rttMs) && rttMs >= 0 && rttMs <= this.options.deadAfterMs * 2) this.rttMs = rttMs;
  }
}

function rawDataToText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function rawDataLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, chunk) => sum + chunk.length, 0);
  return data.byteLength;
}

import type { Socket } from 'node:net';
import { CLUSTER_TOPIC, RAFFLE_TOPIC, topicOfChange, type Change } from '../../shared/board.js';
import {
  CLIENT_PROTOCOL_VERSION,
  ClientMessage,
  CloseCode,
  type ServerMessage,
} from '../../shared/client-protocol.js';
import type { ClusterState } from '../../shared/cluster.js';
import { compileSchema } from '../compile-schema.js';
import type { Log } from '../log.js';
import type { BoardReplica } from './board-replica.js';
import type { ClientSocket, ClientSocketOwner } from './client-socket.js';
import { TokenBucketRule } from './rate-limiter.js';

// The browser side of a node: its WebSockets (ClientSocket: the socket and the page's
// state in one object), the topic index, and the fan-out of committed changes. A
// change is serialised and framed once and the same bytes go to every subscriber of
// its topic.

export type TicketKind = 'subscribe' | 'snapshot' | 'refresh' | 'read';

export interface ClientHubOptions {
  nodeId: string;
  replica: BoardReplica;
  log: Log;
  /** The synchronised clock, ms since the Unix epoch. */
  now: () => number;
  /** A monotonic clock for rate limits and heartbeats. */
  monotonicMs: () => number;
  raffle: { enabled: boolean; everyN: number };
  /** Each served client request is a raffle ticket. */
  onTicket: (client: string, kind: TicketKind) => void;
  /** The state sent to a new subscriber of the raffle and cluster topics. */
  raffleState: () => unknown;
  clusterState: () => ClusterState;
  maxBufferedBytes?: number;
  messagesPerS?: number;
  messageBurst?: number;
  invalidMessagesMax?: number;
  heartbeatMs?: number;
  /**
   * A client that sends a request while more than this waits unread on its socket is
   * not reading its answers: it is closed with 4508 at once, so that requests (a
   * refresh is a whole snapshot) cannot fill the node's memory at the rate limit's
   * pace. Default 256 KiB; pushes alone may still queue up to maxBufferedBytes.
   */
  requestBacklogMaxBytes?: number;
  /**
   * The bytes waiting to be sent to all clients together: past it, the clients with the
   * most unread bytes are closed with 4508 until half of it is left. One address may hold
   * a thousand connections, and a thousand times maxBufferedBytes is more memory than a
   * node has. Default 256 MiB, checked every bufferSweepMs (1000).
   */
  totalBufferedBytesMax?: number;
  bufferSweepMs?: number;
  /** A socket we closed is destroyed if its close handshake has not ended after this; default 5000 (ws waits 30 s). */
  closeGraceMs?: number;
  /** Called once when an adopted socket is closed for good (its connection slot can go). */
  onSocketClosed?: (socket: ClientSocket) => void;
}

const validateClientMessage = compileSchema(ClientMessage);

const LATENCY_SAMPLES = 256;

export class ClientHub implements ClientSocketOwner {
  private readonly sessions = new Set<ClientSocket>();
  /** Change frames pushed to pages since start (counted per change, not per delivery). */
  framesSent = 0;
  private readonly pushLatenciesMs = new Float64Array(LATENCY_SAMPLES);
  private pushLatencyCount = 0;
  private rateWindow = { atMs: performance.now(), frames: 0, perS: 0 };
  private readonly subscribers = new Map<string, Set<ClientSocket>>();
  private readonly rateLimit: TokenBucketRule;
  private readonly maxBufferedBytes: number;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly bufferSweep: NodeJS.Timeout;
  private readonly options: Required<
    Pick<
      ClientHubOptions,
      'messagesPerS' | 'messageBurst' | 'invalidMessagesMax' | 'heartbeatMs' | 'requestBacklogMaxBytes' | 'totalBufferedBytesMax' | 'bufferSweepMs' | 'closeGraceMs'
    >
  > &
    ClientHubOptions;

  constructor(options: ClientHubOptions) {
    this.options = {
      messagesPerS: 50,
      messageBurst: 200,
      invalidMessagesMax: 10,
      heartbeatMs: 15_000,
      requestBacklogMaxBytes: 256 * 1024,
      totalBufferedBytesMax: 256 * 1024 * 1024,
      bufferSweepMs: 1000,
      closeGraceMs: 5000,
      ...options,
    };
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.rateLimit = new TokenBucketRule(this.options.messagesPerS, this.options.messageBurst);
    // ws's heartbeat pattern: ping every interval, terminate a client that did not pong since the last one.
    this.heartbeat = setInterval(() => this.checkHeartbeats(), this.options.heartbeatMs);
    this.heartbeat.unref();
    this.bufferSweep = setInterval(() => this.sweepBuffers(), this.options.bufferSweepMs);
    this.bufferSweep.unref();
  }

  get clientCount(): number {
    return this.sessions.size;
  }

  /** Adopts a new connection. Must be called synchronously in the route handler, before any await. */
  accept(socket: ClientSocket, address: string): ClientSocket {
    this.rateLimit.start(socket, this.options.monotonicMs());
    this.sessions.add(socket);
    socket.adopt(this, address);
    this.sendWelcome(socket);
    return socket;
  }

  /** The socket closed for good: it leaves the hub, and its owner is told. */
  socketClosed(session: ClientSocket): void {
    clearTimeout(session.terminateTimer);
    this.remove(session);
    this.options.onSocketClosed?.(session);
  }

  /**
   * ws reports a protocol violation (bad UTF-8, a frame too large, too many fragments)
   * as 'error' and has already sent its close frame (1007, 1009, 1008, 1002): give the
   * client the grace to read it and answer, then cut it. Terminating at once would reset
   * the connection under the close frame, and the page would see 1006 instead of why.
   */
  socketFailed(session: ClientSocket): void {
    this.armTerminate(session);
  }

  private remove(session: ClientSocket): void {
    if (!this.sessions.delete(session)) return;
    for (const topic of session.topics) this.subscribers.get(topic)?.delete(session);
    // Removed while its socket is still open: we are closing it (a slow consumer, a dead
    // heartbeat). A client that does not read will not answer the close frame either, and
    // its unsent bytes stay in memory until the socket is gone: do not wait ws's 30 s.
    if (session.readyState !== 3 /* CLOSED */) this.armTerminate(session);
  }

  /** Starts the close handshake, and destroys the socket if the client has not answered it within closeGraceMs. */
  private closeSession(session: ClientSocket, code: number, reason: string): void {
    session.close(code, reason);
    this.armTerminate(session);
  }

  private armTerminate(session: ClientSocket): void {
    if (session.terminateTimer !== undefined) return;
    session.terminateTimer = setTimeout(() => session.terminate(), this.options.closeGraceMs);
    session.terminateTimer.unref();
  }

  /** A message from a page (the socket's shared listener calls this). */
  receive(session: ClientSocket, data: unknown, isBinary: boolean): void {
    if (session.terminateTimer !== undefined) return; // closing: nothing more is served
    if (!this.rateLimit.take(session, this.options.monotonicMs())) {
      this.options.log('client.closed', { client: session.client, reason: 'rate limited', address: session.address });
      this.send(session, { type: 'error', code: 'OLX_RATE_LIMITED', message: 'too many messages: slow down' });
      this.closeSession(session, CloseCode.rateLimited, 'rate limit exceeded');
      return;
    }
    const backlogBytes = session.bufferedAmount;
    if (backlogBytes > this.options.requestBacklogMaxBytes) {
      // Every request has an answer; one who asks without reading the answers only fills our memory.
      this.options.log('client.closed', { client: session.client, reason: 'not reading its answers', bufferedBytes: backlogBytes, address: session.address });
      this.remove(session);
      this.closeSession(session, CloseCode.slowConsumer, 'slow consumer: not reading its answers');
      return;
    }
    if (isBinary) return this.reject(session, undefined, 'OLX_BAD_MESSAGE', 'binary frames are not accepted: send JSON text');
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : String(data);
    const parsed = validateClientMessage.parse(text);
    if (!parsed.ok) {
      const id = requestIdOf(text);
      return this.reject(session, id, parsed.error === 'not valid JSON' ? 'OLX_BAD_JSON' : 'OLX_BAD_MESSAGE', parsed.error);
    }
    const message = parsed.value;
    switch (message.type) {
      case 'hello':
        if (message.protocol !== CLIENT_PROTOCOL_VERSION) {
          return this.reject(session, undefined, 'OLX_PROTOCOL', `protocol ${message.protocol} is not supported; this node speaks ${CLIENT_PROTOCOL_VERSION}`);
        }
        session.client = message.client;
        session.page = message.page ?? 'unknown';
        this.sendWelcome(session);
        return;
      case 'subscribe':
        return this.subscribe(session, message.topics, message.resume, message.id);
      case 'unsubscribe':
        for (const topic of message.topics) {
          session.topics.delete(topic);
          this.subscribers.get(topic)?.delete(session);
        }
        return;
      case 'refresh': {
        const { replica } = this.options;
        this.options.onTicket(session.client, 'refresh');
        this.send(session, { type: 'snapshot', epoch: replica.epoch!, seq: replica.seq, data: replica.slice(session.topics) });
        return;
      }
      case 'ping':
        this.send(session, message.id === undefined ? { type: 'pong', serverTime: this.options.now() } : { type: 'pong', id: message.id, serverTime: this.options.now() });
        return;
    }
  }

  private reject(session: ClientSocket, id: number | undefined, code: string, message: string): void {
    session.invalidMessages++;
    this.send(session, id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
    if (session.invalidMessages > this.options.invalidMessagesMax) {
      this.options.log('client.closed', { client: session.client, reason: 'invalid messages', count: session.invalidMessages, address: session.address });
      this.closeSession(session, CloseCode.invalidMessage, 'too many invalid messages');
    }
  }

  private subscribe(
    session: ClientSocket,
    topics: string[],
    resume: { epoch: string; seq: number } | undefined,
    id: number | undefined,
  ): void {
    const { replica } = this.options;
    const known = new Set([...replica.topics(), RAFFLE_TOPIC, CLUSTER_TOPIC]);
    const unknown = topics.filter((topic) => !known.has(topic));
    if (unknown.length > 0) {
      return this.reject(session, id, 'OLX_UNKNOWN_TOPIC', `unknown topic "${unknown[0]}"`);
    }
    const added = topics.filter((topic) => !session.topics.has(topic));
    for (const topic of added) {
      session.topics.add(topic);
      let set = this.subscribers.get(topic);
      if (!set) this.subscribers.set(topic, (set = new Set()));
      set.add(session);
    }
    const boardTopics = new Set(topics.filter((topic) => topic !== RAFFLE_TOPIC && topic !== CLUSTER_TOPIC));
    const missed = resume && resume.epoch === replica.epoch ? replica.changesAfter(resume.seq, boardTopics) : null;
    const base = id === undefined ? {} : { id };
    if (missed) {
      this.options.onTicket(session.client, 'subscribe');
      this.send(session, { type: 'subscribed', ...base, topics, mode: 'resumed', missed: missed.length });
      for (const change of missed) this.send(session, { type: 'change', epoch: replica.epoch!, change });
    } else {
      this.options.onTicket(session.client, 'snapshot');
      this.send(session, { type: 'subscribed', ...base, topics, mode: 'snapshot', missed: 0 });
      this.send(session, { type: 'snapshot', epoch: replica.epoch!, seq: replica.seq, data: replica.slice(boardTopics) });
    }
    if (topics.includes(RAFFLE_TOPIC)) this.send(session, { type: 'raffle', state: this.options.raffleState() as never });
    if (topics.includes(CLUSTER_TOPIC)) this.send(session, { type: 'cluster', state: this.options.clusterState() });
    this.options.log('client.subscribed', { client: session.client, topics: topics.length, mode: missed ? 'resumed' : 'snapshot', missed: missed?.length ?? 0 });
  }

  private sendWelcome(session: ClientSocket): void {
    const { replica } = this.options;
    this.send(session, {
      type: 'welcome',
      protocol: CLIENT_PROTOCOL_VERSION,
      node: this.options.nodeId,
      client: session.client,
      epoch: replica.epoch!,
      seq: replica.seq,
      catalog: replica.catalog,
      raffle: this.options.raffle,
      serverTime: this.options.now(),
    });
  }

  /**
   * Notes a change about to be published, for the cluster view: its latency from the
   * store's commit stamp to this push (both synchronised clocks) and how many frames
   * it makes. Kept out of publish() so that the fan-out loop stays bare.
   */
  notePublish(change: Change): void {
    this.pushLatenciesMs[this.pushLatencyCount++ % LATENCY_SAMPLES] = this.options.now() - change.updatedAt;
    this.framesSent += this.subscribers.get(topicOfChange(change))?.size ?? 0;
  }

  /** Push figures for the cluster view: frames per second since the last call, latency percentiles of the last changes. */
  pushStatus(): { clients: number; updatesPerS: number; writeToPushP50Ms: number | null; writeToPushP99Ms: number | null; seq: number } {
    const nowMs = performance.now();
    const window = this.rateWindow;
    if (nowMs - window.atMs >= 250) {
      window.perS = ((this.framesSent - window.frames) * 1000) / (nowMs - window.atMs);
      window.atMs = nowMs;
      window.frames = this.framesSent;
    }
    const count = Math.min(this.pushLatencyCount, LATENCY_SAMPLES);
    const sorted = Array.from(this.pushLatenciesMs.subarray(0, count)).sort((a, b) => a - b);
    const at = (p: number) => (count === 0 ? null : sorted[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)]!);
    return { clients: this.sessions.size, updatesPerS: window.perS, writeToPushP50Ms: at(50), writeToPushP99Ms: at(99), seq: this.options.replica.seq };
  }

  /** After the replica was replaced by a snapshot: every session gets a snapshot of its topics. */
  resnapshotAll(): void {
    const { replica } = this.options;
    if (!replica.ready) return;
    for (const session of this.sessions) {
      const boardTopics = new Set([...session.topics].filter((topic) => topic !== RAFFLE_TOPIC && topic !== CLUSTER_TOPIC));
      if (boardTopics.size === 0) continue;
      this.send(session, { type: 'snapshot', epoch: replica.epoch!, seq: replica.seq, data: replica.slice(boardTopics) });
    }
  }

  /** Sends every subscriber of the change's topic the same frame, serialised and framed once. */
  publish(change: Change): void {
    const subscribers = this.subscribers.get(topicOfChange(change));
    if (!subscribers || subscribers.size === 0) return;
    const frame = new WireFrame(JSON.stringify({ type: 'change', epoch: this.options.replica.epoch, change }));
    for (const session of subscribers) this.sendFrame(session, frame);
  }

  /**
   * Runs `then` once everything published so far has been handed to the sockets: the
   * sockets corked in this turn are uncorked by an immediate scheduled at the first cork,
   * and immediates run in the order they were scheduled.
   */
  afterFlush(then: () => void): void {
    setImmediate(then);
  }

  /** Sends a message to every subscriber of a topic (raffle, cluster). */
  publishTo(topic: string, message: ServerMessage): void {
    const subscribers = this.subscribers.get(topic);
    if (!subscribers || subscribers.size === 0) return;
    const frame = new WireFrame(JSON.stringify(message));
    for (const session of subscribers) this.sendFrame(session, frame);
  }

  /** Sends a message to every session of one client id (a client may have several tabs). */
  sendToClient(client: string, message: ServerMessage): number {
    let sent = 0;
    const frame = JSON.stringify(message);
    for (const session of this.sessions) {
      if (session.client === client) {
        this.sendFrame(session, frame);
        sent++;
      }
    }
    return sent;
  }

  send(session: ClientSocket, message: ServerMessage): void {
    this.sendFrame(session, JSON.stringify(message));
  }

  private sendFrame(socket: ClientSocket, frame: string | WireFrame): void {
    if (socket.readyState !== 1) return;
    const raw = typeof frame === 'string' ? undefined : rawSocketOf(socket);
    // A client that does not read must not make the node's memory grow: past the
    // bound it is disconnected with a reason, and resumes from its position later.
    // (Under ws, bufferedAmount is the TCP socket's writableLength plus what ws's
    // sender queues, which is nothing without an extension.)
    const bufferedBytes = raw === undefined ? socket.bufferedAmount : raw.writableLength;
    if (bufferedBytes > this.maxBufferedBytes) {
      this.options.log('client.closed', { client: socket.client, reason: 'slow consumer', bufferedBytes });
      this.remove(socket);
      socket.close(CloseCode.slowConsumer, 'slow consumer: outbound queue full');
      return;
    }
    if (raw === undefined) {
      socket.send(typeof frame === 'string' ? frame : frame.text);
      return;
    }
    // The fan-out's hot path: the pre-built frame goes to the TCP socket as it is,
    // held until this turn of the event loop ends, so that every change published to
    // this client in the same turn leaves in one write.
    corkForThisTurn(raw);
    raw.write((frame as WireFrame).bytes); // raw is only looked up for a WireFrame
  }

  private checkHeartbeats(): void {
    for (const session of this.sessions) {
      if (!session.alive) {
        this.options.log('client.closed', { client: session.client, reason: 'heartbeat timeout' });
        this.remove(session);
        session.terminate();
        continue;
      }
      session.alive = false;
      session.ping();
    }
  }

  /**
   * Keeps the bytes waiting for all clients together under totalBufferedBytesMax: if
   * they pass it, the clients with the most unread bytes are closed (4508, they resume
   * later) until at most half of it is left. One pass over the sessions a second; the
   * sort happens only when the budget is passed.
   */
  private sweepBuffers(): void {
    let totalBytes = 0;
    for (const session of this.sessions) totalBytes += session.bufferedAmount;
    if (totalBytes <= this.options.totalBufferedBytesMax) return;
    const targetBytes = this.options.totalBufferedBytesMax / 2;
    const largestFirst = [...this.sessions]
      .map((session) => ({ session, bytes: session.bufferedAmount }))
      .sort((a, b) => b.bytes - a.bytes);
    let closed = 0;
    for (const { session, bytes } of largestFirst) {
      if (totalBytes <= targetBytes || bytes === 0) break;
      this.remove(session);
      this.closeSession(session, CloseCode.slowConsumer, 'slow consumer: node outbound budget exceeded');
      totalBytes -= bytes;
      closed++;
    }
    this.options.log('client.buffers-shed', { closed, bufferedBytesLeft: totalBytes, budgetBytes: this.options.totalBufferedBytesMax });
  }

  /** Closes every client with "going away" so that they reconnect elsewhere at once. */
  closeAll(code: number = CloseCode.goingAway, reason = 'node shutting down'): void {
    clearInterval(this.heartbeat);
    clearInterval(this.bufferSweep);
    for (const session of this.sessions) session.close(code, reason);
  }
}

/**
 * A server message serialised once and framed once: the complete WebSocket text
 * frame (RFC 6455 section 5.2: FIN, opcode 1, unmasked as a server's frames are),
 * the same bytes for every subscriber. Building it once per publish instead of once
 * per delivery takes the per-delivery work of ws's send (options object, UTF-8
 * length and encoding of the string, a header buffer, a two-chunk writev) off the
 * fan-out. `text` is kept for the rare socket that cannot take raw frames.
 */
class WireFrame {
  readonly bytes: Buffer;
  constructor(readonly text: string) {
    const payloadBytes = Buffer.byteLength(text);
    const headerBytes = payloadBytes < 126 ? 2 : payloadBytes < 65_536 ? 4 : 10;
    const bytes = Buffer.allocUnsafe(headerBytes + payloadBytes);
    bytes[0] = 0x81;
    if (headerBytes === 2) {
      bytes[1] = payloadBytes;
    } else if (headerBytes === 4) {
      bytes[1] = 126;
      bytes.writeUInt16BE(payloadBytes, 2);
    } else {
      bytes[1] = 127;
      bytes.writeBigUInt64BE(BigInt(payloadBytes), 2);
    }
    bytes.write(text, headerBytes, 'utf8');
    this.bytes = bytes;
  }
}

/**
 * The TCP socket under a ws WebSocket, when frames can be written to it directly:
 * ws keeps it in `_socket` (not a documented property, hence the check), and with
 * no extension negotiated (perMessageDeflate is off for pages) ws's sender never
 * queues, so raw frames and ws's own frames (pings, closes, single messages) leave
 * in the order they were written.
 */
function rawSocketOf(socket: ClientSocket): Socket | undefined {
  const internal = socket as unknown as { _socket?: Socket | null; _extensions?: Record<string, unknown> };
  // permessage-deflate is the only extension ws knows; reading it does not allocate as `extensions` does.
  return internal._socket && internal._extensions && internal._extensions['permessage-deflate'] === undefined ? internal._socket : undefined;
}

// Sockets corked by the fan-out in this turn of the event loop, uncorked together
// when the turn ends. Changes that arrive together (a flood, or a node catching up
// after a busy moment) then reach each client in one writev, one system call and one
// wake-up of the reader, instead of one per change. Frames keep their order: a cork
// only delays the write, and anything else sent meanwhile (ws's send corks and
// uncorks inside, which nests) queues behind them.
const corkedSockets: Socket[] = [];
let uncorkScheduled = false;

function corkForThisTurn(raw: Socket): void {
  if (raw.writableCorked > 0) return;
  raw.cork();
  corkedSockets.push(raw);
  if (!uncorkScheduled) {
    uncorkScheduled = true;
    setImmediate(uncorkAll);
  }
}

function uncorkAll(): void {
  uncorkScheduled = false;
  for (const raw of corkedSockets.splice(0)) raw.uncork();
}

/** Best effort: the request id of an invalid message, so that the error can name its request. */
function requestIdOf(text: string): number | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && 'id' in value) {
      const id = (value as { id: unknown }).id;
      if (Number.isInteger(id) && (id as number) >= 0 && (id as number) < 2 ** 31) return id as number;
    }
  } catch {
    // not JSON: no id to name
  }
  return undefined;
}

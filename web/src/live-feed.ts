// The browser's live connection to the cluster: ask the dispatcher for a node, open a
// WebSocket to it, hello, subscribe (resuming from the last position when there is
// one), keep the board up to date, ping to notice a silent node, and on any failure
// go back to the dispatcher for another node after a backoff with jitter.
//
// The socket, fetch, timers and randomness are injected, so that the whole state
// machine runs in Node's test runner against fakes (test/unit/live-feed.test.ts).

// The named Check (not the Value namespace) lets the bundler drop the rest of TypeBox's value module: half the bundle.
import { Check } from '@sinclair/typebox/value';
import {
  Assignment,
  CLIENT_PROTOCOL_VERSION,
  CloseCode,
  HttpError,
  ServerMessage,
  TERMINAL_CLOSE_CODES,
  TOPICS_MAX,
  type ClientMessage,
  type RaffleEntry,
  type WelcomeMessage,
} from '../../shared/client-protocol.js';
import {
  ChangeOutcome,
  initialBoardState,
  reduceChange,
  reduceRaffle,
  reduceSnapshot,
  reduceWelcome,
  resumePointOf,
  topicsForCatalog,
  type BoardState,
} from './feed-state.js';

export const FeedStatus = {
  /** The first connection is being made. */
  connecting: 'connecting',
  /** Subscribed, and the board is up to date: every change is pushed as it commits. */
  live: 'live',
  /** Was live, lost the node, and is getting another one. */
  reconnecting: 'reconnecting',
  /** Stopped, or refused for good (a terminal close code): no further attempts. */
  offline: 'offline',
} as const;
export type FeedStatus = (typeof FeedStatus)[keyof typeof FeedStatus];

/** What the feed needs from a WebSocket; the factory wires the handlers. */
export interface FeedSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export interface FeedSocketHandlers {
  onOpen(): void;
  onMessage(data: unknown): void;
  onClose(code: number, reason: string): void;
  onError(): void;
}
/** Opens a socket to `url`; may throw (a bad URL), which counts as a failed attempt. */
export type FeedSocketFactory = (url: string, handlers: FeedSocketHandlers) => FeedSocket;

export interface FeedResponse {
  readonly ok: boolean;
  readonly status: number;
  json(): Promise<unknown>;
}
export type FeedFetch = (url: string, init?: { signal?: AbortSignal }) => Promise<FeedResponse>;

export interface FeedTimers {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Wall-clock milliseconds; only differences are used. */
  now(): number;
}

export interface BackoffOptions {
  /** The base delay of the first retry. */
  initialMs: number;
  /** The base delay never grows past this. */
  maxMs: number;
  factor: number;
}
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000, factor: 2 };

export interface HeartbeatOptions {
  /** How often to ping the node. */
  intervalMs: number;
  /** With nothing at all received for this long, the node is taken for dead. */
  timeoutMs: number;
}
export const DEFAULT_HEARTBEAT: HeartbeatOptions = { intervalMs: 5_000, timeoutMs: 12_000 };

/** From asking the dispatcher to being subscribed; past it the attempt is given up and another node asked for. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 8_000;

/**
 * The delay before retry number `attempt` (0 for the first): exponential with a cap,
 * and "equal jitter" so that pages dropped together do not come back together:
 * uniformly in [base / 2, base], where base = min(maxMs, initialMs * factor^attempt).
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, Math.min(attempt, 52));
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(base / 2 + (base / 2) * r);
}

export interface RaffleNotice {
  readonly notice: 'entered' | 'won';
  readonly entry: RaffleEntry;
  /** Local time it arrived. */
  readonly receivedAt: number;
}

/** Everything a view shows, as one immutable value per update. */
export interface FeedView {
  readonly status: FeedStatus;
  /** The node serving the page (or being connected to); null before the first assignment. */
  readonly node: string | null;
  readonly assignment: Assignment | null;
  readonly board: BoardState;
  /** The last problem, in words; cleared when live again. */
  readonly error: string | null;
  /** Failed attempts since the page was last live. */
  readonly attempt: number;
  /** When the next attempt starts (local ms), while waiting out a backoff. */
  readonly retryAt: number | null;
  /** How many times the page went live after losing a node. */
  readonly reconnectCount: number;
  readonly raffleNotice: RaffleNotice | null;
  /** Round trip of the last ping, in ms. */
  readonly rttMs: number | null;
}

export interface LiveFeedOptions {
  /** Which page this is, sent in hello ("scoreboard", "cauldron"). */
  page: string;
  /** This villager's id, kept across reloads by the page. */
  clientId: string;
  /** The dispatcher's assign route; relative on a page the dispatcher served. */
  assignUrl?: string;
  createSocket: FeedSocketFactory;
  fetch: FeedFetch;
  timers: FeedTimers;
  /** A float in [0, 1); Math.random in the browser, seeded in tests. */
  random: () => number;
  /** The topics to follow, given the node's welcome; by default every team's medals, every event's score, and the raffle when enabled. */
  topics?: (welcome: WelcomeMessage) => string[];
  backoff?: Partial<BackoffOptions>;
  heartbeat?: Partial<HeartbeatOptions>;
  connectTimeoutMs?: number;
  log?: (message: string) => void;
}

type Phase = 'idle' | 'assigning' | 'opening' | 'greeting' | 'subscribing' | 'live' | 'waiting' | 'stopped';

/** A bound on the exclusion list sent to the dispatcher. */
const EXCLUDED_NODES_MAX = 8;

export class LiveFeed {
  private readonly options: LiveFeedOptions;
  private readonly backoff: BackoffOptions;
  private readonly heartbeat: HeartbeatOptions;
  private readonly connectTimeoutMs: number;
  private readonly listeners = new Set<(view: FeedView) => void>();

  private phase: Phase = 'idle';
  /** Bumped on every new attempt and on stop; callbacks of older attempts see a stale value and do nothing. */
  private generation = 0;
  private socket: FeedSocket | null = null;
  private attemptTimer: unknown = null;
  private heartbeatTimer: unknown = null;
  private retryTimer: unknown = null;
  private abort: AbortController | null = null;

  private everLive = false;
  /** Nodes that failed since the page was last live, most recent last; the dispatcher is asked for another. */
  private excludedNodes: string[] = [];
  private subscribedTopics: string[] = [];
  /** Subscribe requests and snapshots still owed before the page is live. */
  private pendingSubscribeIds = new Set<number>();
  private pendingSnapshots = 0;
  /** Topics of each snapshot announced by `subscribed` and not yet received, oldest first. */
  private snapshotTopics: string[][] = [];
  private refreshRequested = false;
  private nextRequestId = 1;
  private lastReceivedAt = 0;
  private pingSentAt = new Map<number, number>();

  private view: FeedView;

  constructor(options: LiveFeedOptions) {
    this.options = options;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.heartbeat = { ...DEFAULT_HEARTBEAT, ...options.heartbeat };
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.view = {
      status: FeedStatus.connecting,
      node: null,
      assignment: null,
      board: initialBoardState(),
      error: null,
      attempt: 0,
      retryAt: null,
      reconnectCount: 0,
      raffleNotice: null,
      rttMs: null,
    };
  }

  get current(): FeedView {
    return this.view;
  }

  get status(): FeedStatus {
    return this.view.status;
  }

  /** Calls `listener` after every change of the view; returns the function that stops it. */
  addListener(listener: (view: FeedView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts (or restarts after stop) connecting. The board is kept, so a restart resumes. */
  start(): void {
    if (this.phase !== 'idle' && this.phase !== 'stopped') return;
    this.update({ status: this.everLive ? FeedStatus.reconnecting : FeedStatus.connecting, error: null });
    void this.beginAttempt();
  }

  /** Closes the connection and stops every timer; status becomes offline. */
  stop(): void {
    this.generation += 1;
    this.teardown(1000, 'page closed');
    this.clearTimer('retryTimer');
    this.phase = 'stopped';
    this.update({ status: FeedStatus.offline, retryAt: null });
  }

  /** Skips the rest of a backoff wait (the browser came back online, the user asked). */
  reconnectNow(): void {
    if (this.phase !== 'waiting') return;
    this.clearTimer('retryTimer');
    void this.beginAttempt();
  }

  /** Asks the node for a fresh snapshot of every subscribed topic. */
  refresh(): void {
    if (this.phase !== 'live') return;
    this.send({ type: 'refresh', id: this.takeRequestId() });
  }

  // ---- one attempt: assign, open, hello, subscribe ----

  private async beginAttempt(): Promise<void> {
    const generation = ++this.generation;
    this.phase = 'assigning';
    this.update({ retryAt: null });
    this.setTimer('attemptTimer', this.connectTimeoutMs, () => {
      if (generation !== this.generation) return;
      this.fail(`no live connection within ${this.connectTimeoutMs} ms`, this.view.node);
    });

    const assignment = await this.assign(generation);
    if (assignment === null || generation !== this.generation) return;

    this.phase = 'opening';
    this.update({ assignment, node: assignment.node });
    const handlers: FeedSocketHandlers = {
      onOpen: () => {
        if (generation === this.generation) this.handleOpen();
      },
      onMessage: (data) => {
        if (generation === this.generation) this.handleMessage(data);
      },
      onClose: (code, reason) => {
        if (generation === this.generation) this.handleClose(code, reason);
      },
      onError: () => {
        // A close event always follows; it carries the code that decides what to do.
      },
    };
    try {
      this.socket = this.options.createSocket(assignment.ws, handlers);
    } catch (error) {
      this.fail(`cannot open ${assignment.ws}: ${messageOf(error)}`, assignment.node);
    }
  }

  /** Asks the dispatcher for a node, avoiding the one that just failed. Returns null after failing the attempt. */
  private async assign(generation: number): Promise<Assignment | null> {
    const base = this.options.assignUrl ?? '/api/assign';
    const excluded = this.excludedNodes.join(',');
    const url = excluded === '' ? base : `${base}${base.includes('?') ? '&' : '?'}exclude=${encodeURIComponent(excluded)}`;
    this.abort = typeof AbortController === 'function' ? new AbortController() : null;
    let response: FeedResponse;
    let body: unknown;
    try {
      response = await this.options.fetch(url, this.abort ? { signal: this.abort.signal } : undefined);
      body = await response.json().catch(() => undefined);
    } catch (error) {
      if (generation === this.generation) this.fail(`dispatcher unreachable: ${messageOf(error)}`, null);
      return null;
    } finally {
      this.abort = null;
    }
    if (generation !== this.generation) return null;
    if (!response.ok) {
      const detail = Check(HttpError, body) ? body.message : `HTTP ${response.status}`;
      // With every other node excluded there may be none left: the next attempt asks
      // without exclusions, so that a node that came back is found again.
      if (response.status === 503) this.excludedNodes = [];
      this.fail(`dispatcher: ${detail}`, null);
      return null;
    }
    if (!Check(Assignment, body)) {
      this.fail('dispatcher answered an invalid assignment', null);
      return null;
    }
    return body;
  }

  private handleOpen(): void {
    this.phase = 'greeting';
    this.lastReceivedAt = this.options.timers.now();
    this.send({ type: 'hello', protocol: CLIENT_PROTOCOL_VERSION, client: this.options.clientId, page: this.options.page });
  }

  private handleClose(code: number, reason: string): void {
    this.socket = null;
    const node = this.view.node;
    const text = `${node ?? 'node'} closed the connection (${code}${reason ? `: ${reason}` : ''})`;
    if (TERMINAL_CLOSE_CODES.has(code)) {
      this.generation += 1;
      this.teardown(1000, 'terminal');
      this.phase = 'stopped';
      this.update({ status: FeedStatus.offline, error: text });
      return;
    }
    // Any node may serve us, so a node that failed or is going away is avoided on the next assignment.
    this.fail(text, node);
  }

  private handleMessage(data: unknown): void {
    this.lastReceivedAt = this.options.timers.now();
    if (typeof data !== 'string') {
      this.log('ignored a binary frame');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.log('ignored a frame that is not JSON');
      return;
    }
    if (!Check(ServerMessage, parsed)) {
      this.log(`ignored an invalid message: ${data.slice(0, 200)}`);
      return;
    }
    const message = parsed;
    switch (message.type) {
      case 'welcome':
        this.handleWelcome(message);
        return;
      case 'subscribed':
        if (message.id !== undefined) this.pendingSubscribeIds.delete(message.id);
        if (message.mode === 'snapshot') {
          this.pendingSnapshots += 1;
          this.snapshotTopics.push(message.topics);
        }
        this.maybeGoLive();
        return;
      case 'snapshot': {
        const topics = this.snapshotTopics.shift();
        this.pendingSnapshots = Math.max(0, this.pendingSnapshots - 1);
        this.refreshRequested = false;
        this.update({ board: reduceSnapshot(this.view.board, message, topics) });
        this.maybeGoLive();
        return;
      }
      case 'change': {
        const { state, outcome } = reduceChange(this.view.board, message);
        if (outcome === ChangeOutcome.epochMismatch) {
          // Our copy follows another epoch than this node's log: only a snapshot can put it right.
          if (!this.refreshRequested && this.phase === 'live') {
            this.refreshRequested = true;
            this.log(`change #${message.change.seq} of epoch ${message.epoch} does not follow ours; asking for a snapshot`);
            this.send({ type: 'refresh', id: this.takeRequestId() });
          }
          return;
        }
        if (outcome === ChangeOutcome.applied) this.update({ board: state });
        else this.view = { ...this.view, board: state };
        return;
      }
      case 'raffle':
        this.update({ board: reduceRaffle(this.view.board, message.state) });
        return;
      case 'raffle-notice':
        this.update({
          raffleNotice: { notice: message.notice, entry: message.entry, receivedAt: this.options.timers.now() },
        });
        return;
      case 'pong': {
        const sentAt = message.id === undefined ? undefined : this.pingSentAt.get(message.id);
        if (message.id !== undefined) this.pingSentAt.delete(message.id);
        if (sentAt !== undefined) this.update({ rttMs: this.options.timers.now() - sentAt });
        return;
      }
      case 'error':
        if (message.id !== undefined && this.pendingSubscribeIds.has(message.id)) {
          this.fail(`${this.view.node ?? 'node'} refused the subscription: ${message.message}`, null);
          return;
        }
        this.log(`node error ${message.code}: ${message.message}`);
        this.update({ error: `${message.code}: ${message.message}` });
        return;
      case 'cluster':
        return;
    }
  }

  private handleWelcome(welcome: WelcomeMessage): void {
    if (this.phase !== 'greeting') {
      this.log('ignored a second welcome');
      return;
    }
    if (welcome.protocol !== CLIENT_PROTOCOL_VERSION) {
      this.fail(`${welcome.node} speaks protocol ${welcome.protocol}, this page ${CLIENT_PROTOCOL_VERSION}`, welcome.node);
      return;
    }
    this.phase = 'subscribing';
    const board = reduceWelcome(this.view.board, welcome);
    this.update({ board, node: welcome.node });
    const topics = this.options.topics
      ? this.options.topics(welcome)
      : topicsForCatalog(welcome.catalog, { raffle: welcome.raffle.enabled });
    this.subscribedTopics = topics;
    this.pendingSubscribeIds.clear();
    this.pendingSnapshots = 0;
    this.snapshotTopics = [];
    this.refreshRequested = false;
    // The position is global, so resuming is only sound when one request covers every
    // topic; past TOPICS_MAX the page asks for snapshots, chunk by chunk.
    const resume = topics.length <= TOPICS_MAX ? resumePointOf(board) : undefined;
    for (let start = 0; start < topics.length; start += TOPICS_MAX) {
      const id = this.takeRequestId();
      this.pendingSubscribeIds.add(id);
      const chunk = topics.slice(start, start + TOPICS_MAX);
      this.send(resume ? { type: 'subscribe', id, topics: chunk, resume } : { type: 'subscribe', id, topics: chunk });
    }
    this.scheduleHeartbeat();
    if (topics.length === 0) this.maybeGoLive();
  }

  private maybeGoLive(): void {
    if (this.phase !== 'subscribing') return;
    if (this.pendingSubscribeIds.size > 0 || this.pendingSnapshots > 0) return;
    const wasLive = this.everLive;
    this.phase = 'live';
    this.everLive = true;
    this.excludedNodes = [];
    this.clearTimer('attemptTimer');
    this.update({
      status: FeedStatus.live,
      error: null,
      attempt: 0,
      retryAt: null,
      reconnectCount: this.view.reconnectCount + (wasLive ? 1 : 0),
    });
  }

  // ---- heartbeat ----

  private scheduleHeartbeat(): void {
    this.setTimer('heartbeatTimer', this.heartbeat.intervalMs, () => this.beat());
  }

  private beat(): void {
    const silentMs = this.options.timers.now() - this.lastReceivedAt;
    if (silentMs >= this.heartbeat.timeoutMs) {
      this.fail(`${this.view.node ?? 'node'} silent for ${silentMs} ms`, this.view.node, CloseCode.heartbeatTimeout);
      return;
    }
    const id = this.takeRequestId();
    // Bound the map: a node that never pongs must not make it grow.
    if (this.pingSentAt.size > 16) this.pingSentAt.clear();
    this.pingSentAt.set(id, this.options.timers.now());
    this.send({ type: 'ping', id });
    this.scheduleHeartbeat();
  }

  // ---- failure and retry ----

  /** Gives up the current attempt or connection and schedules the next one after a backoff. */
  private fail(reason: string, excludeNode: string | null, closeCode = 4000): void {
    if (this.phase === 'stopped' || this.phase === 'idle') return;
    this.generation += 1;
    this.teardown(closeCode, 'reconnecting');
    if (excludeNode !== null) {
      this.excludedNodes = [...this.excludedNodes.filter((node) => node !== excludeNode), excludeNode].slice(-EXCLUDED_NODES_MAX);
    }
    const delayMs = backoffDelayMs(this.view.attempt, this.backoff, this.options.random);
    this.phase = 'waiting';
    this.log(`${reason}; next attempt in ${delayMs} ms${this.excludedNodes.length > 0 ? `, avoiding ${this.excludedNodes.join(', ')}` : ''}`);
    this.update({
      status: this.everLive ? FeedStatus.reconnecting : FeedStatus.connecting,
      error: reason,
      attempt: this.view.attempt + 1,
      retryAt: this.options.timers.now() + delayMs,
    });
    this.setTimer('retryTimer', delayMs, () => {
      this.retryTimer = null;
      void this.beginAttempt();
    });
  }

  private teardown(code: number, reason: string): void {
    this.clearTimer('attemptTimer');
    this.clearTimer('heartbeatTimer');
    this.abort?.abort();
    this.abort = null;
    const socket = this.socket;
    this.socket = null;
    this.pendingSubscribeIds.clear();
    this.pendingSnapshots = 0;
    this.snapshotTopics = [];
    this.pingSentAt.clear();
    if (socket) {
      try {
        socket.close(code, reason);
      } catch {
        // Closing a socket that never opened may throw; it is gone either way.
      }
    }
  }

  // ---- small helpers ----

  private send(message: ClientMessage): void {
    if (!this.socket) return;
    try {
      this.socket.send(JSON.stringify(message));
    } catch (error) {
      this.fail(`send failed: ${messageOf(error)}`, this.view.node);
    }
  }

  private takeRequestId(): number {
    const id = this.nextRequestId;
    this.nextRequestId = id >= 2 ** 31 - 1 ? 1 : id + 1;
    return id;
  }

  private setTimer(name: 'attemptTimer' | 'heartbeatTimer' | 'retryTimer', delayMs: number, callback: () => void): void {
    this.clearTimer(name);
    this[name] = this.options.timers.setTimeout(callback, delayMs);
  }

  private clearTimer(name: 'attemptTimer' | 'heartbeatTimer' | 'retryTimer'): void {
    if (this[name] !== null) {
      this.options.timers.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  private update(patch: Partial<FeedView>): void {
    this.view = { ...this.view, ...patch };
    for (const listener of this.listeners) listener(this.view);
  }

  private log(message: string): void {
    this.options.log?.(`[live-feed] ${message}`);
  }

  /** The topics of the current subscription (for tests and the cluster view). */
  get topics(): readonly string[] {
    return this.subscribedTopics;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

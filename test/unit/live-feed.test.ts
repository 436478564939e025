// Checks the browser's LiveFeed against a fake dispatcher, fake sockets and a fake
// clock: the first connection, resume after a drop on another node (the failed one
// excluded), duplicates ignored, a snapshot when the epoch changed, the backoff's
// bounds, the heartbeat, terminal close codes and stop. No real time passes: timers
// fire when the test advances the clock.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyTally, type BoardData, type Change } from '../../shared/board.js';
import { CloseCode, type Assignment, type ClientMessage, type ServerMessage } from '../../shared/client-protocol.js';
import {
  backoffDelayMs,
  FeedStatus,
  LiveFeed,
  type FeedFetch,
  type FeedSocketHandlers,
  type FeedTimers,
  type FeedView,
  type LiveFeedOptions,
} from '../../web/src/live-feed.js';

// ---- fakes ----

class FakeClock implements FeedTimers {
  private nowMs = 1_000_000;
  private nextId = 1;
  private timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.nowMs;
  }
  setTimeout(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.nowMs + delayMs, callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time forward, firing due timers in order (and those they set, when due). */
  async advance(ms: number): Promise<void> {
    const end = this.nowMs + ms;
    for (;;) {
      let next: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.nowMs = Math.max(this.nowMs, next[1].at);
      next[1].callback();
      await flush();
    }
    this.nowMs = end;
    await flush();
  }
}

class FakeSocket {
  readonly sent: ClientMessage[] = [];
  closedWith: number | null = null;
  constructor(
    readonly url: string,
    private readonly handlers: FeedSocketHandlers,
  ) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
  }
  // The node's side:
  open(): void {
    this.handlers.onOpen();
  }
  receive(message: ServerMessage | Record<string, unknown>): void {
    this.handlers.onMessage(JSON.stringify(message));
  }
  receiveRaw(data: unknown): void {
    this.handlers.onMessage(data);
  }
  drop(code = 1006, reason = ''): void {
    this.handlers.onError();
    this.handlers.onClose(code, reason);
  }
  last<T extends ClientMessage['type']>(type: T): Extract<ClientMessage, { type: T }> {
    const found = [...this.sent].reverse().find((message) => message.type === type);
    assert.ok(found, `no ${type} was sent; sent: ${JSON.stringify(this.sent)}`);
    return found as Extract<ClientMessage, { type: T }>;
  }
}

const NODES: Record<string, Assignment> = {
  'node-1': { node: 'node-1', http: 'http://127.0.0.1:4011', ws: 'ws://127.0.0.1:4011/ws', clients: 0 },
  'node-2': { node: 'node-2', http: 'http://127.0.0.1:4012', ws: 'ws://127.0.0.1:4012/ws', clients: 0 },
  'node-3': { node: 'node-3', http: 'http://127.0.0.1:4013', ws: 'ws://127.0.0.1:4013/ws', clients: 0 },
};

/** A dispatcher that assigns the first node in its order that is not excluded; or answers what the test queued. */
class FakeDispatcher {
  readonly urls: string[] = [];
  readonly queued: Array<{ status: number; body: unknown } | Error> = [];
  order = ['node-1', 'node-2', 'node-3'];

  readonly fetch: FeedFetch = async (url) => {
    this.urls.push(url);
    const queued = this.queued.shift();
    if (queued instanceof Error) throw queued;
    if (queued) return response(queued.status, queued.body);
    const excluded = new URL(url, 'http://dispatcher').searchParams.get('exclude')?.split(',') ?? [];
    const node = this.order.find((id) => !excluded.includes(id));
    if (!node) return response(503, { statusCode: 503, error: 'Service Unavailable', code: 'NO_NODE', message: 'no healthy node' });
    return response(200, NODES[node]);
  };

  excludedOf(index: number): string[] {
    const url = this.urls.at(index);
    assert.ok(url, `no assign request #${index}`);
    return new URL(url, 'http://dispatcher').searchParams.get('exclude')?.split(',') ?? [];
  }
}

function response(status: number, body: unknown): ReturnType<FeedFetch> {
  return Promise.resolve({ ok: status >= 200 && status < 300, status, json: async () => body });
}

async function flush(): Promise<void> {
  for (let index = 0; index < 5; index += 1) await new Promise((resolve) => setImmediate(resolve));
}

const CATALOG = { teams: ['Gaul', 'Rome'], events: ['Luge'] };
const TOPICS = ['medals:Gaul', 'medals:Rome', 'score:Luge'];

function boardData(lugeGaul: number): BoardData {
  return { medals: { Gaul: emptyTally(), Rome: emptyTally() }, scores: { Luge: { Gaul: { value: lugeGaul, updatedAt: 5 } } } };
}

function changeMessage(epoch: string, seq: number, scores: Record<string, number>): ServerMessage {
  const change: Change = { kind: 'score', seq, event: 'Luge', scores, updatedAt: 100 + seq, node: 'node-1' };
  return { type: 'change', epoch, change };
}

function welcomeMessage(node: string, epoch: string, seq: number): ServerMessage {
  return {
    type: 'welcome',
    protocol: 1,
    node,
    client: 'v-test',
    epoch,
    seq,
    catalog: CATALOG,
    raffle: { enabled: false, everyN: 100 },
    serverTime: 0,
  };
}

class Harness {
  readonly clock = new FakeClock();
  readonly dispatcher = new FakeDispatcher();
  readonly sockets: FakeSocket[] = [];
  readonly views: FeedView[] = [];
  readonly logs: string[] = [];
  readonly feed: LiveFeed;
  randomValue = 0.5;

  constructor(options: Partial<LiveFeedOptions> = {}) {
    this.feed = new LiveFeed({
      page: 'scoreboard',
      clientId: 'v-test',
      assignUrl: '/api/assign',
      createSocket: (url, handlers) => {
        const socket = new FakeSocket(url, handlers);
        this.sockets.push(socket);
        return socket;
      },
      fetch: this.dispatcher.fetch,
      timers: this.clock,
      random: () => this.randomValue,
      log: (message) => this.logs.push(message),
      ...options,
    });
    this.feed.addListener((view) => this.views.push(view));
  }

  get socket(): FakeSocket {
    const socket = this.sockets.at(-1);
    assert.ok(socket, 'no socket was opened');
    return socket;
  }

  /** Starts and brings the feed live on node-1 with a snapshot at (epoch, seq). */
  async startLive(epoch = 'e1', seq = 3): Promise<FakeSocket> {
    this.feed.start();
    await flush();
    const socket = this.socket;
    socket.open();
    socket.receive(welcomeMessage('node-1', epoch, seq));
    const subscribe = socket.last('subscribe');
    socket.receive({ type: 'subscribed', id: subscribe.id, topics: subscribe.topics, mode: 'snapshot', missed: 0 });
    socket.receive({ type: 'snapshot', epoch, seq, data: boardData(1) });
    assert.equal(this.feed.status, FeedStatus.live);
    return socket;
  }

  /** Advances exactly to the end of the current backoff wait. */
  async untilRetry(): Promise<void> {
    const retryAt = this.feed.current.retryAt;
    assert.ok(retryAt !== null, 'a retry is scheduled');
    await this.clock.advance(retryAt - this.clock.now());
  }

  /** Lets the backoff timer fire and the new assignment be fetched. */
  async waitForRetry(): Promise<FakeSocket> {
    const before = this.sockets.length;
    await this.untilRetry();
    assert.equal(this.sockets.length, before + 1, 'a new socket was opened after the backoff');
    return this.socket;
  }
}

// ---- tests ----

describe('LiveFeed', () => {
  it('assigns, says hello, subscribes to every catalog topic without resume, and goes live after the snapshot', async () => {
    const harness = new Harness();
    assert.equal(harness.feed.status, FeedStatus.connecting);
    harness.feed.start();
    await flush();
    assert.deepEqual(harness.dispatcher.urls, ['/api/assign']);
    const socket = harness.socket;
    assert.equal(socket.url, NODES['node-1']?.ws);
    socket.open();
    assert.deepEqual(socket.sent[0], { type: 'hello', protocol: 1, client: 'v-test', page: 'scoreboard' });
    socket.receive(welcomeMessage('node-1', 'e1', 3));
    const subscribe = socket.last('subscribe');
    assert.deepEqual(subscribe.topics, TOPICS);
    assert.equal(subscribe.resume, undefined, 'nothing to resume on a first connection');
    socket.receive({ type: 'subscribed', id: subscribe.id, topics: TOPICS, mode: 'snapshot', missed: 0 });
    assert.equal(harness.feed.status, FeedStatus.connecting, 'not live until the snapshot arrived');
    socket.receive({ type: 'snapshot', epoch: 'e1', seq: 3, data: boardData(7) });
    const view = harness.feed.current;
    assert.equal(view.status, FeedStatus.live);
    assert.equal(view.node, 'node-1');
    assert.equal(view.board.seq, 3);
    assert.equal(view.board.data.scores.Luge?.Gaul?.value, 7);
    assert.deepEqual(view.board.catalog, CATALOG);
  });

  it('applies each change once: a repeated or older seq is ignored and no update is emitted for it', async () => {
    const harness = new Harness();
    const socket = await harness.startLive('e1', 3);
    socket.receive(changeMessage('e1', 4, { Gaul: 10 }));
    const updates = harness.views.length;
    socket.receive(changeMessage('e1', 4, { Gaul: 99 }));
    socket.receive(changeMessage('e1', 2, { Gaul: 98 }));
    assert.equal(harness.views.length, updates, 'duplicates do not re-render');
    const board = harness.feed.current.board;
    assert.equal(board.seq, 4);
    assert.equal(board.data.scores.Luge?.Gaul?.value, 10);
    assert.equal(board.appliedCount, 1);
    assert.equal(board.duplicateCount, 2);
  });

  it('after a drop, asks for another node excluding the failed one, resumes from its position and ignores the overlap', async () => {
    const harness = new Harness();
    const first = await harness.startLive('e1', 3);
    first.receive(changeMessage('e1', 4, { Gaul: 10 }));
    first.drop(1006);
    assert.equal(harness.feed.status, FeedStatus.reconnecting);
    assert.match(harness.feed.current.error ?? '', /node-1/);

    const second = await harness.waitForRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), ['node-1']);
    assert.equal(second.url, NODES['node-2']?.ws);
    second.open();
    second.receive(welcomeMessage('node-2', 'e1', 6));
    const subscribe = second.last('subscribe');
    assert.deepEqual(subscribe.resume, { epoch: 'e1', seq: 4 });
    second.receive({ type: 'subscribed', id: subscribe.id, topics: TOPICS, mode: 'resumed', missed: 2 });
    assert.equal(harness.feed.status, FeedStatus.live);
    second.receive(changeMessage('e1', 4, { Gaul: 77 }));
    second.receive(changeMessage('e1', 5, { Rome: 2 }));
    second.receive(changeMessage('e1', 6, { Gaul: 12 }));
    const view = harness.feed.current;
    assert.equal(view.node, 'node-2');
    assert.equal(view.board.seq, 6);
    assert.equal(view.board.data.scores.Luge?.Gaul?.value, 12);
    assert.equal(view.board.data.scores.Luge?.Rome?.value, 2);
    assert.equal(view.board.duplicateCount, 1);
    assert.equal(view.reconnectCount, 1);
    assert.equal(view.error, null);
    const statuses = harness.views.map((entry) => entry.status).filter((status, index, all) => status !== all[index - 1]);
    assert.deepEqual(statuses, ['connecting', 'live', 'reconnecting', 'live']);
  });

  it('takes a snapshot of a new epoch even when its seq is lower, and follows that epoch afterwards', async () => {
    const harness = new Harness();
    const first = await harness.startLive('e1', 9);
    first.drop(CloseCode.goingAway, 'restart');
    const second = await harness.waitForRetry();
    second.open();
    second.receive(welcomeMessage('node-2', 'e2', 2));
    const subscribe = second.last('subscribe');
    assert.deepEqual(subscribe.resume, { epoch: 'e1', seq: 9 }, 'the client sends what it has; the node decides');
    second.receive({ type: 'subscribed', id: subscribe.id, topics: TOPICS, mode: 'snapshot', missed: 0 });
    assert.equal(harness.feed.status, FeedStatus.reconnecting);
    second.receive({ type: 'snapshot', epoch: 'e2', seq: 2, data: boardData(42) });
    assert.equal(harness.feed.status, FeedStatus.live);
    second.receive(changeMessage('e2', 3, { Gaul: 43 }));
    const board = harness.feed.current.board;
    assert.equal(board.epoch, 'e2');
    assert.equal(board.seq, 3);
    assert.equal(board.data.scores.Luge?.Gaul?.value, 43);
  });

  it('asks for a refresh, once, when a live change comes from another epoch', async () => {
    const harness = new Harness();
    const socket = await harness.startLive('e1', 3);
    socket.receive(changeMessage('e9', 10, { Gaul: 5 }));
    socket.receive(changeMessage('e9', 11, { Gaul: 6 }));
    assert.equal(socket.sent.filter((message) => message.type === 'refresh').length, 1);
    assert.equal(harness.feed.current.board.seq, 3);
    socket.receive({ type: 'snapshot', epoch: 'e9', seq: 11, data: boardData(6) });
    assert.equal(harness.feed.current.board.epoch, 'e9');
  });

  it('keeps every retry delay within [base/2, base] of a capped exponential', () => {
    const options = { initialMs: 250, maxMs: 10_000, factor: 2 };
    const table: Array<[attempt: number, low: number, high: number]> = [
      [0, 125, 250],
      [1, 250, 500],
      [3, 1000, 2000],
      [6, 5000, 10_000],
      [40, 5000, 10_000],
      [10_000, 5000, 10_000],
    ];
    for (const [attempt, low, high] of table) {
      for (const random of [0, 0.25, 0.999_999, 1, -3, 7]) {
        const delay = backoffDelayMs(attempt, options, () => random);
        assert.ok(delay >= low && delay <= high, `attempt ${attempt}, random ${random}: ${delay} not in [${low}, ${high}]`);
      }
    }
  });

  it('backs off longer after each failed attempt, up to the cap, and resets once live', async () => {
    const harness = new Harness();
    harness.randomValue = 1;
    const delays: number[] = [];
    harness.feed.start();
    await flush();
    for (let attempt = 0; attempt < 8; attempt += 1) {
      harness.socket.drop(1006);
      const view = harness.feed.current;
      assert.ok(view.retryAt !== null);
      delays.push(view.retryAt - harness.clock.now());
      await harness.clock.advance(view.retryAt - harness.clock.now());
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    assert.equal(harness.feed.status, FeedStatus.connecting, 'never live yet: still connecting, not reconnecting');
    const socket = harness.socket;
    socket.open();
    socket.receive(welcomeMessage('node-1', 'e1', 0));
    const subscribe = socket.last('subscribe');
    socket.receive({ type: 'subscribed', id: subscribe.id, topics: TOPICS, mode: 'snapshot', missed: 0 });
    socket.receive({ type: 'snapshot', epoch: 'e1', seq: 0, data: boardData(0) });
    assert.equal(harness.feed.current.attempt, 0);
    socket.drop(1006);
    assert.equal(harness.feed.current.retryAt! - harness.clock.now(), 250);
  });

  it('remembers every node that failed since the page was live, and drops the list when none is left', async () => {
    const harness = new Harness();
    const first = await harness.startLive();
    first.drop(1006);
    const second = await harness.waitForRetry();
    assert.equal(second.url, NODES['node-2']?.ws);
    second.drop(1006);
    const third = await harness.waitForRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), ['node-1', 'node-2']);
    assert.equal(third.url, NODES['node-3']?.ws);
    third.drop(1006);
    await harness.untilRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), ['node-1', 'node-2', 'node-3']);
    assert.match(harness.feed.current.error ?? '', /no healthy node/, "the dispatcher's message is shown");
    const fourth = await harness.waitForRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), [], 'after a 503 the next request excludes nothing');
    assert.equal(fourth.url, NODES['node-1']?.ws);
  });

  it('retries when the dispatcher is unreachable or answers nonsense, keeping status connecting', async () => {
    const harness = new Harness();
    harness.dispatcher.queued.push(new Error('connection refused'), { status: 200, body: { node: 'node-1' } });
    harness.feed.start();
    await flush();
    assert.equal(harness.sockets.length, 0);
    assert.match(harness.feed.current.error ?? '', /dispatcher unreachable: connection refused/);
    await harness.untilRetry();
    assert.match(harness.feed.current.error ?? '', /invalid assignment/);
    assert.equal(harness.sockets.length, 0);
    await harness.untilRetry();
    assert.equal(harness.sockets.length, 1);
    assert.equal(harness.feed.status, FeedStatus.connecting);
  });

  it('pings on the heartbeat interval and gives a silent node up', async () => {
    const harness = new Harness({ heartbeat: { intervalMs: 1000, timeoutMs: 3000 } });
    const socket = await harness.startLive();
    await harness.clock.advance(1000);
    const ping = socket.last('ping');
    socket.receive({ type: 'pong', id: ping.id, serverTime: 0 });
    assert.equal(harness.feed.current.rttMs, 0);
    await harness.clock.advance(2000);
    assert.equal(harness.feed.status, FeedStatus.live, 'a pong counts as a sign of life');
    await harness.clock.advance(1000);
    assert.equal(socket.closedWith, CloseCode.heartbeatTimeout);
    assert.equal(harness.feed.status, FeedStatus.reconnecting);
    await harness.waitForRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), ['node-1']);
  });

  it('gives up an attempt whose socket never opens, and asks for another node', async () => {
    const harness = new Harness({ connectTimeoutMs: 2000 });
    harness.feed.start();
    await flush();
    await harness.clock.advance(2000);
    assert.equal(harness.sockets[0]?.closedWith, 4000);
    assert.match(harness.feed.current.error ?? '', /no live connection within 2000 ms/);
    await harness.waitForRetry();
    assert.deepEqual(harness.dispatcher.excludedOf(-1), ['node-1']);
  });

  it('stays offline after a terminal close code', async () => {
    const harness = new Harness();
    const socket = await harness.startLive();
    socket.drop(CloseCode.originRefused, 'origin not allowed');
    assert.equal(harness.feed.status, FeedStatus.offline);
    assert.equal(harness.clock.pending, 0, 'no retry is scheduled');
    await harness.clock.advance(60_000);
    assert.equal(harness.sockets.length, 1);
  });

  it('ignores frames that are not valid server messages', async () => {
    const harness = new Harness();
    const socket = await harness.startLive('e1', 3);
    const before = harness.feed.current;
    socket.receiveRaw('{not json');
    socket.receiveRaw(new Uint8Array([1, 2, 3]));
    socket.receive({ type: 'change', epoch: 'e1', change: { kind: 'score', seq: 'x' } });
    socket.receive({ type: 'teleport' });
    assert.equal(harness.feed.current, before);
    assert.equal(harness.logs.filter((line) => line.includes('ignored')).length, 4);
  });

  it('fails the attempt when the node refuses the subscription', async () => {
    const harness = new Harness();
    harness.feed.start();
    await flush();
    const socket = harness.socket;
    socket.open();
    socket.receive(welcomeMessage('node-1', 'e1', 0));
    const subscribe = socket.last('subscribe');
    socket.receive({ type: 'error', id: subscribe.id, code: 'BAD_TOPIC', message: 'unknown topic' });
    assert.match(harness.feed.current.error ?? '', /refused the subscription: unknown topic/);
    assert.equal(harness.feed.current.retryAt !== null, true);
  });

  it('keeps its raffle notices and state', async () => {
    const harness = new Harness();
    const socket = await harness.startLive();
    const entry = { ordinal: 3, index: 300, client: 'v-test', node: 'node-1', kind: 'subscribe' };
    socket.receive({ type: 'raffle-notice', notice: 'entered', entry });
    assert.deepEqual(harness.feed.current.raffleNotice?.entry, entry);
    socket.receive({
      type: 'raffle',
      state: { enabled: true, everyN: 100, delivered: 300, entries: 3, recentEntries: [entry], closed: true, winner: entry },
    });
    assert.equal(harness.feed.current.board.raffle?.winner?.client, 'v-test');
  });

  it('subscribes to the raffle only when the node says it is enabled', async () => {
    const harness = new Harness();
    harness.feed.start();
    await flush();
    harness.socket.open();
    harness.socket.receive({ ...welcomeMessage('node-1', 'e1', 0), raffle: { enabled: true, everyN: 100 } } as ServerMessage);
    assert.deepEqual(harness.socket.last('subscribe').topics, [...TOPICS, 'raffle']);
  });

  it('stops cleanly: socket closed, no timer left, offline; and resumes when started again', async () => {
    const harness = new Harness();
    const socket = await harness.startLive('e1', 5);
    harness.feed.stop();
    assert.equal(socket.closedWith, 1000);
    assert.equal(harness.feed.status, FeedStatus.offline);
    assert.equal(harness.clock.pending, 0);
    socket.drop(1006);
    assert.equal(harness.feed.status, FeedStatus.offline, 'events of the closed socket are ignored');
    harness.feed.start();
    await flush();
    harness.socket.open();
    harness.socket.receive(welcomeMessage('node-1', 'e1', 5));
    assert.deepEqual(harness.socket.last('subscribe').resume, { epoch: 'e1', seq: 5 });
  });
});

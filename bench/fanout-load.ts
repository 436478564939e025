import WebSocket from 'ws';

// The fan-out bench's load generator: one of a fixed number of processes forked by
// bench/fanout.ts (IPC with "advanced" serialisation, so typed arrays cross as they
// are). It opens its share of the subscribers from its own loopback source addresses,
// subscribes them all to one topic, and records for every change frame the receiving
// subscriber, the frame's seq and process.hrtime.bigint() at receipt. On Linux that
// is CLOCK_MONOTONIC, the same clock in every process of the machine, so the
// orchestrator's send stamps and these receipt stamps can be subtracted.
//
// The receive path is the same for the three servers and is kept cheap: no JSON
// parse, a prefix check and the digits after "seq":. Socket.IO is spoken at the
// Engine.IO v4 frame level with this same ws client (open "0…", connect "40",
// event "42[…]", ack "43…", ping "2" / pong "3"), so that the client's cost does not
// differ between servers and only the servers are compared.

export type LoadTarget =
  | { kind: 'olympix'; dispatcherUrl: string; topic: string }
  | { kind: 'ws'; url: string; topic: string }
  | { kind: 'sio'; url: string; topic: string };

export type LoadCommand =
  | { type: 'connect'; target: LoadTarget; count: number; addresses: string[]; concurrency: number; timeoutMs: number }
  | { type: 'arm'; expected: number }
  | { type: 'report'; writes: WriteStamp[] }
  | { type: 'close' };

/** One write: its seq, when the writer sent it and when the server accepted it (CLOCK_MONOTONIC ns). */
export interface WriteStamp {
  seq: number;
  sentNs: number;
  acceptedNs: number;
}

export interface ConnectResult {
  type: 'connected';
  opened: number;
  failed: number;
  errors: string[];
  /** Subscribers per node (olympix) or per server. */
  byNode: Record<string, number>;
}

export interface LoadReport {
  type: 'report';
  /** Latency in ms from the write's acceptance of every (write, subscriber) pair received once. */
  latenciesMs: Float64Array;
  /** The same pairs from the writer's send. */
  fromSendMs: Float64Array;
  /** Per write (in seq order): the latest receipt's latency from acceptance, ms. */
  lastMs: Float64Array;
  /** Per write (in seq order): the earliest receipt's latency from acceptance, ms. */
  firstMs: Float64Array;
  firstReceiptNs: number;
  lastReceiptNs: number;
  received: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
  /** Subscribers whose socket closed since they subscribed. */
  closed: number;
  /** Close codes of those, with counts. */
  closeCodes: Record<number, number>;
  /** Frames that were not changes (pings, notices). */
  otherFrames: number;
}

export type LoadMessage = ConnectResult | LoadReport | { type: 'armed' } | { type: 'complete' } | { type: 'closed' } | { type: 'error'; message: string };

const OLYMPIX_CHANGE_PREFIX = Buffer.from('{"type":"change"');
const SIO_CHANGE_PREFIX = Buffer.from('42["change"');
const SEQ_KEY = Buffer.from('"seq":');
const SIO_PING = 0x32; // "2"

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** The integer after the first "seq": in the frame, or -1. */
function readSeq(data: Buffer): number {
  let at = data.indexOf(SEQ_KEY);
  if (at < 0) return -1;
  at += SEQ_KEY.length;
  let seq = 0;
  let digits = 0;
  for (; at < data.length; at++) {
    const byte = data[at]!;
    if (byte < 0x30 || byte > 0x39) break;
    seq = seq * 10 + (byte - 0x30);
    digits++;
  }
  return digits === 0 ? -1 : seq;
}

const send = (message: LoadMessage): void => {
  process.send!(message);
};

// ---- state of the current phase ----
const sockets: WebSocket[] = [];
let changePrefix = OLYMPIX_CHANGE_PREFIX;
let isSocketIo = false;
let capacity = 0;
let counts = new Int32Array(0);
let seqs = new Int32Array(0);
let times = new Float64Array(0);
let received = 0;
let target = Infinity;
let otherFrames = 0;
let closedSubscribers = 0;
const closeCodes = new Map<number, number>();

function receive(index: number, socket: WebSocket, data: Buffer): void {
  const nowNs = Number(process.hrtime.bigint());
  if (!startsWith(data, changePrefix)) {
    if (isSocketIo && data.length === 1 && data[0] === SIO_PING) socket.send('3');
    else otherFrames++;
    return;
  }
  const n = counts[index]!;
  if (n < capacity) {
    const slot = index * capacity + n;
    seqs[slot] = readSeq(data);
    times[slot] = nowNs;
  }
  counts[index] = n + 1;
  received++;
  if (received === target) send({ type: 'complete' });
}

async function assign(dispatcherUrl: string): Promise<{ node: string; ws: string }> {
  const response = await fetch(`${dispatcherUrl}/api/assign`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`assign: HTTP ${response.status}`);
  return (await response.json()) as { node: string; ws: string };
}

/** Opens one subscriber and resolves once its subscription is confirmed (olympix: after the snapshot). */
async function openSubscriber(index: number, target: LoadTarget, localAddress: string, timeoutMs: number): Promise<string> {
  let url: string;
  let node: string;
  if (target.kind === 'olympix') {
    const assignment = await assign(target.dispatcherUrl);
    url = assignment.ws;
    node = assignment.node;
  } else if (target.kind === 'ws') {
    url = `${target.url.replace(/^http/, 'ws')}/ws`;
    node = 'ref-ws';
  } else {
    url = `${target.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    node = 'ref-sio';
  }
  return new Promise<string>((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, localAddress, handshakeTimeout: timeoutMs });
    let ready = false;
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      reject(new Error(reason));
    };
    const timer = setTimeout(() => fail('subscription not confirmed in time'), timeoutMs);
    const subscribeText = JSON.stringify({ type: 'subscribe', id: 1, topics: [target.topic] });
    const confirm = () => {
      if (settled) return;
      settled = true;
      ready = true;
      clearTimeout(timer);
      sockets[index] = socket;
      resolve(node);
    };
    // Setup frames are few: parsed as JSON. After confirmation every frame goes to receive().
    let sawSubscribed = false;
    const setup = (data: Buffer) => {
      const text = data.toString('utf8');
      if (target.kind === 'sio') {
        if (text.startsWith('0{')) socket.send('40');
        else if (text.startsWith('40')) socket.send(`420${JSON.stringify(['subscribe', target.topic])}`);
        else if (text.startsWith('430')) confirm();
        else if (text === '2') socket.send('3');
        else if (text.startsWith('44')) fail(`socket.io connect error: ${text}`);
        return;
      }
      const message = JSON.parse(text) as { type: string; code?: string; message?: string };
      if (message.type === 'error') return fail(`${message.code}: ${message.message}`);
      if (target.kind === 'olympix') {
        if (message.type === 'welcome' && !sawSubscribed) socket.send(subscribeText);
        else if (message.type === 'subscribed') sawSubscribed = true;
        else if (message.type === 'snapshot' && sawSubscribed) confirm();
      } else if (message.type === 'subscribed') confirm();
    };
    socket.on('open', () => {
      if (target.kind === 'ws') socket.send(subscribeText);
    });
    socket.on('message', (data: Buffer) => (ready ? receive(index, socket, data) : setup(data)));
    socket.on('unexpected-response', (_request, response) => fail(`upgrade refused: HTTP ${response.statusCode}`));
    socket.on('error', (error) => fail(error.message));
    socket.on('close', (code) => {
      // Only this round's subscribers count: the previous round's closes may still be arriving.
      if (ready && sockets[index] === socket) {
        closedSubscribers++;
        closeCodes.set(code, (closeCodes.get(code) ?? 0) + 1);
      }
      else fail(`closed before subscribing: ${code}`);
    });
  });
}

async function connectAll(command: Extract<LoadCommand, { type: 'connect' }>): Promise<ConnectResult> {
  changePrefix = command.target.kind === 'sio' ? SIO_CHANGE_PREFIX : OLYMPIX_CHANGE_PREFIX;
  isSocketIo = command.target.kind === 'sio';
  const perAddress = Math.ceil(command.count / command.addresses.length);
  const byNode: Record<string, number> = {};
  const errors = new Map<string, number>();
  let next = 0;
  let opened = 0;
  let failed = 0;
  const worker = async () => {
    while (next < command.count) {
      const index = next++;
      const address = command.addresses[Math.floor(index / perAddress)]!;
      try {
        const node = await openSubscriber(index, command.target, address, command.timeoutMs);
        byNode[node] = (byNode[node] ?? 0) + 1;
        opened++;
      } catch (error) {
        failed++;
        const reason = (error as Error).message;
        errors.set(reason, (errors.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.count) }, worker));
  return { type: 'connected', opened, failed, errors: [...errors].map(([reason, times]) => `${times}x ${reason}`).slice(0, 5), byNode };
}

function arm(expected: number): void {
  capacity = expected + 4;
  counts = new Int32Array(sockets.length);
  seqs = new Int32Array(sockets.length * capacity);
  times = new Float64Array(sockets.length * capacity);
  received = 0;
  otherFrames = 0;
  const live = sockets.filter((socket) => socket !== undefined && socket.readyState === WebSocket.OPEN).length;
  target = live * expected;
  if (target === 0) send({ type: 'complete' });
}

/** Matches receipts to writes by seq and checks every subscriber got every write, in order, once. */
function report(writes: WriteStamp[]): LoadReport {
  const ordered = [...writes].sort((a, b) => a.seq - b.seq);
  const indexOfSeq = new Map(ordered.map((write, index) => [write.seq, index]));
  const sentNs = ordered.map((write) => write.sentNs);
  const acceptedNs = ordered.map((write) => write.acceptedNs);
  const latenciesMs = new Float64Array(sockets.length * ordered.length);
  const fromSendMs = new Float64Array(sockets.length * ordered.length);
  const lastMs = new Float64Array(ordered.length).fill(Number.NaN);
  const firstMs = new Float64Array(ordered.length).fill(Number.NaN);
  const seen = new Uint8Array(ordered.length);
  let filled = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  let firstReceiptNs = Infinity;
  let lastReceiptNs = -Infinity;
  for (let subscriber = 0; subscriber < sockets.length; subscriber++) {
    if (sockets[subscriber] === undefined) continue;
    seen.fill(0);
    let previousSeq = -1;
    let distinct = 0;
    const n = counts[subscriber]!;
    for (let k = 0; k < Math.min(n, capacity); k++) {
      const slot = subscriber * capacity + k;
      const seq = seqs[slot]!;
      if (seq <= previousSeq) outOfOrder++;
      previousSeq = seq;
      const write = indexOfSeq.get(seq);
      if (write === undefined) {
        unexpected++;
        continue;
      }
      if (seen[write]) {
        duplicates++;
        continue;
      }
      seen[write] = 1;
      distinct++;
      const receiptNs = times[slot]!;
      if (receiptNs < firstReceiptNs) firstReceiptNs = receiptNs;
      if (receiptNs > lastReceiptNs) lastReceiptNs = receiptNs;
      const latencyMs = (receiptNs - acceptedNs[write]!) / 1e6;
      fromSendMs[filled] = (receiptNs - sentNs[write]!) / 1e6;
      latenciesMs[filled++] = latencyMs;
      if (!(lastMs[write]! >= latencyMs)) lastMs[write] = latencyMs;
      if (!(firstMs[write]! <= latencyMs)) firstMs[write] = latencyMs;
    }
    if (n > capacity) duplicates += n - capacity;
    missing += ordered.length - distinct;
  }
  return {
    type: 'report',
    latenciesMs: latenciesMs.slice(0, filled),
    fromSendMs: fromSendMs.slice(0, filled),
    lastMs,
    firstMs,
    firstReceiptNs,
    lastReceiptNs,
    received,
    missing,
    duplicates,
    outOfOrder,
    unexpected,
    closed: closedSubscribers,
    closeCodes: Object.fromEntries(closeCodes),
    otherFrames,
  };
}

async function closeAll(): Promise<void> {
  for (const socket of sockets) socket?.terminate();
  sockets.length = 0;
  closedSubscribers = 0;
  closeCodes.clear();
  // Give the closes a moment to leave the process before answering.
  await new Promise((resolve) => setTimeout(resolve, 100));
}

if (!process.send) {
  process.stderr.write('bench/fanout-load.ts is started by bench/fanout.ts (it needs an IPC channel)\n');
  process.exit(2);
}
// The orchestrator going away ends this process too: nothing is left running.
process.on('disconnect', () => process.exit(0));
process.on('message', (command: LoadCommand) => {
  const handle = async (): Promise<void> => {
    switch (command.type) {
      case 'connect':
        return send(await connectAll(command));
      case 'arm':
        arm(command.expected);
        return send({ type: 'armed' });
      case 'report':
        return send(report(command.writes));
      case 'close':
        await closeAll();
        return send({ type: 'closed' });
    }
  };
  handle().catch((error: unknown) => send({ type: 'error', message: String((error as Error)?.stack ?? error) }));
});

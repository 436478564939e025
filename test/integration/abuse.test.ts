import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { DEFAULT_CATALOG, medalTopic, scoreTopic, type Catalog } from '../../shared/board.js';
import { CloseCode, type ServerMessage } from '../../shared/client-protocol.js';
import { addressKey, ConnectionLimits } from '../../server/connection-limits.js';
import { ClusterHarness, waitFor } from '../support/cluster-harness.js';
import { TestClient } from '../support/ws-client.js';

// Hostile input against real processes on loopback: one cluster (store, dispatcher,
// three nodes) for the whole file. Every case must get a clear error or close code;
// no process may crash; the abuse must not change the store (its sequence number and
// the board are compared before and after); and memory must stay bounded (VmRSS of
// every process from /proc, before and after the floods, printed at the end).
//
// The catalog is large on purpose (200 teams with long names): a score change then
// weighs about 14 KB and a snapshot about 60 KB, so that a client that does not read
// can be pushed past its 4 MiB outbound bound with a few hundred writes.

const MIB = 1024 * 1024;
const RSS_GROWTH_MAX_KIB = 64 * 1024;

const CATALOG: Catalog = {
  teams: [
    ...DEFAULT_CATALOG.teams,
    ...Array.from({ length: 198 }, (_, i) => `Village ${String(i).padStart(3, '0')} on the Armorican coast by the menhir quarry`),
  ],
  events: [...DEFAULT_CATALOG.events],
};
const BOARD_TOPICS = [...CATALOG.teams.map(medalTopic), ...CATALOG.events.map(scoreTopic)];

// ---- helpers: processes, raw HTTP, raw WebSocket frames ----

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The parsed JSON body, or null when it is not JSON. */
  json: Record<string, unknown> | null;
}

/** Writes bytes exactly as given to a port on loopback and reads the answer until the server closes. */
function rawHttp(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${String(request).slice(0, 80)}`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {}); // a reset after the answer is fine: 'close' follows
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const body = split < 0 ? '' : text.slice(split + 4);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!status) {
        reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = null;
      }
      resolve({ status: Number(status[1]), headers, body, json });
    });
    socket.write(request);
  });
}

function get(path: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({ host: '127.0.0.1', connection: 'close', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Buffer {
  const all = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers };
  const head = `POST ${path} HTTP/1.1\r\n${Object.entries(all).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}

/** One client-to-server WebSocket frame (RFC 6455 5.2), masked as a client's must be. */
function frame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: boolean; rsv?: number; claimedLength?: bigint } = {}): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = options.claimedLength ?? BigInt(payload.length);
  const header: number[] = [(fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126n) header.push(maskBit | Number(length));
  else if (length < 65_536n) header.push(maskBit | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) header.push(Number((length >> shift) & 0xffn));
  }
  if (!mask) return Buffer.concat([Buffer.from(header), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(header), key, masked]);
}

/** A WebSocket client on a bare TCP socket: frames are written by hand, and the server's close code is read from its close frame. */
class RawWebSocket {
  /** The close code the server sent, or 1006 if the connection ended without a close frame. */
  readonly closed: Promise<number>;
  private buffered = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => {
      let code = 1006;
      socket.on('data', (chunk) => {
        this.buffered = Buffer.concat([this.buffered, chunk]);
        // Server frames are unmasked: parse enough of each to find a close frame.
        for (;;) {
          if (this.buffered.length < 2) break;
          let length = this.buffered[1]! & 0x7f;
          let offset = 2;
          if (length === 126) {
            if (this.buffered.length < 4) break;
            length = this.buffered.readUInt16BE(2);
            offset = 4;
          } else if (length === 127) {
            if (this.buffered.length < 10) break;
            length = Number(this.buffered.readBigUInt64BE(2));
            offset = 10;
          }
          if (this.buffered.length < offset + length) break;
          const opcode = this.buffered[0]! & 0x0f;
          if (opcode === 0x8 && length >= 2) code = this.buffered.readUInt16BE(offset);
          this.buffered = this.buffered.subarray(offset + length);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(code));
    });
  }

  static async open(port: number, path = '/ws', headers: Record<string, string> = {}): Promise<RawWebSocket> {
    const socket = connectTcp({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const lines = Object.entries({
      host: `127.0.0.1:${port}`,
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': randomBytes(16).toString('base64'),
      'sec-websocket-version': '13',
      ...headers,
    }).map(([name, value]) => `${name}: ${value}`);
    socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    // Read the 101 answer; whatever follows it (the welcome) is handed to the frame parser.
    const rest = await new Promise<Buffer>((resolve, reject) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const status = head.subarray(0, end).toString('latin1');
        if (!status.startsWith('HTTP/1.1 101')) reject(new Error(`upgrade refused: ${status.split('\r\n')[0]}`));
        else resolve(head.subarray(end + 4));
      };
      socket.on('data', onData);
      socket.once('close', () => reject(new Error('closed during the upgrade')));
    });
    const raw = new RawWebSocket(socket);
    if (rest.length > 0) socket.emit('data', rest);
    return raw;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A small seeded generator (xorshift32), so that "random" input can be replayed from the printed seed. */
function seededBytes(seed: number, length: number): Buffer {
  let state = seed >>> 0 || 1;
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Opens a ws client and resolves with 'welcome' or with the close code it got instead. */
function welcomeOrClose(url: string, headers: Record<string, string> = {}): Promise<{ socket: WebSocket; outcome: 'welcome' | number }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, headers });
    socket.once('message', () => resolve({ socket, outcome: 'welcome' }));
    socket.once('close', (code) => resolve({ socket, outcome: code }));
    socket.once('unexpected-response', (_request, response) => resolve({ socket, outcome: -(response.statusCode ?? 0) }));
    socket.on('error', () => {});
  });
}

/** Waits for the upgrade to be refused; returns the status, body and headers of the refusal. */
function refusedUpgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, headers });
    socket.on('error', () => {});
    socket.once('open', () => {
      socket.terminate();
      reject(new Error(`upgrade to ${url} was accepted, expected a refusal`));
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => {
        socket.terminate();
        resolve({ status: response.statusCode ?? 0, body, headers: response.headers });
      });
    });
  });
}

async function subscribedClient(url: string, topics = BOARD_TOPICS, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(url, headers);
  await client.next((message) => message.type === 'welcome');
  // At most 128 topics per subscribe: as many subscribes as it takes, each answered by a snapshot.
  const chunks: string[][] = [];
  for (let i = 0; i < topics.length; i += 128) chunks.push(topics.slice(i, i + 128));
  chunks.forEach((chunk, i) => client.send({ type: 'subscribe', id: i + 1, topics: chunk }));
  const snapshots = () => client.messages.filter((message) => message.type === 'snapshot').length;
  await client.next(() => snapshots() >= chunks.length);
  return client;
}

function errorCodes(client: TestClient, from = 0): string[] {
  return client.messages.slice(from).filter((message) => message.type === 'error').map((message) => (message as Extract<ServerMessage, { type: 'error' }>).code);
}

describe('abuse on a real cluster', () => {
  let cluster: ClusterHarness;
  let secret: string;
  let node1: { id: string; http: string; ws: string };
  let node2: { id: string; http: string; ws: string };
  let node3: { id: string; http: string; ws: string };
  /** The store's state and sequence number before any abuse. */
  let storeBefore: { seq: number; state: unknown };
  const rssBeforeKiB = new Map<string, number>();
  const rssPeakKiB = new Map<string, number>();
  /** One quiet, well-behaved page per node, connected through the whole file: the abuse must not disturb it. */
  const bystanders = new Map<string, TestClient>();
  /** Requests that send their head or body a byte at a time, started first and checked later. */
  let slowRequests: Promise<Array<{ what: string; status: number | null; afterMs: number }>>;

  const names = ['store', 'dispatcher', 'node-1', 'node-2', 'node-3'];
  const notePeak = (name: string) => rssPeakKiB.set(name, Math.max(rssPeakKiB.get(name) ?? 0, rssKiB(cluster.pid(name)!)));
  const storeSeq = async () => (await cluster.get('store', '/api/health')).body.seq as number;

  before(async () => {
    cluster = await ClusterHarness.start({ nodes: 3, catalog: CATALOG });
    [node1, node2, node3] = cluster.nodes as [typeof node1, typeof node1, typeof node1];
    // The harness gives every process the secret through the environment; it keeps that
    // environment private, so the test reads it the way a process would see it.
    secret = cluster.secret;
    assert.ok(secret && secret.length >= 16, 'the harness environment holds the cluster secret');
    for (const node of cluster.nodes) bystanders.set(node.id, await subscribedClient(node.ws));
    storeBefore = { seq: await storeSeq(), state: (await cluster.get('store', '/api/state')).body };
    for (const name of names) rssBeforeKiB.set(name, rssKiB(cluster.pid(name)!));
    slowRequests = startSlowRequests(portOf(node2.http));
  });

  after(async () => {
    for (const client of bystanders.values()) client.close();
    await cluster?.stop();
  });

  test('WebSocket: garbage of every kind gets an error message, and more than 10 of them close with 4400', async () => {
    // Each case is sent on a connection that has seen fewer than 10 invalid messages, so
    // that every one is answered with its error; then one connection gets 11 and is closed.
    const seed = 0x5eed;
    const cases: Array<[string, () => string | Buffer, string]> = [
      ['random bytes in a binary frame', () => seededBytes(seed, 300), 'OLX_BAD_MESSAGE'],
      ['random printable text', () => seededBytes(seed + 1, 300).toString('base64'), 'OLX_BAD_JSON'],
      ['truncated JSON', () => '{"type":"ping"', 'OLX_BAD_JSON'],
      ['JSON with a trailing comma', () => '{"type":"ping",}', 'OLX_BAD_JSON'],
      ['a JSON array', () => '[1,2,3]', 'OLX_BAD_MESSAGE'],
      ['JSON null', () => 'null', 'OLX_BAD_MESSAGE'],
      ['a JSON number', () => '1e400', 'OLX_BAD_MESSAGE'],
      ['a JSON string', () => '"ping"', 'OLX_BAD_MESSAGE'],
      ['arrays nested 5,000 deep', () => '['.repeat(5000) + ']'.repeat(5000), 'OLX_BAD_MESSAGE'],
      ['objects nested 2,000 deep in a field', () => `{"type":"subscribe","topics":["raffle"],"resume":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`, 'OLX_BAD_MESSAGE'],
      ['an unknown message type', () => JSON.stringify({ type: 'teleport', to: 'Rome' }), 'OLX_BAD_MESSAGE'],
      ['a type that is not a string', () => JSON.stringify({ type: 7 }), 'OLX_BAD_MESSAGE'],
      ['no type at all', () => JSON.stringify({ topics: ['raffle'] }), 'OLX_BAD_MESSAGE'],
      ['a __proto__ field', () => '{"type":"ping","__proto__":{"polluted":true}}', 'OLX_BAD_MESSAGE'],
      ['a constructor field', () => '{"type":"ping","constructor":{"prototype":{"polluted":true}}}', 'OLX_BAD_MESSAGE'],
      ['topics that are numbers', () => JSON.stringify({ type: 'subscribe', topics: [1, 2] }), 'OLX_BAD_MESSAGE'],
      ['129 topics', () => JSON.stringify({ type: 'subscribe', topics: Array.from({ length: 129 }, () => 'raffle') }), 'OLX_BAD_MESSAGE'],
      ['a topic of 10,000 characters', () => JSON.stringify({ type: 'subscribe', topics: ['x'.repeat(10_000)] }), 'OLX_BAD_MESSAGE'],
      ['an unknown topic', () => JSON.stringify({ type: 'subscribe', topics: ['medals:__proto__'] }), 'OLX_UNKNOWN_TOPIC'],
      ['a resume position that is negative', () => JSON.stringify({ type: 'subscribe', topics: ['raffle'], resume: { epoch: 'e', seq: -1 } }), 'OLX_BAD_MESSAGE'],
      ['a request id past 2^31', () => JSON.stringify({ type: 'ping', id: 2 ** 53 }), 'OLX_BAD_MESSAGE'],
      ['a client id with a path in it', () => JSON.stringify({ type: 'hello', protocol: 1, client: '../../etc/passwd' }), 'OLX_BAD_MESSAGE'],
      ['a client id with a lone surrogate', () => '{"type":"hello","protocol":1,"client":"\\ud800"}', 'OLX_BAD_MESSAGE'],
      ['an old protocol version', () => JSON.stringify({ type: 'hello', protocol: 0, client: 'abc' }), 'OLX_BAD_MESSAGE'],
      ['a future protocol version', () => JSON.stringify({ type: 'hello', protocol: 999, client: 'abc' }), 'OLX_PROTOCOL'],
    ];
    let client: TestClient | null = null;
    let invalid = 0;
    for (const [what, payload, code] of cases) {
      if (client === null || invalid === 10) {
        client?.close();
        client = await TestClient.connect(node1.ws);
        await client.next((message) => message.type === 'welcome');
        invalid = 0;
      }
      const from = client.messages.length;
      const bytes = payload();
      client.socket.send(bytes, { binary: Buffer.isBuffer(bytes) });
      const error = (await client.next((message) => message.type === 'error', 5000, from)) as Extract<ServerMessage, { type: 'error' }>;
      assert.equal(error.code, code, `${what}: ${error.message}`);
      assert.ok(error.message.length > 0 && error.message.length < 500, `${what}: a short message that names the problem`);
      invalid++;
      // Still served after the error.
      client.send({ type: 'ping', id: invalid });
      await client.next((message) => message.type === 'pong' && message.id === invalid, 5000, from);
    }
    client!.close();
    // The request id of an invalid request is echoed when it can be read.
    const echo = await TestClient.connect(node1.ws);
    echo.send({ type: 'subscribe', id: 4242, topics: 'everything' });
    const echoed = (await echo.next((message) => message.type === 'error')) as Extract<ServerMessage, { type: 'error' }>;
    assert.equal(echoed.id, 4242);
    // Past the budget of 10: closed with 4400.
    for (let i = 0; i < 12; i++) echo.send(seededBytes(seed + 2 + i, 64).toString('hex'));
    assert.equal((await echo.waitClosed()).code, CloseCode.invalidMessage);
    assert.deepEqual([...new Set(errorCodes(echo))], ['OLX_BAD_MESSAGE', 'OLX_BAD_JSON']);
  });

  test('WebSocket: invalid UTF-8 and broken framing are closed by ws with 1007 and 1002', async () => {
    // Text frames must be UTF-8 (RFC 6455 8.1); ws checks it before the hub sees them.
    const port = portOf(node1.http);
    const cases: Array<[string, Buffer, number[]]> = [
      ['invalid UTF-8 in a text frame', frame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), [1007]],
      ['random bytes in a text frame (seed 5)', frame(0x1, seededBytes(5, 300)), [1007]],
      ['an overlong UTF-8 encoding', frame(0x1, Buffer.from([0xc0, 0xaf])), [1007]],
      ['a UTF-16 surrogate encoded as UTF-8', frame(0x1, Buffer.from([0xed, 0xa0, 0x80])), [1007]],
      ['an unmasked client frame', frame(0x1, Buffer.from('{"type":"ping"}'), { mask: false }), [1002]],
      ['a reserved opcode', frame(0x3, Buffer.from('x')), [1002]],
      ['reserved bits set', frame(0x1, Buffer.from('{"type":"ping"}'), { rsv: 4 }), [1002]],
      ['a ping of 200 bytes', frame(0x9, Buffer.alloc(200)), [1002]],
      ['a fragmented ping', frame(0x9, Buffer.from('x'), { fin: false }), [1002]],
      ['a continuation with nothing to continue', frame(0x0, Buffer.from('x')), [1002]],
      ['a close frame with code 999', frame(0x8, Buffer.from([0x03, 0xe7])), [1002]],
      ['random bytes instead of frames (seed 7)', seededBytes(7, 4096), [1002, 1007, 1008, 1009]],
      ['random bytes instead of frames (seed 8)', seededBytes(8, 4096), [1002, 1007, 1008, 1009]],
      ['random bytes instead of frames (seed 9)', seededBytes(9, 4096), [1002, 1007, 1008, 1009]],
    ];
    for (const [what, bytes, codes] of cases) {
      const raw = await RawWebSocket.open(port);
      raw.write(bytes);
      const code = await raw.closed;
      assert.ok(codes.includes(code), `${what}: closed with ${code}, expected one of ${codes.join(', ')}`);
    }
  });

  test('WebSocket: frames over 16 KiB and fragment floods are closed with 1009 or 1008', async () => {
    // The payload bound holds for one frame, for a frame that only claims to be huge (no
    // memory is taken for it), and for a message in many fragments; the number of
    // fragments of one message is bounded too.
    const port = portOf(node1.http);
    const outcomes: Record<string, number> = {};
    // Exactly 16 KiB is accepted (and answered: it is not JSON).
    const edge = await TestClient.connect(node1.ws);
    edge.send('x'.repeat(16 * 1024));
    assert.equal(((await edge.next((message) => message.type === 'error')) as Extract<ServerMessage, { type: 'error' }>).code, 'OLX_BAD_JSON');
    edge.close();
    const big = await TestClient.connect(node1.ws);
    big.send('x'.repeat(16 * 1024 + 1));
    outcomes['one frame of 16 KiB + 1'] = (await big.waitClosed()).code;
    const claims = await RawWebSocket.open(port);
    claims.write(frame(0x1, Buffer.alloc(0), { claimedLength: 1n << 30n }));
    outcomes['a frame header claiming 1 GiB'] = await claims.closed;
    const claims64 = await RawWebSocket.open(port);
    claims64.write(frame(0x1, Buffer.alloc(0), { claimedLength: 1n << 62n }));
    outcomes['a frame header claiming 2^62 bytes'] = await claims64.closed;
    // Fragments through the ws client (socket.send with fin: false): 20 of 1 KiB are over
    // the size bound; 300 of 16 bytes are under it, and over the bound on their number.
    const fragments = await TestClient.connect(node1.ws);
    for (let i = 0; i < 20; i++) fragments.socket.send(Buffer.alloc(1024, 0x20), { fin: false, binary: false });
    outcomes['20 fragments of 1 KiB'] = (await fragments.waitClosed()).code;
    const many = await TestClient.connect(node1.ws);
    for (let i = 0; i < 300; i++) many.socket.send(Buffer.alloc(16, 0x20), { fin: false, binary: false });
    outcomes['300 fragments of 16 bytes'] = (await many.waitClosed()).code;
    // Many tiny fragments of one message, written by hand: under the size bound, over the count bound.
    const tiny = await RawWebSocket.open(port);
    tiny.write(Buffer.concat([frame(0x1, Buffer.from('['), { fin: false }), ...Array.from({ length: 5000 }, () => frame(0x0, Buffer.from(' '), { fin: false }))]));
    outcomes['5,000 one-byte fragments'] = await tiny.closed;
    const empty = await RawWebSocket.open(port);
    empty.write(Buffer.concat([frame(0x1, Buffer.alloc(0), { fin: false }), ...Array.from({ length: 20_000 }, () => frame(0x0, Buffer.alloc(0), { fin: false }))]));
    outcomes['20,000 empty fragments'] = await empty.closed;
    console.log('oversized and fragmented:', JSON.stringify(outcomes));
    assert.equal(outcomes['one frame of 16 KiB + 1'], 1009);
    assert.equal(outcomes['a frame header claiming 1 GiB'], 1009);
    assert.equal(outcomes['a frame header claiming 2^62 bytes'], 1009);
    assert.equal(outcomes['20 fragments of 1 KiB'], 1009);
    assert.equal(outcomes['300 fragments of 16 bytes'], 1008);
    assert.equal(outcomes['5,000 one-byte fragments'], 1008);
    assert.equal(outcomes['20,000 empty fragments'], 1008);
    notePeak('node-1');
  });

  test('WebSocket: a message flood past 50/s with a burst of 200 is answered, then closed with 4429', async () => {
    const client = await TestClient.connect(node1.ws);
    await client.next((message) => message.type === 'welcome');
    for (let i = 0; i < 1000; i++) client.send({ type: 'ping', id: i });
    const closed = await client.waitClosed();
    assert.equal(closed.code, CloseCode.rateLimited);
    const pongs = client.messages.filter((message) => message.type === 'pong').length;
    // The burst of 200 and what refilled while the node read the flood (50/s): far from 1,000.
    assert.ok(pongs >= 200 && pongs < 500, `the burst was served, then the flood was cut: ${pongs} pongs`);
    assert.ok(errorCodes(client).includes('OLX_RATE_LIMITED'));
    // Another connection from the same address is not limited by it.
    const other = await TestClient.connect(node1.ws);
    other.send({ type: 'ping', id: 1 });
    await other.next((message) => message.type === 'pong');
    other.close();
  });

  test('WebSocket: 1,500 connections from one address, past its cap of 1,000: the rest are closed with 4509, and slots come back', async () => {
    // 1,500 connections from 127.0.0.1, 150 at a time, to one node; the bystander already
    // holds one slot. The log says so a few times, not 501 times.
    const cap = 1000;
    await waitFor(async () => (await cluster.get('node-1', '/api/health')).body.clients === 1, 10_000, 'node-1 to hold only its bystander');
    const refusedLogsBefore = (cluster.logs.get('node-1') ?? []).filter((line) => line.event === 'client.refused').length;
    const sockets: WebSocket[] = [];
    const outcomes: Array<'welcome' | number> = [];
    const attempts = 1500;
    for (let batch = 0; batch < attempts; batch += 150) {
      const opened = await Promise.all(Array.from({ length: Math.min(150, attempts - batch) }, () => welcomeOrClose(node1.ws)));
      for (const { socket, outcome } of opened) {
        sockets.push(socket);
        outcomes.push(outcome);
      }
    }
    const welcomed = outcomes.filter((outcome) => outcome === 'welcome').length;
    const refused = outcomes.filter((outcome) => outcome === CloseCode.tooManyConnections).length;
    console.log(`${attempts} connections from 127.0.0.1: ${welcomed} welcomed, ${refused} closed with 4509, others: ${JSON.stringify(outcomes.filter((o) => o !== 'welcome' && o !== 4509))}; node-1 VmRSS ${rssKiB(cluster.pid('node-1')!)} KiB`);
    assert.equal(welcomed, cap - 1);
    assert.equal(refused, attempts - (cap - 1));
    assert.equal((await cluster.get('node-1', '/api/health')).body.clients, cap);
    notePeak('node-1');
    // Another address is not counted against this one; within the global cap it would be
    // served. (Loopback only here: the pure bookkeeping below checks other addresses.)
    const refusedLogs = (cluster.logs.get('node-1') ?? []).filter((line) => line.event === 'client.refused').length - refusedLogsBefore;
    assert.ok(refusedLogs >= 1 && refusedLogs <= 6, `refusals are logged a few times per 10 s, not once each: ${refusedLogs} lines`);
    // One slot freed: one more connection is welcomed, and the next refused again.
    const first = sockets.find((_, i) => outcomes[i] === 'welcome')!;
    first.close();
    await new Promise<void>((resolve) => first.once('close', () => resolve()));
    assert.equal((await welcomeOrClose(node1.ws).then(({ socket, outcome }) => (sockets.push(socket), outcome))), 'welcome');
    assert.equal((await welcomeOrClose(node1.ws).then(({ socket, outcome }) => (sockets.push(socket), outcome))), CloseCode.tooManyConnections);
    // All closed: every slot is back.
    for (const socket of sockets) socket.close();
    await waitFor(async () => (await cluster.get('node-1', '/api/health')).body.clients === 1, 15_000, 'node-1 to release the connections');
    const again = await welcomeOrClose(node1.ws);
    assert.equal(again.outcome, 'welcome');
    again.socket.close();
  });

  test('connection limits count per address (IPv6 per /64) and in all', () => {
    // The bookkeeping behind 4509, for addresses loopback cannot produce.
    const limits = new ConnectionLimits({ perAddressMax: 2, totalMax: 3 });
    const a1 = limits.admit('10.0.0.1');
    const a2 = limits.admit('::ffff:10.0.0.1');
    const a3 = limits.admit('10.0.0.1');
    assert.ok(a1.ok && a2.ok && !a3.ok && a3.reason === 'per-address', 'IPv4 and IPv4-mapped IPv6 are one address');
    const b1 = limits.admit('2001:db8:1:2::1');
    const b2 = limits.admit('2001:db8:1:3::1');
    assert.ok(b1.ok && !b2.ok && b2.reason === 'total', 'the global cap');
    limits.release('10.0.0.1');
    assert.equal(limits.total, 2);
    assert.equal(limits.countOf('10.0.0.1'), 1);
    limits.release('10.0.0.9'); // never admitted: nothing changes
    assert.equal(limits.total, 2);
    const b3 = limits.admit('2001:db8:1:2:ffff::9');
    const b4 = limits.admit('2001:0db8:0001:0002::7');
    assert.ok(b3.ok && !b4.ok, 'one /64 is one address');
    assert.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
  });

  test('WebSocket: clients asking for snapshots without reading them are closed with 4508 at 256 KiB, 24 of them together', async () => {
    // Each client subscribes to the whole board (a snapshot of about 80 KB here), stops
    // reading, and asks for 150 refreshes, well within its rate limit. Without a bound on
    // the answers waiting for it, each would hold 4 MiB of the node's memory (96 MiB for
    // the 24, past the 64 MiB bound of this file); with it, each is cut once 256 KiB wait unread.
    const clients = await Promise.all(Array.from({ length: 24 }, () => subscribedClient(node1.ws)));
    const rssBefore = rssKiB(cluster.pid('node-1')!);
    for (const client of clients) {
      (client.socket as unknown as { _socket: Socket })._socket.pause();
      for (let i = 0; i < 150; i++) client.send({ type: 'refresh', id: i });
    }
    // Each client reads again as soon as the node has given up on it (within the node's
    // 5 s grace for answering the close), so that it can see why.
    const byId = new Map(clients.map((client) => [(client.messages.find((message) => message.type === 'welcome') as Extract<ServerMessage, { type: 'welcome' }>).client, client]));
    const resumed = new Set<string>();
    const closedLines = await waitFor(() => {
      const lines = (cluster.logs.get('node-1') ?? []).filter((line) => line.event === 'client.closed' && byId.has(String(line.client)));
      for (const line of lines) {
        const id = String(line.client);
        if (resumed.has(id)) continue;
        resumed.add(id);
        (byId.get(id)!.socket as unknown as { _socket: Socket })._socket.resume();
      }
      return lines.length === clients.length ? lines : null;
    }, 20_000, 'every non-reading client to be closed');
    const rssAfter = rssKiB(cluster.pid('node-1')!);
    notePeak('node-1');
    const buffered = closedLines.map((line) => Number(line.bufferedBytes));
    console.log(`24 clients asking without reading: closed at ${Math.min(...buffered)}..${Math.max(...buffered)} bytes waiting; node-1 VmRSS ${rssBefore} -> ${rssAfter} KiB`);
    for (const line of closedLines) {
      assert.equal(line.reason, 'not reading its answers');
      assert.ok(Number(line.bufferedBytes) <= 256 * 1024 + 128 * 1024, `closed with ${String(line.bufferedBytes)} bytes waiting`);
    }
    for (const client of clients) assert.equal((await client.waitClosed()).code, CloseCode.slowConsumer);
  });

  test('HTTP: malformed bodies, parameters and content types on every write get a 4xx with a code, and write nothing', async () => {
    const port = portOf(node2.http);
    const auth = { authorization: `Bearer ${cluster.token}`, 'content-type': 'application/json' };
    const cases: Array<[string, Buffer | string, number, RegExp]> = [
      ['empty body', post('/api/medals/Gaul', '', auth), 400, /EMPTY_JSON|BAD_BODY/],
      ['body null', post('/api/medals/Gaul', 'null', auth), 400, /BAD_BODY/],
      ['body an array', post('/api/medals/Gaul', '[{"medal":"gold"}]', auth), 400, /BAD_BODY/],
      ['body a string', post('/api/medals/Gaul', '"gold"', auth), 400, /BAD_BODY/],
      ['medal in another case', post('/api/medals/Gaul', '{"medal":"GOLD"}', auth), 400, /BAD_BODY/],
      ['delta a string', post('/api/medals/Gaul', '{"medal":"gold","delta":"1"}', auth), 400, /BAD_BODY/],
      ['delta a fraction', post('/api/medals/Gaul', '{"medal":"gold","delta":1.5}', auth), 400, /BAD_BODY/],
      ['delta too large', post('/api/medals/Gaul', '{"medal":"gold","delta":101}', auth), 400, /BAD_BODY/],
      ['duplicate keys, the last one bad', post('/api/medals/Gaul', '{"medal":"gold","medal":"tin"}', auth), 400, /BAD_BODY/],
      ['a __proto__ key', post('/api/medals/Gaul', '{"medal":"gold","__proto__":{"isAdmin":true}}', auth), 400, /./],
      ['a constructor.prototype key', post('/api/medals/Gaul', '{"medal":"gold","constructor":{"prototype":{"isAdmin":true}}}', auth), 400, /./],
      ['a __proto__ team in scores', post('/api/scores/Luge', '{"scores":{"__proto__":1}}', auth), 400, /./],
      ['a constructor team in scores', post('/api/scores/Luge', '{"scores":{"constructor":1}}', auth), 404, /UNKNOWN_TEAM/],
      ['a score of 1e309 (Infinity)', post('/api/scores/Luge', '{"scores":{"Gaul":1e309}}', auth), 400, /BAD_BODY/],
      ['a score NaN', post('/api/scores/Luge', '{"scores":{"Gaul":NaN}}', auth), 400, /JSON/],
      ['a score of 1e10', post('/api/scores/Luge', '{"scores":{"Gaul":1e10}}', auth), 400, /BAD_BODY/],
      ['257 teams in scores', post('/api/scores/Luge', JSON.stringify({ scores: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`t${i}`, 1])) }), auth), 400, /BAD_BODY/],
      ['arrays nested 3,000 deep', post('/api/medals/Gaul', `{"medal":${'['.repeat(3000)}${']'.repeat(3000)}}`, auth), 400, /BAD_BODY/],
      ['invalid UTF-8 in the body', post('/api/medals/Gaul', Buffer.from([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), auth), 400, /./],
      ['a body of 20 KiB', post('/api/medals/Gaul', JSON.stringify({ medal: 'gold', pad: 'x'.repeat(20_000) }), auth), 413, /TOO_LARGE/],
      ['a body of 20 KiB, chunked', Buffer.from(`POST /api/medals/Gaul HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ${cluster.token}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${(20_000).toString(16)}\r\n${'{'.padEnd(20_000, ' ')}\r\n0\r\n\r\n`), 413, /TOO_LARGE/],
      ['Content-Length and Transfer-Encoding both', Buffer.from(`POST /api/medals/Gaul HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ${cluster.token}\r\ncontent-type: application/json\r\ncontent-length: 16\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{"medal":"gold"}\r\n0\r\n\r\n`), 400, /./],
      ['no content type', post('/api/medals/Gaul', '{"medal":"gold"}', { authorization: auth.authorization }), 415, /MEDIA_TYPE/],
      ['text/plain', post('/api/medals/Gaul', '{"medal":"gold"}', { ...auth, 'content-type': 'text/plain' }), 415, /MEDIA_TYPE/],
      ['a form', post('/api/medals/Gaul', 'medal=gold', { ...auth, 'content-type': 'application/x-www-form-urlencoded' }), 415, /MEDIA_TYPE/],
      ['multipart', post('/api/medals/Gaul', '--b\r\n\r\ngold\r\n--b--', { ...auth, 'content-type': 'multipart/form-data; boundary=b' }), 415, /MEDIA_TYPE/],
      ['application/jsonx', post('/api/medals/Gaul', '{"medal":"gold"}', { ...auth, 'content-type': 'application/jsonx' }), 415, /MEDIA_TYPE/],
      ['no token', post('/api/medals/Gaul', '{"medal":"gold"}', { 'content-type': 'application/json' }), 401, /MISSING_TOKEN/],
      ['Basic instead of Bearer', post('/api/medals/Gaul', '{"medal":"gold"}', { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`x:${cluster.token}`).toString('base64')}` }), 401, /MISSING_TOKEN/],
      ['"Bearer" alone', post('/api/medals/Gaul', '{"medal":"gold"}', { 'content-type': 'application/json', authorization: 'Bearer' }), 401, /MISSING_TOKEN/],
      ['the token with a suffix', post('/api/medals/Gaul', '{"medal":"gold"}', { 'content-type': 'application/json', authorization: `Bearer ${cluster.token}x` }), 403, /WRONG_TOKEN/],
      ['a token of 8 KiB', post('/api/medals/Gaul', '{"medal":"gold"}', { 'content-type': 'application/json', authorization: `Bearer ${'t'.repeat(8192)}` }), 403, /WRONG_TOKEN/],
      ['raffle close without a token', post('/api/raffle/close', '{}', { 'content-type': 'application/json' }), 401, /MISSING_TOKEN/],
      ['raffle reopen with a wrong token', post('/api/raffle/reopen', '{}', { 'content-type': 'application/json', authorization: 'Bearer not-the-token-at-all' }), 403, /WRONG_TOKEN/],
      ['partition without a token', post('/api/control/partition', '{"cut":true}', { 'content-type': 'application/json' }), 401, /MISSING_TOKEN/],
      ['clock skew with a wrong token', post('/api/control/clock-skew', '{"deltaMs":50000}', { 'content-type': 'application/json', authorization: 'Bearer not-the-token-at-all' }), 403, /WRONG_TOKEN/],
      ['partition with a body of the wrong shape', post('/api/control/partition', '{"cut":"yes"}', auth), 400, /BAD_BODY/],
      ['clock skew out of range', post('/api/control/clock-skew', '{"deltaMs":1e12}', auth), 400, /BAD_BODY/],
      ['a GET with a body', Buffer.from(`GET /api/state HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{"a":true}`), 200, /./],
      ['DELETE on a write route', Buffer.from('DELETE /api/medals/Gaul HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), 404, /NOT_FOUND/],
      ['a method that does not exist', Buffer.from('BREW /api/state HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), 400, /./],
      ['not HTTP at all', seededBytes(11, 512), 400, /./],
      ['HTTP/2 preface on an HTTP/1 port', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 400, /./],
    ];
    const results: string[] = [];
    for (const [what, request, status, code] of cases) {
      const response = await rawHttp(port, request);
      results.push(`${response.status} ${String(response.json?.code ?? '')} <- ${what}`);
      assert.equal(response.status, status, `${what}: ${response.body.slice(0, 300)}`);
      if (status !== 200) assert.match(String(response.json?.code ?? response.json?.message ?? response.body), code, `${what}: ${response.body.slice(0, 300)}`);
    }
    console.log(`HTTP writes:\n  ${results.join('\n  ')}`);
    assert.equal(await storeSeq(), storeBefore.seq, 'nothing was written');
    // And the partition/clock controls did nothing: every link is still up.
    const links = (await cluster.get('node-2', '/api/health')).body.links as Record<string, { state: string; cut: boolean }>;
    assert.ok(Object.values(links).every((link) => link.state === 'up' && !link.cut), JSON.stringify(links));
  });

  test('HTTP: weird names and path tricks on every read route get 400, 404 or 414, never another resource', async () => {
    // Raw request lines, so that nothing between the test and the node normalises them.
    const nodePort = portOf(node2.http);
    const names: Array<[string, string]> = [
      ['an encoded slash', 'Ga%2Ful'],
      ['..', '..'],
      ['encoded ..', '%2E%2E'],
      ['encoded ../state', '..%2Fstate'],
      ['a NUL byte', 'Gaul%00'],
      ['only a NUL byte', '%00'],
      ['CR LF and a header', 'Gaul%0D%0ASet-Cookie:%20stolen=1'],
      ['unicode', 'G%C3%A4ul'],
      ['an emoji', '%F0%9F%8F%85'],
      ['invalid UTF-8', '%FF%FE'],
      ['a bad percent escape', '%E0%A4%A'],
      ['a lone percent', '%'],
      ['__proto__', '__proto__'],
      ['constructor', 'constructor'],
      ['hasOwnProperty', 'hasOwnProperty'],
      ['toString', 'toString'],
      ['199 characters', 'a'.repeat(199)],
      ['201 characters', 'a'.repeat(201)],
      ['5,000 characters', 'a'.repeat(5000)],
      ['a tab', 'Gaul%09'],
      ['spaces around', '%20Gaul%20'],
      ['a colon', 'medals:Gaul'],
    ];
    const routes = ['/api/medals/', '/getMedalTally/', '/api/scores/', '/getScore/'];
    const seen = new Map<number, number>();
    for (const route of routes) {
      for (const [what, name] of names) {
        const response = await rawHttp(nodePort, get(route + name));
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
        assert.ok([400, 404, 414].includes(response.status), `${route}${what}: ${response.status} ${response.body.slice(0, 200)}`);
        assert.equal(typeof response.json?.code === 'string' || typeof response.json?.message === 'string', true, `${route}${what}: a JSON error body`);
        assert.equal(response.headers['set-cookie'], undefined, `${route}${what}: no header injected`);
      }
    }
    console.log(`weird names on the read routes: statuses ${JSON.stringify(Object.fromEntries(seen))}`);
    const tricks: Array<[number, string, number[]]> = [
      [nodePort, '/api/medals/../state', [404]],
      [nodePort, '/api/medals/%2e%2e/state', [404]],
      [nodePort, '/api/medals/Gaul/../../state', [404]],
      [nodePort, '//api/health', [404]],
      [nodePort, '/api//health', [404]],
      [nodePort, '/api/health%00', [404]],
      [nodePort, '/api/health%2F', [404]],
      [nodePort, '/api/health/', [404]],
      [nodePort, '/API/HEALTH', [404]],
      [nodePort, '/./api/health', [404]],
      [nodePort, '/api\\health', [404]],
      [nodePort, '/api/health?%00=%00&__proto__[x]=1', [200]],
      [nodePort, `/api/health?${'a=1&'.repeat(1000)}`, [200]],
      [nodePort, 'http://evil.example/api/health', [200, 400, 404]],
      [nodePort, '*', [400, 404]],
      [nodePort, '/peer', [401, 404]],
      [nodePort, '/ws', [400, 404]],
      [portOf(cluster.storeUrl), '/api/state/../health', [404]],
      [portOf(cluster.storeUrl), '/../../etc/passwd', [404]],
      [portOf(cluster.dispatcherUrl), '/../../etc/passwd', [404]],
      [portOf(cluster.dispatcherUrl), '/%2e%2e/%2e%2e/etc/passwd', [404]],
      [portOf(cluster.dispatcherUrl), '/cauldron/../api/nodes', [404]],
    ];
    for (const [port, path, statuses] of tricks) {
      const response = await rawHttp(port, get(path));
      assert.ok(statuses.includes(response.status), `${path}: ${response.status} ${response.body.slice(0, 200)}`);
    }
  });

  test('HTTP: headers or a request line over 16 KiB get 431 on every process and every upgrade', async () => {
    const big = { 'x-filler': 'a'.repeat(20 * 1024) };
    const many = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`x-h${i}`, 'abcdefgh']));
    const upgrade = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-version': '13' };
    const cases: Array<[string, number, string]> = [
      ['node, one 20 KiB header', portOf(node2.http), get('/api/health', big)],
      ['node, 1,500 small headers', portOf(node2.http), get('/api/health', many)],
      ['node, a 20 KiB URL', portOf(node2.http), get(`/api/medals/${'a'.repeat(20 * 1024)}`)],
      ['node, a 20 KiB cookie on the /ws upgrade', portOf(node2.http), get('/ws', { ...upgrade, connection: 'Upgrade', cookie: 'c='.padEnd(20 * 1024, 'x') })],
      ['node, a 20 KiB header on the /peer upgrade', portOf(node2.http), get('/peer', { ...upgrade, connection: 'Upgrade', ...big })],
      ['store, one 20 KiB header', portOf(cluster.storeUrl), get('/api/health', big)],
      ['store, a 20 KiB header on the /peer upgrade', portOf(cluster.storeUrl), get('/peer', { ...upgrade, connection: 'Upgrade', ...big })],
      ['dispatcher, one 20 KiB header', portOf(cluster.dispatcherUrl), get('/api/assign', big)],
      ['dispatcher, a 20 KiB URL', portOf(cluster.dispatcherUrl), get(`/api/assign?exclude=${'node-1,'.repeat(3000)}`)],
    ];
    for (const [what, port, request] of cases) {
      const response = await rawHttp(port, request);
      assert.equal(response.status, 431, `${what}: ${response.status} ${response.body.slice(0, 200)}`);
    }
    // Just under the bound is served.
    const under = await rawHttp(portOf(node2.http), get('/api/health', { 'x-filler': 'a'.repeat(15 * 1024) }));
    assert.equal(under.status, 200);
  });

  test('HTTP: /api/assign?exclude= with 10,000 ids, repeated, or not node ids gets 431 or 400; unknown ids are ignored', async () => {
    const port = portOf(cluster.dispatcherUrl);
    const tenThousand = Array.from({ length: 10_000 }, (_, i) => `node-${i}`).join(',');
    const cases: Array<[string, string, number, RegExp | null]> = [
      ['10,000 ids (about 78 KiB)', `/api/assign?exclude=${tenThousand}`, 431, null],
      ['10,000 one-letter ids (20 KiB)', `/api/assign?exclude=${Array.from({ length: 10_000 }, () => 'a').join(',')}`, 431, null],
      ['2,000 ids in 1,999 commas and letters', `/api/assign?exclude=${Array.from({ length: 2000 }, () => 'n').join(',')}`, 400, /exclude/],
      ['10,000 commas', `/api/assign?exclude=${','.repeat(10_000)}`, 400, /exclude/],
      ['exclude repeated', '/api/assign?exclude=node-1&exclude=node-2', 400, /exclude/],
      ['exclude[a]= (another parameter, ignored)', '/api/assign?exclude[a]=node-1', 200, null],
      ['an id with a space', '/api/assign?exclude=node-1,node%202', 400, /exclude/],
      ['an id with a newline', '/api/assign?exclude=node-1%0A%7B%22event%22%3A%22forged%22%7D', 400, /exclude/],
      ['an id of 65 characters', `/api/assign?exclude=${'n'.repeat(65)}`, 400, /exclude/],
      ['a __proto__ id', '/api/assign?exclude=__proto__', 200, null],
      ['unknown ids only', '/api/assign?exclude=node-9,node-10', 200, null],
      ['every node excluded', '/api/assign?exclude=node-1,node-2,node-3', 200, null],
    ];
    for (const [what, path, status, message] of cases) {
      const response = await rawHttp(port, get(path));
      assert.equal(response.status, status, `${what}: ${response.body.slice(0, 300)}`);
      if (message) {
        assert.equal(response.json?.code, 'OLX_BAD_PARAMETER', what);
        assert.match(String(response.json?.message), message, what);
      }
      if (status === 200) assert.match(String(response.json?.node), /^node-[123]$/, what);
    }
    // Only the node ids the dispatcher knows reach its log.
    const forged = (cluster.logs.get('dispatcher') ?? []).filter((line) => JSON.stringify(line).includes('forged') || JSON.stringify(line).includes('node-9'));
    assert.deepEqual(forged, []);
  });

  test('HTTP: a request that sends its head or body a byte a second is cut with 408', async () => {
    // Started in before(): one request whose headers never end, one whose body never
    // ends. Node's request timeout is off by default under fastify; the node sets it.
    const results = await slowRequests;
    console.log(`slow requests: ${JSON.stringify(results)}`);
    for (const result of results) {
      assert.equal(result.status, 408, `${result.what}: ${JSON.stringify(result)}`);
      assert.ok(result.afterMs < 25_000, `${result.what}: cut after ${result.afterMs} ms`);
    }
    // The bystanders' WebSockets, open far longer than that, are not cut by it.
    for (const [id, client] of bystanders) {
      assert.equal(client.closed, null, `${id}'s bystander is still connected`);
    }
  });

  test('peer links: no secret, a wrong secret, an unknown or wrong member, an old protocol: 401, 403, 426, logged without the secret', async () => {
    const peerUrl = (base: string) => base.replace(/^http/, 'ws') + '/peer';
    const storePeer = peerUrl(cluster.storeUrl);
    const nonce = () => randomBytes(18).toString('base64url');
    const cases: Array<[string, string, Record<string, string>, number]> = [
      ['no secret', peerUrl(node3.http), { 'x-olympix-member': 'node-1', 'x-olympix-protocol': '1', 'x-olympix-nonce': nonce() }, 401],
      ['a wrong secret', peerUrl(node3.http), { authorization: `Bearer ${'w'.repeat(32)}`, 'x-olympix-member': 'node-1', 'x-olympix-protocol': '1', 'x-olympix-nonce': nonce() }, 401],
      ['the secret with an unknown member', peerUrl(node3.http), { authorization: `Bearer ${secret}`, 'x-olympix-member': 'node-9', 'x-olympix-protocol': '1', 'x-olympix-nonce': nonce() }, 403],
      ['the secret, claiming to be the store (node-3 dials the store)', peerUrl(node3.http), { authorization: `Bearer ${secret}`, 'x-olympix-member': 'store', 'x-olympix-protocol': '1', 'x-olympix-nonce': nonce() }, 403],
      ['the secret, protocol version 0', peerUrl(node3.http), { authorization: `Bearer ${secret}`, 'x-olympix-member': 'node-1', 'x-olympix-protocol': '0', 'x-olympix-nonce': nonce() }, 426],
      ['no secret, at the store', storePeer, { 'x-olympix-member': 'node-1', 'x-olympix-protocol': '1' }, 401],
      ['the secret in the URL instead of the header, at the store', `${storePeer}?secret=${secret}`, { 'x-olympix-member': 'node-1', 'x-olympix-protocol': '1' }, 401],
    ];
    for (const [what, url, headers, status] of cases) {
      const refusal = await refusedUpgrade(url, headers);
      assert.equal(refusal.status, status, `${what}: ${refusal.body}`);
      assert.equal(refusal.headers['x-olympix-protocol'], '1', `${what}: the refusal names the protocol spoken`);
      assert.ok(!refusal.body.includes(secret), `${what}: the refusal does not echo the secret`);
    }
    const refused = await cluster.waitForLog('node-3', (line) => line.event === 'mesh.refused' && line.status === 426);
    assert.equal(refused.member, 'node-1');
    const node3Refusals = (cluster.logs.get('node-3') ?? []).filter((line) => line.event === 'mesh.refused');
    assert.deepEqual(node3Refusals.map((line) => line.status), [401, 401, 403, 403, 426]);
    assert.ok((cluster.logs.get('store') ?? []).some((line) => line.event === 'mesh.refused' && line.status === 401));
  });

  test('peer links: with the secret, an impostor is proven to, sends garbage (4400), forges a store message (ignored), and the real member takes its link back', async () => {
    // Whoever holds the cluster secret is a member: the mesh cannot tell an impostor from
    // node-1. What it must do: prove itself to the dialler, drop a link that speaks garbage,
    // deliver store messages only from the store's link, and let the real node-1 replace
    // the impostor's link (4409), after which the cluster works as before.
    const url = node3.http.replace(/^http/, 'ws') + '/peer';
    const dial = (nonce: string) =>
      new WebSocket(url, {
        perMessageDeflate: false,
        headers: { authorization: `Bearer ${secret}`, 'x-olympix-member': 'node-1', 'x-olympix-protocol': '1', 'x-olympix-nonce': nonce },
      });
    const expectedProof = (nonce: string) => createHmac('sha256', secret).update(`olympix-peer-accept\n1\nnode-3\nnode-1\n${nonce}`).digest('base64url');
    const invalidBefore = ((await cluster.get('node-3', '/api/health')).body.links as Record<string, { invalidMessages: number }>)['node-1']!.invalidMessages;

    // 1. Garbage: 12 invalid messages, sent the moment the link opens.
    const garbageNonce = randomBytes(18).toString('base64url');
    const garbage = dial(garbageNonce);
    let proof: string | undefined;
    garbage.on('upgrade', (response) => {
      proof = String(response.headers['x-olympix-proof']);
      assert.equal(response.headers['x-olympix-member'], 'node-3');
    });
    garbage.on('error', () => {});
    garbage.on('open', () => {
      for (let i = 0; i < 6; i++) garbage.send(seededBytes(100 + i, 40).toString('base64'));
      for (let i = 0; i < 3; i++) garbage.send(JSON.stringify({ type: 'election.teleport', term: i }));
      for (let i = 0; i < 3; i++) garbage.send(seededBytes(200 + i, 40), { binary: true });
    });
    const garbageClose = await new Promise<number>((resolve) => garbage.once('close', (code) => resolve(code)));
    assert.equal(proof, expectedProof(garbageNonce), 'node-3 proved it holds the secret, for our nonce');
    assert.equal(garbageClose, 4400, 'closed for invalid messages');

    // 2. A forged store message: as node-1, "the store says Gaul has 999 gold".
    const state = (await cluster.get('node-3', '/api/state')).body as { epoch: string; seq: number };
    const forgedChange = { kind: 'medal', seq: state.seq + 1, team: 'Gaul', medal: 'gold', count: 999, delta: 999, updatedAt: Date.now(), node: 'store' };
    const forger = dial(randomBytes(18).toString('base64url'));
    forger.on('error', () => {});
    forger.on('open', () => {
      forger.send(JSON.stringify({ type: 'store.changes', epoch: state.epoch, changes: [forgedChange], live: true }));
      forger.send(JSON.stringify({ type: 'store.snapshot', epoch: 'forged-epoch', seq: 1, catalog: { teams: ['Atlantis'], events: ['Luge'] }, data: { medals: {}, scores: {} } }));
    });
    // 3. The real node-1 sees its link replaced (4409), says so, dials again and replaces the impostor.
    const forgerClose = await new Promise<number>((resolve) => forger.once('close', (code) => resolve(code)));
    assert.equal(forgerClose, 4409, 'the real node-1 took its link back');
    await cluster.waitForLog('node-1', (line) => line.event === 'mesh.duplicate-member' && line.peer === 'node-3');
    await waitFor(async () => {
      const links3 = (await cluster.get('node-3', '/api/health')).body.links as Record<string, { state: string }>;
      const links1 = (await cluster.get('node-1', '/api/health')).body.links as Record<string, { state: string }>;
      return links3['node-1']!.state === 'up' && links1['node-3']!.state === 'up';
    }, 10_000, 'node-1 and node-3 linked again');
    // The algorithms that run on that link work again: one leader everywhere, the
    // multicast's view holds the three nodes, and tickets (reads) are delivered alike.
    type Health = { member: { leader: string | null; term: number }; multicast: { ready: boolean; viewMembers: string[]; delivered: number } };
    const healths = async () => Promise.all(cluster.nodes.map(async (node) => (await cluster.get(node.id, '/api/health')).body as unknown as Health));
    await waitFor(async () => {
      const all = await healths();
      return new Set(all.map((health) => `${health.member.leader}@${health.member.term}`)).size === 1 && all.every((health) => health.multicast.ready && health.multicast.viewMembers.length === 3);
    }, 20_000, 'one leader and a full multicast view again');
    const deliveredBefore = Math.max(...(await healths()).map((health) => health.multicast.delivered));
    for (let i = 0; i < 30; i++) assert.equal((await cluster.get(cluster.nodes[i % 3]!.id, '/api/medals/Gaul')).status, 200);
    await waitFor(async () => {
      const delivered = (await healths()).map((health) => health.multicast.delivered);
      return delivered.every((count) => count === delivered[0] && count >= deliveredBefore + 30);
    }, 20_000, 'every node to deliver the 30 new tickets');
    const after = (await cluster.get('node-3', '/api/state')).body as { epoch: string; seq: number; catalog: Catalog; data: { medals: Record<string, { gold: { value: number } }> } };
    assert.equal(after.seq, state.seq, 'the forged change was not applied');
    assert.equal(after.epoch, state.epoch, 'the forged snapshot was not applied');
    assert.equal(after.catalog.teams.length, CATALOG.teams.length);
    assert.notEqual(after.data.medals.Gaul!.gold.value, 999);
    const invalidAfter = ((await cluster.get('node-3', '/api/health')).body.links as Record<string, { invalidMessages: number }>)['node-1']!.invalidMessages;
    assert.ok(invalidAfter - invalidBefore >= 11, `node-3 counted the impostor's invalid messages (${invalidAfter - invalidBefore})`);
  });

  test('browsers: a page from an origin not in the allow-list cannot open a WebSocket, write, or preflight', async () => {
    const evil = 'http://evil.example';
    for (const origin of [evil, 'null', `${cluster.dispatcherUrl}.evil.example`, cluster.dispatcherUrl.toUpperCase(), `${cluster.dispatcherUrl}/`]) {
      const refusal = await refusedUpgrade(node1.ws, { origin });
      assert.equal(refusal.status, 403, origin);
      assert.equal((JSON.parse(refusal.body) as { code: string }).code, 'OLX_ORIGIN_REFUSED', origin);
    }
    const page = await TestClient.connect(node1.ws, { origin: cluster.dispatcherUrl });
    await page.next((message) => message.type === 'welcome');
    page.close();
    const port = portOf(node1.http);
    const withToken = { authorization: `Bearer ${cluster.token}`, 'content-type': 'application/json', origin: evil };
    for (const [path, body] of [['/api/medals/Gaul', '{"medal":"gold"}'], ['/api/scores/Luge', '{"scores":{"Gaul":1}}'], ['/api/raffle/close', '{}'], ['/api/raffle/reopen', '{}']] as const) {
      const response = await rawHttp(port, post(path, body, withToken));
      assert.equal(response.status, 403, `${path}: ${response.body}`);
      assert.equal(response.json?.code, 'OLX_ORIGIN_REFUSED', path);
      assert.equal(response.headers['access-control-allow-origin'], undefined, path);
    }
    const preflight = await rawHttp(port, Buffer.from(`OPTIONS /api/medals/Gaul HTTP/1.1\r\nhost: x\r\nconnection: close\r\norigin: ${evil}\r\naccess-control-request-method: POST\r\n\r\n`));
    assert.equal(preflight.status, 403);
    const allowed = await rawHttp(port, Buffer.from(`OPTIONS /api/medals/Gaul HTTP/1.1\r\nhost: x\r\nconnection: close\r\norigin: ${cluster.dispatcherUrl}\r\naccess-control-request-method: POST\r\n\r\n`));
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], cluster.dispatcherUrl);
    // A read is served (the board is public) but without CORS headers, so a foreign page cannot see it.
    const read = await rawHttp(port, get('/api/state', { origin: evil }));
    assert.equal(read.status, 200);
    assert.equal(read.headers['access-control-allow-origin'], undefined);
    assert.ok((cluster.logs.get('node-1') ?? []).some((line) => line.event === 'client.refused' && line.reason === 'origin'));
  });

  test('after all of it: the store did not change, every node shows the same board, the bystanders saw no change', async () => {
    assert.equal(await storeSeq(), storeBefore.seq);
    const storeNow = (await cluster.get('store', '/api/state')).body;
    assert.deepEqual(storeNow, storeBefore.state);
    for (const node of cluster.nodes) {
      const state = (await cluster.get(node.id, '/api/state')).body as { seq: number; data: unknown };
      assert.equal(state.seq, storeBefore.seq, node.id);
      assert.deepEqual(state.data, (storeBefore.state as { data: unknown }).data, node.id);
    }
    for (const [id, client] of bystanders) {
      assert.deepEqual(client.changes(), [], `${id}'s bystander received no change`);
      const from = client.messages.length;
      client.send({ type: 'ping', id: 77 });
      await client.next((message) => message.type === 'pong' && message.id === 77, 5000, from);
    }
    // Neither the write token nor the cluster secret was ever logged.
    for (const [name, lines] of cluster.logs) {
      for (const line of lines) {
        const text = JSON.stringify(line);
        assert.ok(!text.includes(secret), `${name} logged the cluster secret: ${line.event}`);
        assert.ok(!text.includes(cluster.token), `${name} logged the write token: ${line.event}`);
      }
    }
  });

  test('a client that never reads is closed with 4508 at 4 MiB while another on the same node receives every change', async () => {
    // The slow client subscribes to the board and stops reading; writes of about 14 KB
    // each (scores for every team) go on until node-2 gives up on it. node-2's bystander,
    // and the bystanders of the other nodes, must still get every change, in order.
    const slow = await subscribedClient(node2.ws);
    const slowId = (slow.messages.find((message) => message.type === 'welcome') as Extract<ServerMessage, { type: 'welcome' }>).client;
    // The node pings every client every 15 s and cuts one that has not answered the last
    // ping: stopping right after answering one leaves 30 s before the heartbeat would cut
    // it, so that what cuts it here is the outbound bound (a few hundred writes, ~15 s).
    await new Promise<void>((resolve) => slow.socket.once('ping', () => resolve()));
    (slow.socket as unknown as { _socket: Socket })._socket.pause();
    const rssBefore = rssKiB(cluster.pid('node-2')!);
    const scores = (round: number) => ({ scores: Object.fromEntries(CATALOG.teams.map((team, i) => [team, round * 1000 + i + 0.25])) });
    assert.ok(JSON.stringify(scores(999_999)).length < 16 * 1024, 'a score write fits the body limit');
    const seqs: number[] = [];
    const closedLine = () => (cluster.logs.get('node-2') ?? []).find((line) => line.event === 'client.closed' && line.client === slowId);
    let round = 0;
    const startedMs = performance.now();
    while (!closedLine() && round < 2000) {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => cluster.write(['node-1', 'node-2', 'node-3'][i % 3]!, '/api/scores/Luge', scores(round + i))));
      round += 20;
      for (const result of results) {
        assert.equal(result.status, 200, JSON.stringify(result.body));
        seqs.push(result.body.seq as number);
      }
      notePeak('node-2');
    }
    const line = await cluster.waitForLog('node-2', (candidate) => candidate.event === 'client.closed' && candidate.client === slowId);
    const rssAtCut = rssKiB(cluster.pid('node-2')!);
    console.log(`slow consumer: cut after ${seqs.length} writes of ~14 KB in ${Math.round(performance.now() - startedMs)} ms, with ${String(line.bufferedBytes)} bytes waiting (${String(line.reason)}); node-2 VmRSS ${rssBefore} -> ${rssAtCut} KiB`);
    assert.equal(line.reason, 'slow consumer');
    assert.ok(Number(line.bufferedBytes) > 4 * MIB && Number(line.bufferedBytes) < 4 * MIB + 64 * 1024, `bounded at 4 MiB and one frame: ${String(line.bufferedBytes)}`);
    // A few more writes after the cut.
    for (let i = 0; i < 5; i++) {
      const result = await cluster.write('node-2', '/api/medals/Rome', { medal: 'gold' });
      assert.equal(result.status, 200);
      seqs.push(result.body.seq as number);
    }
    // The slow client reads again: what was sent before the cut, then the reason.
    (slow.socket as unknown as { _socket: Socket })._socket.resume();
    assert.equal((await slow.waitClosed()).code, CloseCode.slowConsumer);
    assert.ok(slow.changes().length < seqs.length, 'the slow client got only part of it');
    for (const [id, client] of bystanders) {
      await client.next((message) => message.type === 'change' && message.change.seq === seqs.at(-1), 30_000);
      assert.deepEqual(client.changes().map((change) => change.seq), seqs.slice().sort((a, b) => a - b), `${id}'s bystander got every change once, in order`);
    }
  });

  test('every process is alive and answers, and memory stayed bounded', async () => {
    const rows: string[] = [];
    for (const name of names) {
      const pid = cluster.pid(name)!;
      assert.ok(isAlive(pid), `${name} (pid ${pid}) is alive`);
      const response = await fetch(`${cluster.spec(name).url}/api/health`);
      assert.equal(response.status, 200, `${name} answers /api/health`);
      const now = rssKiB(pid);
      notePeak(name);
      const before = rssBeforeKiB.get(name)!;
      const peak = rssPeakKiB.get(name)!;
      rows.push(`${name.padEnd(10)} ${String(before).padStart(8)} ${String(peak).padStart(8)} ${String(now).padStart(8)} ${String(now - before).padStart(8)}`);
      assert.ok(peak - before < RSS_GROWTH_MAX_KIB, `${name}: VmRSS grew ${peak - before} KiB (bound ${RSS_GROWTH_MAX_KIB})`);
    }
    console.log(`VmRSS (KiB)  before     peak      end   growth\n${rows.join('\n')}`);
  });
});

/**
 * Two requests to a node that never finish: the head a header line a second, and a
 * body of 100 bytes announced and sent a byte a second. Resolves with what each got
 * (status, or null if the socket ended without an answer) and when.
 */
function startSlowRequests(port: number): Promise<Array<{ what: string; status: number | null; afterMs: number }>> {
  const slow = (what: string, head: string, drip: () => string): Promise<{ what: string; status: number | null; afterMs: number }> =>
    new Promise((resolve) => {
      const startedMs = performance.now();
      const socket = connectTcp({ host: '127.0.0.1', port });
      let answer = '';
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write(drip());
      }, 1000);
      const giveUp = setTimeout(() => socket.destroy(), 40_000);
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answer);
        resolve({ what, status: status ? Number(status[1]) : null, afterMs: Math.round(performance.now() - startedMs) });
      });
      socket.write(head);
    });
  return Promise.all([
    slow('headers a line a second', 'GET /api/health HTTP/1.1\r\nhost: 127.0.0.1\r\n', () => 'x-slow: a\r\n'),
    slow('a body a byte a second', 'POST /api/medals/Gaul HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{', () => ' '),
  ]);
}

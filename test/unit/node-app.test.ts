import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import { emptyTally, type BoardData, type Catalog, type Change } from '../../shared/board.js';
import { CloseCode, type ServerMessage } from '../../shared/client-protocol.js';
import type { StoreMessage, StoreWriteMessage } from '../../shared/peer/store.js';
import { buildNodeApp, type NodeApp, type NodeAppOptions } from '../../server/node/node-app.js';

// The node's HTTP and WebSocket face, driven with app.inject() and injectWS(): no port.
// A fake store captures what the node sends and answers when the test says so.

const TOKEN = 'a-test-token-of-enough-length';
const ALLOWED_ORIGIN = 'http://127.0.0.1:4000';
const NOW_MS = 1_700_000_000_000;
const CATALOG: Catalog = { teams: ['Gaul', 'Rome'], events: ['Luge', 'Stone Curling'] };
const AUTH = { authorization: `Bearer ${TOKEN}` };

function board(): BoardData {
  const never = () => ({ value: 0, updatedAt: null });
  return {
    medals: { Gaul: emptyTally(), Rome: { ...emptyTally(), silver: { value: 2, updatedAt: NOW_MS - 5000 } } },
    scores: { Luge: { Gaul: { value: 61.25, updatedAt: NOW_MS - 1000 }, Rome: never() }, 'Stone Curling': { Gaul: never(), Rome: never() } },
  };
}

/** What the node sends to the store, and a way to wait for the next write without sleeping. */
class FakeStore {
  readonly messages: StoreMessage[] = [];
  private consumedWrites = 0;
  private waiter: ((message: StoreWriteMessage) => void) | null = null;

  readonly send = (message: StoreMessage): boolean => {
    this.messages.push(message);
    if (message.type === 'store.write' && this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      this.consumedWrites++;
      waiter(message);
    }
    return true;
  };

  writes(): StoreWriteMessage[] {
    return this.messages.filter((message): message is StoreWriteMessage => message.type === 'store.write');
  }

  nextWrite(): Promise<StoreWriteMessage> {
    const writes = this.writes();
    if (writes.length > this.consumedWrites) return Promise.resolve(writes[this.consumedWrites++]!);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

interface Started {
  nodeApp: NodeApp;
  store: FakeStore;
  /** WebSocket clients opened by connect(); terminated before the app closes. */
  clients: WebSocket[];
}

/** Resolves once condition() holds, checking after each turn of the event loop; fails after `turns` turns. */
async function until(condition: () => boolean, what: string, turns = 10_000): Promise<void> {
  for (let turn = 0; turn < turns; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Builds a node app; with ready (the default) it has loaded the snapshot at seq 0 and is live. */
async function start(t: TestContext, options: { ready?: boolean } & Partial<NodeAppOptions> = {}): Promise<Started> {
  const store = new FakeStore();
  const { ready = true, ...overrides } = options;
  const nodeApp = await buildNodeApp({
    id: 'node-1',
    incarnation: 't',
    token: TOKEN,
    log: () => {},
    now: () => NOW_MS,
    monotonicMs: () => performance.now(),
    sendToStore: store.send,
    allowedOrigins: new Set([ALLOWED_ORIGIN]),
    ...overrides,
  });
  const clients: WebSocket[] = [];
  // Clients go first: a server-side close() would otherwise wait for ws's 30 s close timeout,
  // since the in-memory streams of injectWS never end the way a TCP socket does.
  t.after(async () => {
    for (const ws of clients) ws.terminate();
    await until(() => nodeApp.hub.clientCount === 0, 'the sessions to end');
    await nodeApp.close();
  });
  await nodeApp.app.ready();
  if (ready) {
    nodeApp.storeClient.linkOpened();
    nodeApp.storeClient.receive({ type: 'store.snapshot', epoch: 'e1', seq: 0, catalog: CATALOG, data: board() });
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [], live: true });
  }
  return { nodeApp, store, clients };
}

function medalChange(seq: number, team: string, count: number): Change {
  return { kind: 'medal', seq, team, medal: 'gold', count, delta: 1, updatedAt: NOW_MS + seq, node: 'node-2' };
}
function scoreChange(seq: number, event: string, scores: Record<string, number>): Change {
  return { kind: 'score', seq, event, scores, updatedAt: NOW_MS + seq, node: 'node-2' };
}

describe('pull reads', () => {
  test('medals and scores by the JSON API and the seed routes', async (t) => {
    // Checks the four read routes' status and body against the snapshot the fake store sent.
    const { nodeApp } = await start(t);
    const gaulMedals = { team: 'Gaul', seq: 0, medals: emptyTally() };
    for (const url of ['/api/medals/Gaul', '/getMedalTally/Gaul']) {
      const response = await nodeApp.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200, url);
      assert.deepEqual(response.json(), gaulMedals, url);
    }
    const rome = await nodeApp.app.inject({ method: 'GET', url: '/api/medals/Rome' });
    assert.deepEqual(rome.json().medals.silver, { value: 2, updatedAt: NOW_MS - 5000 });
    const luge = { event: 'Luge', seq: 0, scores: { Gaul: { value: 61.25, updatedAt: NOW_MS - 1000 }, Rome: { value: 0, updatedAt: null } } };
    for (const url of ['/api/scores/Luge', '/getScore/Luge']) {
      const response = await nodeApp.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200, url);
      assert.deepEqual(response.json(), luge, url);
    }
    const curling = await nodeApp.app.inject({ method: 'GET', url: '/getScore/Stone%20Curling' });
    assert.equal(curling.statusCode, 200);
    assert.equal(curling.json().event, 'Stone Curling');
    assert.deepEqual(Object.keys(curling.json().scores), ['Gaul', 'Rome']);
  });

  test('reads follow the change stream', async (t) => {
    // Checks that a store.changes message is visible in the next read, with the new seq.
    const { nodeApp } = await start(t);
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [medalChange(1, 'Gaul', 1), scoreChange(2, 'Luge', { Rome: 59.5 })], live: true });
    const medals = (await nodeApp.app.inject({ method: 'GET', url: '/api/medals/Gaul' })).json();
    assert.equal(medals.seq, 2);
    assert.deepEqual(medals.medals.gold, { value: 1, updatedAt: NOW_MS + 1 });
    const scores = (await nodeApp.app.inject({ method: 'GET', url: '/getScore/Luge' })).json();
    assert.deepEqual(scores.scores.Rome, { value: 59.5, updatedAt: NOW_MS + 2 });
  });

  test('an unknown team or event is a 404 that names it', async (t) => {
    // Checks a table of read URLs with names the catalog does not have, including encoded spaces and case.
    const { nodeApp } = await start(t);
    const table: Array<[url: string, code: string, name: string]> = [
      ['/api/medals/Atlantis', 'OLX_UNKNOWN_TEAM', 'Atlantis'],
      ['/getMedalTally/gaul', 'OLX_UNKNOWN_TEAM', 'gaul'],
      ['/api/scores/Chariot%20Race', 'OLX_UNKNOWN_EVENT', 'Chariot Race'],
      ['/getScore/Stone%20curling', 'OLX_UNKNOWN_EVENT', 'Stone curling'],
    ];
    for (const [url, code, name] of table) {
      const response = await nodeApp.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
      assert.equal(response.json().code, code, url);
      assert.ok(response.json().message.includes(`"${name}"`), response.json().message);
    }
    const noRoute = await nodeApp.app.inject({ method: 'GET', url: '/api/nothing?x=1' });
    assert.equal(noRoute.statusCode, 404);
    assert.deepEqual(noRoute.json(), { statusCode: 404, error: 'Not Found', code: 'OLX_NOT_FOUND', message: 'no route GET /api/nothing' });
  });

  test('/api/state is the whole board and /api/health says the node is ready', async (t) => {
    // Checks both bodies in full.
    const { nodeApp } = await start(t);
    const state = await nodeApp.app.inject({ method: 'GET', url: '/api/state' });
    assert.equal(state.statusCode, 200);
    assert.deepEqual(state.json(), { node: 'node-1', epoch: 'e1', seq: 0, catalog: CATALOG, data: board() });
    const health = await nodeApp.app.inject({ method: 'GET', url: '/api/health' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { node: 'node-1', ready: true, store: 'up', clients: 0, seq: 0, epoch: 'e1' });
  });

  test('before the snapshot, reads are 503 and health says not ready', async (t) => {
    // Checks a node whose store link is not up yet.
    const { nodeApp } = await start(t, { ready: false, health: () => ({ leader: 'store' }) });
    for (const url of ['/api/medals/Gaul', '/getScore/Luge', '/api/state']) {
      const response = await nodeApp.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 503, url);
      assert.equal(response.json().code, 'OLX_STORE_UNAVAILABLE', url);
    }
    const health = (await nodeApp.app.inject({ method: 'GET', url: '/api/health' })).json();
    assert.deepEqual(health, { node: 'node-1', ready: false, store: 'down', clients: 0, seq: 0, epoch: null, leader: 'store' });
  });
});

describe('writes', () => {
  test('a good medal write sends exactly one store.write and answers once the store commits', async (t) => {
    // Checks the message's shape, that the response waits for the result, and the response body.
    const { nodeApp, store } = await start(t);
    let settled = false;
    const response = nodeApp.app
      .inject({ method: 'POST', url: '/api/medals/Gaul', headers: AUTH, payload: { medal: 'silver', delta: 2 } })
      .finally(() => (settled = true));
    const write = await store.nextWrite();
    assert.deepEqual(write, {
      type: 'store.write',
      requestId: 1,
      writeId: 'node-1:t:1',
      write: { kind: 'medal', team: 'Gaul', medal: 'silver', delta: 2 },
    });
    // A round trip through the app (a read) completes while the write still waits for the store.
    await nodeApp.app.inject({ method: 'GET', url: '/api/health' });
    assert.equal(settled, false, 'the write must not answer before the store does');
    const change: Change = { kind: 'medal', seq: 7, team: 'Gaul', medal: 'silver', count: 2, delta: 2, updatedAt: NOW_MS, node: 'node-1' };
    nodeApp.storeClient.receive({ type: 'store.write-result', requestId: write.requestId, ok: true, change });
    const answer = await response;
    assert.equal(answer.statusCode, 200);
    assert.deepEqual(answer.json(), { ok: true, seq: 7, change });
    assert.equal(store.writes().length, 1);
  });

  test('a medal write without delta awards one; a good score write sends the scores', async (t) => {
    // Checks the default delta, a negative delta, and the score write's shape, each with its own request id.
    const { nodeApp, store } = await start(t);
    const cases: Array<[url: string, payload: object, write: object]> = [
      ['/api/medals/Rome', { medal: 'gold' }, { kind: 'medal', team: 'Rome', medal: 'gold', delta: 1 }],
      ['/api/medals/Rome', { medal: 'gold', delta: -1 }, { kind: 'medal', team: 'Rome', medal: 'gold', delta: -1 }],
      ['/api/scores/Stone%20Curling', { scores: { Gaul: 7, Rome: -2.5 } }, { kind: 'score', event: 'Stone Curling', scores: { Gaul: 7, Rome: -2.5 } }],
    ];
    for (const [index, [url, payload, expected]] of cases.entries()) {
      const response = nodeApp.app.inject({ method: 'POST', url, headers: AUTH, payload });
      const write = await store.nextWrite();
      assert.equal(write.requestId, index + 1);
      assert.equal(write.writeId, `node-1:t:${index + 1}`);
      assert.deepEqual(write.write, expected, url);
      const change: Change =
        write.write.kind === 'medal'
          ? { ...write.write, seq: index + 1, count: 1, updatedAt: NOW_MS, node: 'node-1' }
          : { ...write.write, seq: index + 1, updatedAt: NOW_MS, node: 'node-1' };
      nodeApp.storeClient.receive({ type: 'store.write-result', requestId: write.requestId, ok: true, change });
      const answer = await response;
      assert.equal(answer.statusCode, 200, url);
      assert.equal(answer.json().seq, index + 1);
    }
    assert.equal(store.writes().length, 3);
  });

  test('a store refusal maps to its HTTP status and keeps its code and message', async (t) => {
    // Checks a table of store error codes: conflict 409, unknown team 404, bad body 400, anything else 503.
    const { nodeApp, store } = await start(t);
    const table: Array<[code: string, status: number]> = [
      ['OLX_CONFLICT', 409],
      ['OLX_UNKNOWN_TEAM', 404],
      ['OLX_UNKNOWN_EVENT', 404],
      ['OLX_BAD_BODY', 400],
      ['OLX_DISK_FULL', 503],
    ];
    for (const [code, status] of table) {
      const response = nodeApp.app.inject({ method: 'POST', url: '/api/medals/Gaul', headers: AUTH, payload: { medal: 'gold', delta: -1 } });
      const write = await store.nextWrite();
      nodeApp.storeClient.receive({ type: 'store.write-result', requestId: write.requestId, ok: false, code, message: `Gaul has 0 gold medals (${code})` });
      const answer = await response;
      assert.equal(answer.statusCode, status, code);
      assert.equal(answer.json().code, code);
      assert.equal(answer.json().message, `Gaul has 0 gold medals (${code})`);
    }
  });

  test('every bad request gets its status and names the problem, and nothing is sent to the store', async (t) => {
    // Checks a table of (request, status, code, text in message) and, after each, that no store.write was sent.
    const { nodeApp, store } = await start(t);
    const json = { ...AUTH, 'content-type': 'application/json' };
    type Case = { name: string; url: string; headers?: Record<string, string>; payload?: string | object; status: number; code: string; message?: string[] };
    const table: Case[] = [
      { name: 'no token', url: '/api/medals/Gaul', headers: {}, payload: { medal: 'gold' }, status: 401, code: 'OLX_MISSING_TOKEN', message: ['Bearer'] },
      { name: 'not a bearer token', url: '/api/medals/Gaul', headers: { authorization: `Basic ${TOKEN}` }, payload: { medal: 'gold' }, status: 401, code: 'OLX_MISSING_TOKEN' },
      { name: 'wrong token', url: '/api/medals/Gaul', headers: { authorization: 'Bearer not-the-token-at-all-12345' }, payload: { medal: 'gold' }, status: 403, code: 'OLX_WRONG_TOKEN' },
      { name: 'token prefix', url: '/api/scores/Luge', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, payload: { scores: { Gaul: 1 } }, status: 403, code: 'OLX_WRONG_TOKEN' },
      { name: 'unknown medal', url: '/api/medals/Gaul', payload: { medal: 'platinum' }, status: 400, code: 'OLX_BAD_BODY', message: ['body/medal', 'gold, silver, bronze'] },
      { name: 'missing medal', url: '/api/medals/Gaul', payload: {}, status: 400, code: 'OLX_BAD_BODY', message: ['medal'] },
      { name: 'extra field', url: '/api/medals/Gaul', payload: { medal: 'gold', points: 3 }, status: 400, code: 'OLX_BAD_BODY', message: ['unknown field', 'points'] },
      { name: 'delta 0', url: '/api/medals/Gaul', payload: { medal: 'gold', delta: 0 }, status: 400, code: 'OLX_BAD_BODY', message: ['body/delta'] },
      { name: 'fractional delta', url: '/api/medals/Gaul', payload: { medal: 'gold', delta: 1.5 }, status: 400, code: 'OLX_BAD_BODY', message: ['body/delta'] },
      { name: 'delta as text', url: '/api/medals/Gaul', payload: { medal: 'gold', delta: '2' }, status: 400, code: 'OLX_BAD_BODY', message: ['body/delta'] },
      { name: 'delta too large', url: '/api/medals/Gaul', payload: { medal: 'gold', delta: 101 }, status: 400, code: 'OLX_BAD_BODY', message: ['body/delta'] },
      { name: 'score as text', url: '/api/scores/Luge', payload: { scores: { Gaul: 'fast' } }, status: 400, code: 'OLX_BAD_BODY', message: ['body/scores/Gaul'] },
      { name: 'numeric text score', url: '/api/scores/Luge', payload: { scores: { Gaul: '12' } }, status: 400, code: 'OLX_BAD_BODY', message: ['body/scores/Gaul'] },
      { name: 'null score', url: '/api/scores/Luge', payload: { scores: { Gaul: null } }, status: 400, code: 'OLX_BAD_BODY', message: ['body/scores/Gaul'] },
      { name: 'huge score', url: '/api/scores/Luge', payload: '{"scores":{"Gaul":1e400}}', status: 400, code: 'OLX_BAD_BODY', message: ['body/scores/Gaul'] },
      { name: 'empty scores', url: '/api/scores/Luge', payload: { scores: {} }, status: 400, code: 'OLX_BAD_BODY', message: ['body/scores'] },
      { name: 'scores not an object', url: '/api/scores/Luge', payload: { scores: [1, 2] }, status: 400, code: 'OLX_BAD_BODY', message: ['body/scores'] },
      { name: 'extra field on scores', url: '/api/scores/Luge', payload: { scores: { Gaul: 1 }, final: true }, status: 400, code: 'OLX_BAD_BODY', message: ['final'] },
      { name: 'body is an array', url: '/api/medals/Gaul', payload: '[]', status: 400, code: 'OLX_BAD_BODY' },
      { name: 'unknown team', url: '/api/medals/Atlantis', payload: { medal: 'gold' }, status: 404, code: 'OLX_UNKNOWN_TEAM', message: ['"Atlantis"'] },
      { name: 'unknown event', url: '/api/scores/Chariot%20Race', payload: { scores: { Gaul: 1 } }, status: 404, code: 'OLX_UNKNOWN_EVENT', message: ['"Chariot Race"'] },
      { name: 'unknown team in scores', url: '/api/scores/Luge', payload: { scores: { Gaul: 1, Atlantis: 2 } }, status: 404, code: 'OLX_UNKNOWN_TEAM', message: ['"Atlantis"'] },
      { name: 'text/plain', url: '/api/medals/Gaul', headers: { ...AUTH, 'content-type': 'text/plain' }, payload: '{"medal":"gold"}', status: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' },
      { name: 'malformed JSON', url: '/api/medals/Gaul', headers: json, payload: '{"medal": "gold"', status: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: ['JSON'] },
      { name: 'empty JSON body', url: '/api/medals/Gaul', headers: json, payload: '', status: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' },
      { name: 'body over 16 KiB', url: '/api/scores/Luge', headers: json, payload: JSON.stringify({ scores: { Gaul: 1 }, pad: 'x'.repeat(17 * 1024) }), status: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' },
      { name: 'origin refused', url: '/api/medals/Gaul', headers: { ...AUTH, origin: 'http://evil.example' }, payload: { medal: 'gold' }, status: 403, code: 'OLX_ORIGIN_REFUSED', message: ['http://evil.example'] },
    ];
    for (const entry of table) {
      const headers = entry.headers ?? (typeof entry.payload === 'string' ? json : AUTH);
      const response = await nodeApp.app.inject({ method: 'POST', url: entry.url, headers, ...(entry.payload === undefined ? {} : { payload: entry.payload }) });
      assert.equal(response.statusCode, entry.status, `${entry.name}: ${response.body}`);
      const body = response.json();
      assert.equal(body.statusCode, entry.status, entry.name);
      assert.equal(body.code, entry.code, `${entry.name}: ${response.body}`);
      assert.equal(typeof body.error, 'string', entry.name);
      for (const part of entry.message ?? []) assert.ok(body.message.includes(part), `${entry.name}: "${body.message}" should mention ${part}`);
      assert.deepEqual(store.writes(), [], `${entry.name}: nothing may be sent to the store`);
    }
  });

  test('a write from an allowed origin goes through and gets CORS headers', async (t) => {
    // Checks that the page's origin may write, and that the answer names it in access-control-allow-origin.
    const { nodeApp, store } = await start(t);
    const response = nodeApp.app.inject({ method: 'POST', url: '/api/medals/Gaul', headers: { ...AUTH, origin: ALLOWED_ORIGIN }, payload: { medal: 'bronze' } });
    const write = await store.nextWrite();
    nodeApp.storeClient.receive({
      type: 'store.write-result',
      requestId: write.requestId,
      ok: true,
      change: { kind: 'medal', seq: 1, team: 'Gaul', medal: 'bronze', count: 1, delta: 1, updatedAt: NOW_MS, node: 'node-1' },
    });
    const answer = await response;
    assert.equal(answer.statusCode, 200);
    assert.equal(answer.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
  });

  test('without a store link, or before the snapshot, a write is 503 and nothing is sent', async (t) => {
    // Checks a node that is not ready, and a ready node whose link then closed.
    const notReady = await start(t, { ready: false });
    const first = await notReady.nodeApp.app.inject({ method: 'POST', url: '/api/medals/Gaul', headers: AUTH, payload: { medal: 'gold' } });
    assert.equal(first.statusCode, 503);
    assert.equal(first.json().code, 'OLX_STORE_UNAVAILABLE');
    assert.deepEqual(notReady.store.writes(), []);

    const linkDown = await start(t);
    linkDown.nodeApp.storeClient.linkClosed();
    const second = await linkDown.nodeApp.app.inject({ method: 'POST', url: '/api/scores/Luge', headers: AUTH, payload: { scores: { Rome: 3 } } });
    assert.equal(second.statusCode, 503);
    assert.equal(second.json().code, 'OLX_STORE_UNAVAILABLE');
    assert.deepEqual(linkDown.store.writes(), []);
  });
});

describe('a node that is not serving yet (clock not synchronised)', () => {
  test('health says not ready and new WebSockets are closed with the not-ready code', async (t) => {
    // Checks serving() = false on a node that has its snapshot and store link (over loopback: the server closes).
    const started = await start(t, { serving: () => false });
    const health = (await started.nodeApp.app.inject({ method: 'GET', url: '/api/health' })).json();
    assert.equal(health.ready, false);
    assert.equal(health.store, 'up');
    const { inbox } = await connectOverLoopback(started);
    assert.equal(await inbox.closed, CloseCode.notReady);
  });

  test('a write is refused with 503 and not sent to the store', async (t) => {
    // Checks POST /api/medals/Gaul while serving() = false; if the write reaches the fake store, it is answered so the test ends at once.
    const { nodeApp, store } = await start(t, { serving: () => false });
    const response = nodeApp.app.inject({ method: 'POST', url: '/api/medals/Gaul', headers: AUTH, payload: { medal: 'gold' } });
    const outcome = await Promise.race([response.then((answer) => ({ answer })), store.nextWrite().then((write) => ({ write }))]);
    if ('write' in outcome) {
      const change: Change = { kind: 'medal', seq: 1, team: 'Gaul', medal: 'gold', count: 1, delta: 1, updatedAt: NOW_MS, node: 'node-1' };
      nodeApp.storeClient.receive({ type: 'store.write-result', requestId: outcome.write.requestId, ok: true, change });
      await response;
      assert.fail('the write was sent to the store by a node that does not serve');
    }
    assert.equal(outcome.answer.statusCode, 503);
  });
});

describe('origins and CORS', () => {
  test('a preflight from an allowed origin gets the access-control headers', async (t) => {
    // Checks status 204 and each header on OPTIONS for a write route.
    const { nodeApp } = await start(t);
    const response = await nodeApp.app.inject({
      method: 'OPTIONS',
      url: '/api/medals/Gaul',
      headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
    assert.match(String(response.headers['access-control-allow-methods']), /POST/);
    assert.match(String(response.headers['access-control-allow-headers']), /authorization/);
    assert.match(String(response.headers['access-control-allow-headers']), /content-type/);
    assert.equal(response.headers['vary'], 'origin');
  });

  test('a preflight or read from another origin gets no access-control headers', async (t) => {
    // Checks OPTIONS (refused with 403) and GET (served, but without CORS headers so the browser hides it).
    const { nodeApp } = await start(t);
    const preflight = await nodeApp.app.inject({ method: 'OPTIONS', url: '/api/medals/Gaul', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(preflight.statusCode, 403);
    assert.equal(preflight.json().code, 'OLX_ORIGIN_REFUSED');
    for (const name of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers']) {
      assert.equal(preflight.headers[name], undefined, name);
    }
    const read = await nodeApp.app.inject({ method: 'GET', url: '/api/medals/Gaul', headers: { origin: 'http://evil.example' } });
    assert.equal(read.statusCode, 200);
    assert.equal(read.headers['access-control-allow-origin'], undefined);
    const allowedRead = await nodeApp.app.inject({ method: 'GET', url: '/api/medals/Gaul', headers: { origin: ALLOWED_ORIGIN } });
    assert.equal(allowedRead.headers['access-control-allow-origin'], ALLOWED_ORIGIN);
  });
});

// ---- the WebSocket side, through @fastify/websocket's injectWS ----

/** The messages a client received, in order, and its close code; waits without sleeping. */
class Inbox {
  private readonly queue: ServerMessage[] = [];
  private waiter: ((message: ServerMessage) => void) | null = null;
  readonly closed: Promise<number>;
  private resolveClosed!: (code: number) => void;

  constructor() {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  attach(ws: WebSocket): void {
    ws.on('message', (data) => this.push(JSON.parse(String(data)) as ServerMessage));
    ws.on('close', (code) => this.resolveClosed(code));
  }

  private push(message: ServerMessage): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(message);
    } else {
      this.queue.push(message);
    }
  }

  next(): Promise<ServerMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** The next message, which must be of this type. */
  async expect<T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    const message = await this.next();
    assert.equal(message.type, type, `expected ${type}, got ${JSON.stringify(message)}`);
    return message as Extract<ServerMessage, { type: T }>;
  }
}

/** Opens a WebSocket to /ws; the inbox listens from before the upgrade, so the welcome is never missed. */
async function connect(started: Started, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const inbox = new Inbox();
  const ws = await started.nodeApp.app.injectWS('/ws', { headers } as Partial<IncomingMessage>, { onInit: (socket) => inbox.attach(socket) });
  started.clients.push(ws);
  return { ws, inbox };
}

/**
 * Opens a WebSocket over a real loopback port. Used where the server closes the
 * connection: injectWS's in-memory streams never emit 'close' after a close
 * handshake, so ws would hold the test for its 30 s close timeout.
 */
async function connectOverLoopback(started: Started, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const address = await started.nodeApp.app.listen({ port: 0, host: '127.0.0.1' });
  const inbox = new Inbox();
  const ws = new WebSocket(`${address.replace(/^http/, 'ws')}/ws`, { headers });
  inbox.attach(ws);
  started.clients.push(ws);
  return { ws, inbox };
}

const send = (ws: WebSocket, message: unknown): void => ws.send(typeof message === 'string' ? message : JSON.stringify(message));

/** Sends a ping and expects its pong next: proves nothing else was queued before it. */
async function expectNothingMore(ws: WebSocket, inbox: Inbox, id: number): Promise<void> {
  send(ws, { type: 'ping', id });
  const pong = await inbox.expect('pong');
  assert.equal(pong.id, id);
}

describe('WebSocket sessions', () => {
  test('a new connection is welcomed with the node, the epoch, the position and the catalog', async (t) => {
    // Checks every field of the welcome, and that the client is counted in /api/health.
    const started = await start(t);
    const { nodeApp } = started;
    const { inbox } = await connect(started);
    const welcome = await inbox.expect('welcome');
    assert.match(welcome.client, /^c[0-9a-f]{16}$/);
    assert.deepEqual({ ...welcome, client: 'x' }, {
      type: 'welcome',
      protocol: 1,
      node: 'node-1',
      client: 'x',
      epoch: 'e1',
      seq: 0,
      catalog: CATALOG,
      raffle: { enabled: false, everyN: 100 },
      serverTime: NOW_MS,
    });
    assert.equal(nodeApp.hub.clientCount, 1);
    assert.equal((await nodeApp.app.inject({ method: 'GET', url: '/api/health' })).json().clients, 1);
  });

  test('subscribe answers subscribed then a snapshot of exactly the asked topics', async (t) => {
    // Checks the two messages after a subscribe with an id and no resume point.
    const started = await start(t);
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    send(ws, { type: 'subscribe', id: 5, topics: ['medals:Rome', 'score:Luge'] });
    assert.deepEqual(await inbox.expect('subscribed'), { type: 'subscribed', id: 5, topics: ['medals:Rome', 'score:Luge'], mode: 'snapshot', missed: 0 });
    const expected = board();
    assert.deepEqual(await inbox.expect('snapshot'), {
      type: 'snapshot',
      epoch: 'e1',
      seq: 0,
      data: { medals: { Rome: expected.medals['Rome']! }, scores: { Luge: expected.scores['Luge']! } },
    });
  });

  test('a committed change is pushed to the subscribers of its topic only', async (t) => {
    // Checks that a Gaul subscriber gets Gaul's change and not Rome's, and a Luge subscriber gets only Luge's.
    const started = await start(t);
    const { nodeApp } = started;
    const gaul = await connect(started);
    const luge = await connect(started);
    for (const [client, topics] of [[gaul, ['medals:Gaul']], [luge, ['score:Luge']]] as const) {
      await client.inbox.expect('welcome');
      send(client.ws, { type: 'subscribe', topics });
      await client.inbox.expect('subscribed');
      await client.inbox.expect('snapshot');
    }
    const changes = [medalChange(1, 'Rome', 1), medalChange(2, 'Gaul', 1), scoreChange(3, 'Luge', { Gaul: 60 }), scoreChange(4, 'Stone Curling', { Rome: 3 })];
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes, live: true });
    assert.deepEqual(await gaul.inbox.expect('change'), { type: 'change', epoch: 'e1', change: changes[1] });
    await expectNothingMore(gaul.ws, gaul.inbox, 1);
    assert.deepEqual(await luge.inbox.expect('change'), { type: 'change', epoch: 'e1', change: changes[2] });
    await expectNothingMore(luge.ws, luge.inbox, 2);
  });

  test('once a batch of changes is handed to the sockets, the node tells the store how far its push got, once per batch', async (t) => {
    // Checks store.pushed (the store paces its commits by it): sent after the batch's frames, with the last seq, one per batch.
    const started = await start(t);
    const { nodeApp, store } = started;
    const luge = await connect(started);
    await luge.inbox.expect('welcome');
    send(luge.ws, { type: 'subscribe', topics: ['score:Luge'] });
    await luge.inbox.expect('subscribed');
    await luge.inbox.expect('snapshot');
    const pushed = () => store.messages.filter((message) => message.type === 'store.pushed');
    const before = pushed().length;
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [scoreChange(1, 'Luge', { Gaul: 60 }), scoreChange(2, 'Luge', { Rome: 61 })], live: true });
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [medalChange(3, 'Gaul', 1)], live: true });
    assert.equal(pushed().length, before, 'not before the frames are handed to the sockets');
    await until(() => pushed().length > before, 'the push report');
    assert.deepEqual(pushed().slice(before), [{ type: 'store.pushed', seq: 3 }]);
    assert.equal((await luge.inbox.expect('change')).change.seq, 1);
    assert.equal((await luge.inbox.expect('change')).change.seq, 2);
  });

  test('resume with the same epoch gets resumed and exactly the missed changes on its topics', async (t) => {
    // Checks a client that saw seq 1 and comes back after 2..5 were applied: it gets 3 and 5 (its topics), then nothing.
    const started = await start(t);
    const { nodeApp } = started;
    const changes = [medalChange(1, 'Gaul', 1), medalChange(2, 'Rome', 1), medalChange(3, 'Gaul', 2), scoreChange(4, 'Stone Curling', { Gaul: 1 }), scoreChange(5, 'Luge', { Rome: 58 })];
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes, live: true });
    const { ws, inbox } = await connect(started);
    assert.equal((await inbox.expect('welcome')).seq, 5);
    send(ws, { type: 'subscribe', id: 9, topics: ['medals:Gaul', 'score:Luge'], resume: { epoch: 'e1', seq: 1 } });
    assert.deepEqual(await inbox.expect('subscribed'), { type: 'subscribed', id: 9, topics: ['medals:Gaul', 'score:Luge'], mode: 'resumed', missed: 2 });
    assert.deepEqual(await inbox.expect('change'), { type: 'change', epoch: 'e1', change: changes[2] });
    assert.deepEqual(await inbox.expect('change'), { type: 'change', epoch: 'e1', change: changes[4] });
    await expectNothingMore(ws, inbox, 10);
  });

  test('resume from the current position gets resumed with nothing missed', async (t) => {
    // Checks a client level with the node.
    const started = await start(t);
    const { nodeApp } = started;
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [medalChange(1, 'Gaul', 1)], live: true });
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    send(ws, { type: 'subscribe', topics: ['medals:Gaul'], resume: { epoch: 'e1', seq: 1 } });
    assert.deepEqual(await inbox.expect('subscribed'), { type: 'subscribed', topics: ['medals:Gaul'], mode: 'resumed', missed: 0 });
    await expectNothingMore(ws, inbox, 1);
  });

  test('resume from another epoch, or from before the kept history, gets a snapshot', async (t) => {
    // Checks both fallbacks with a history of 2: the snapshot carries the node's current seq.
    const started = await start(t, { historyLimit: 2 });
    const { nodeApp } = started;
    const changes = [medalChange(1, 'Gaul', 1), medalChange(2, 'Gaul', 2), medalChange(3, 'Gaul', 3)];
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes, live: true });
    const table: Array<{ epoch: string; seq: number }> = [
      { epoch: 'e0', seq: 2 },
      { epoch: 'e1', seq: 0 },
    ];
    for (const resume of table) {
      const { ws, inbox } = await connect(started);
      await inbox.expect('welcome');
      send(ws, { type: 'subscribe', topics: ['medals:Gaul'], resume });
      assert.equal((await inbox.expect('subscribed')).mode, 'snapshot', JSON.stringify(resume));
      const snapshot = await inbox.expect('snapshot');
      assert.equal(snapshot.seq, 3);
      assert.deepEqual(snapshot.data.medals['Gaul']!.gold, { value: 3, updatedAt: NOW_MS + 3 });
    }
    // Position 1 is still in the history of 2 (changes 2 and 3).
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    send(ws, { type: 'subscribe', topics: ['medals:Gaul'], resume: { epoch: 'e1', seq: 1 } });
    assert.equal((await inbox.expect('subscribed')).missed, 2);
  });

  test('a snapshot that moves the replica forward reaches the subscribed pages', {
  }, async (t) => {
    // Checks a page subscribed at seq 0 when the store answers a resync with a snapshot of the same epoch at seq 6000
    // (a node more than 5,000 changes behind): the page must get the new data (a snapshot) before anything else.
    const started = await start(t);
    const { nodeApp } = started;
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    send(ws, { type: 'subscribe', topics: ['medals:Gaul'], resume: { epoch: 'e1', seq: 0 } });
    await inbox.expect('subscribed');
    const data = board();
    data.medals['Gaul']!.gold = { value: 5, updatedAt: NOW_MS + 6000 };
    nodeApp.storeClient.receive({ type: 'store.snapshot', epoch: 'e1', seq: 6000, catalog: CATALOG, data });
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [], live: true });
    send(ws, { type: 'ping', id: 1 });
    const first = await inbox.next();
    assert.equal(first.type, 'snapshot', `the page still shows Gaul's 0 gold medals; got ${JSON.stringify(first)}`);
  });

  test('invalid JSON gets OLX_BAD_JSON and an unknown topic OLX_UNKNOWN_TOPIC, and the session goes on', async (t) => {
    // Checks a table of bad frames against the error code, then that a ping still works.
    const started = await start(t);
    const { nodeApp } = started;
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    const table: Array<[frame: unknown, code: string, id: number | undefined, text: string]> = [
      ['{"type": "subscribe"', 'OLX_BAD_JSON', undefined, 'JSON'],
      ['not json at all', 'OLX_BAD_JSON', undefined, 'JSON'],
      [{ type: 'subscribe', id: 3, topics: ['medals:Atlantis'] }, 'OLX_UNKNOWN_TOPIC', 3, 'medals:Atlantis'],
      [{ type: 'subscribe', topics: ['medals:Gaul', 'score:Bobsleigh'] }, 'OLX_UNKNOWN_TOPIC', undefined, 'score:Bobsleigh'],
      [{ type: 'subscribe', id: 4, topics: [] }, 'OLX_BAD_MESSAGE', 4, ''],
      [{ type: 'dance', id: 6 }, 'OLX_BAD_MESSAGE', 6, ''],
      [{ type: 'hello', protocol: 2, client: 'abc' }, 'OLX_PROTOCOL', undefined, '2'],
    ];
    for (const [frame, code, id, text] of table) {
      send(ws, frame);
      const error = await inbox.expect('error');
      assert.equal(error.code, code, JSON.stringify(frame));
      assert.equal(error.id, id, JSON.stringify(frame));
      assert.ok(error.message.includes(text), `${error.message} should mention ${text}`);
    }
    // An unknown topic subscribed nothing: a change on Gaul's medals is not pushed.
    nodeApp.storeClient.receive({ type: 'store.changes', epoch: 'e1', changes: [medalChange(1, 'Gaul', 1)], live: true });
    await expectNothingMore(ws, inbox, 99);
  });

  test('a malformed message gets an error that names the bad field', {
  }, async (t) => {
    // Checks that an empty topics list and a topic of the wrong type are named in the error message.
    const started = await start(t);
    const { ws, inbox } = await connect(started);
    await inbox.expect('welcome');
    for (const [frame, field] of [[{ type: 'subscribe', id: 1, topics: [] }, '/topics'], [{ type: 'subscribe', id: 2, topics: [42] }, '/topics/0']] as const) {
      send(ws, frame);
      const error = await inbox.expect('error');
      assert.equal(error.code, 'OLX_BAD_MESSAGE');
      assert.ok(error.message.includes(field), `"${error.message}" should name ${field}`);
    }
  });

  test('an open WebSocket does not keep its upgrade request, reply or response alive', async (t) => {
    // Checks that the upgrade's IncomingMessage is collected while the socket stays open:
    // @fastify/websocket would keep it (and its fastify request, reply and ServerResponse,
    // some 2.5 KB per connection) for the socket's whole life.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const upgrades: Array<WeakRef<IncomingMessage>> = [];
    const started = await start(t, {
      routes: (app) => app.addHook('onRequest', async (request) => void (request.raw.headers.upgrade && upgrades.push(new WeakRef(request.raw)))),
    });
    const { ws, inbox } = await connectOverLoopback(started, { origin: ALLOWED_ORIGIN });
    await inbox.expect('welcome');
    send(ws, { type: 'subscribe', topics: ['score:Luge'] });
    await inbox.expect('subscribed');
    await inbox.expect('snapshot');
    assert.equal(upgrades.length, 1);
    for (let round = 0; round < 5 && upgrades[0]!.deref() !== undefined; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    assert.equal(upgrades[0]!.deref(), undefined, 'the upgrade request is still reachable');
    assert.equal(started.nodeApp.hub.clientCount, 1, 'while the socket is open');
  });

  test('a page from another origin cannot open a WebSocket; one from the allowed origin can', async (t) => {
    // Checks the upgrade is refused with 403 before any session exists.
    const started = await start(t);
    const { nodeApp } = started;
    await assert.rejects(nodeApp.app.injectWS('/ws', { headers: { origin: 'http://evil.example' } } as Partial<IncomingMessage>), /403/);
    assert.equal(nodeApp.hub.clientCount, 0);
    const { inbox } = await connect(started, { origin: ALLOWED_ORIGIN });
    await inbox.expect('welcome');
  });

  test('a node without the snapshot closes new WebSockets with the not-ready code', async (t) => {
    // Checks close code 4503 so that the page asks the dispatcher for another node (over loopback: the server closes).
    const started = await start(t, { ready: false });
    const { nodeApp } = started;
    const { inbox } = await connectOverLoopback(started);
    assert.equal(await inbox.closed, CloseCode.notReady);
    assert.equal(nodeApp.hub.clientCount, 0);
  });

  test('closing the node closes its clients with "going away"', async (t) => {
    // Checks close code 4001 on nodeApp.close() (over loopback: the server closes).
    const started = await start(t);
    const { nodeApp } = started;
    const { inbox } = await connectOverLoopback(started);
    await inbox.expect('welcome');
    await nodeApp.close();
    assert.equal(await inbox.closed, CloseCode.goingAway);
  });
});

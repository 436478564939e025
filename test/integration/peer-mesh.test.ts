// Peer mesh on real sockets (127.0.0.1, ephemeral ports): links, handshake
// authentication, heartbeats, reconnects, limits and cuts. Each test says what it checks.
// Timers are scaled down (heartbeat 50 ms, dead after 200 ms) so that the file runs fast;
// every wait is for a condition, except where a test checks that something does NOT happen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import Fastify from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import {
  PeerCloseCode,
  PeerMesh,
  attachToHttpServer,
  type ParseResult,
  type PeerAddress,
  type PeerMeshOptions,
} from '../../server/mesh/peer-mesh.js';

// --- harness ---

interface TestMessage {
  readonly n: number;
  readonly from: string;
  readonly pad?: string;
}

function parseTestMessage(text: string): ParseResult<TestMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'invalid JSON' };
  }
  if (typeof value !== 'object' || value === null) return { ok: false, error: 'not an object' };
  const record = value as Record<string, unknown>;
  if (typeof record.n !== 'number' || typeof record.from !== 'string') return { ok: false, error: 'wrong shape' };
  return { ok: true, message: value as TestMessage };
}

const secret = 'test-cluster-secret-0123456789abcdef';
const protocolVersion = 3;
const fastTimers = { heartbeatMs: 50, deadAfterMs: 200, backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 } };

interface LogLine {
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

interface Member {
  readonly id: string;
  readonly mesh: PeerMesh<TestMessage>;
  readonly server: HttpServer;
  readonly port: number;
  readonly logs: LogLine[];
  readonly received: Array<{ peer: string; message: TestMessage }>;
  /** up/down events in order, as "up node-2" or "down node-2: reason". */
  readonly events: string[];
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const startMs = performance.now();
  while (!predicate()) {
    if (performance.now() - startMs > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits a fixed time: only to check that something does not happen within it. */
function hold(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}

async function listen(port = 0): Promise<HttpServer> {
  const server = createServer((_request, response) => { response.statusCode = 404; response.end(); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

function portOf(server: HttpServer): number {
  return (server.address() as AddressInfo).port;
}

function urlOf(port: number): string {
  return `ws://127.0.0.1:${port}/peer`;
}

async function closeServer(server: HttpServer): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function makeMember(
  id: string,
  server: HttpServer,
  peers: readonly PeerAddress[],
  overrides: Partial<PeerMeshOptions<TestMessage>> = {},
): Member {
  const logs: LogLine[] = [];
  const received: Array<{ peer: string; message: TestMessage }> = [];
  const events: string[] = [];
  const mesh = new PeerMesh<TestMessage>({
    selfId: id,
    peers,
    secret,
    protocolVersion,
    parse: parseTestMessage,
    log: (event, fields) => logs.push({ event, fields }),
    ...fastTimers,
    ...overrides,
  });
  mesh.on('up', (peer) => events.push(`up ${peer}`));
  mesh.on('down', (peer, reason) => events.push(`down ${peer}: ${reason}`));
  mesh.on('message', (peer, message) => received.push({ peer, message }));
  attachToHttpServer(server, mesh);
  mesh.start();
  return { id, mesh, server, port: portOf(server), logs, received, events };
}

/** Starts one member per id, each on its own port, all knowing each other. */
async function startCluster(ids: readonly string[], overrides: Partial<PeerMeshOptions<TestMessage>> = {}): Promise<Member[]> {
  const servers = await Promise.all(ids.map(() => listen()));
  const addresses = ids.map((id, i) => ({ id, url: urlOf(portOf(servers[i]!)) }));
  return ids.map((id, i) => makeMember(id, servers[i]!, addresses, overrides));
}

async function stopAll(members: readonly Member[]): Promise<void> {
  await Promise.all(members.map(async (member) => {
    await member.mesh.close();
    await closeServer(member.server);
  }));
}

function fullyConnected(members: readonly Member[]): boolean {
  return members.every((a) => members.every((b) => a === b || a.mesh.isUp(b.id)));
}

/** Opens a raw WebSocket to a peer endpoint with the given headers; reports the refusal status or the open socket. */
async function rawDial(url: string, headers: Record<string, string>): Promise<{ status: number } | { socket: WebSocket }> {
  const socket = new WebSocket(url, { headers, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('open', () => resolve({ socket }));
    socket.once('error', (error) => { if (socket.readyState !== WebSocket.CLOSED) reject(error); });
  });
}

function peerHeaders(member: string, overrides: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${secret}`, 'x-olympix-member': member, 'x-olympix-protocol': String(protocolVersion), ...overrides };
}

function closeCodeOf(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
}

/**
 * A bare ws endpoint that plays `id` towards a mesh that dials it, with the proof headers
 * of a started mesh of that id, and with pongs under the test's control (autoPong off).
 */
async function rawAcceptor(id: string, dialler: string, options: { answerPings: () => boolean; pauseReading?: boolean }) {
  const server = await listen();
  const identity = new PeerMesh<TestMessage>({
    selfId: id, peers: [{ id: dialler, url: '' }], secret, protocolVersion, parse: parseTestMessage, log: () => {},
  });
  identity.start();
  const wss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
  wss.on('headers', (headers, request) => headers.push(...identity.upgradeResponseHeaders(request)));
  const sockets: WebSocket[] = [];
  server.on('upgrade', (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (webSocket) => {
      sockets.push(webSocket);
      webSocket.on('ping', (data) => { if (options.answerPings()) webSocket.pong(data); });
      if (options.pauseReading === true) webSocket.pause();
    });
  });
  return {
    port: portOf(server),
    sockets,
    async stop() {
      for (const socket of sockets) socket.terminate();
      wss.close();
      await identity.close();
      await closeServer(server);
    },
  };
}

// --- tests ---

test('three meshes form a full mesh, one link per pair, and messages flow both ways in order', async () => {
  // Checks: every member reaches "up" with both others; the smaller id dials; 200 numbered
  // messages each way on every pair arrive complete and in order; broadcast reaches all.
  const members = await startCluster(['node-1', 'node-2', 'node-3']);
  try {
    await waitFor(() => fullyConnected(members), 3000, 'a full mesh');
    const [one, two, three] = members as [Member, Member, Member];
    assert.equal(one.mesh.links()['node-2']!.dials, true);
    assert.equal(two.mesh.links()['node-1']!.dials, false);
    assert.equal(three.mesh.links()['node-2']!.dials, false);
    // One accepted link per pair: each member saw exactly one "up" per peer.
    for (const member of members) assert.equal(member.events.filter((event) => event.startsWith('up ')).length, 2, `${member.id}: ${member.events.join(', ')}`);

    const count = 200;
    for (let n = 0; n < count; n++) {
      for (const from of members) {
        for (const to of members) {
          if (from !== to) assert.equal(from.mesh.send(to.id, { n, from: from.id }), true);
        }
      }
    }
    await waitFor(() => members.every((member) => member.received.length === count * 2), 3000, 'every message');
    for (const member of members) {
      for (const peer of members) {
        if (peer === member) continue;
        const sequence = member.received.filter((entry) => entry.peer === peer.id).map((entry) => entry.message.n);
        assert.deepEqual(sequence, Array.from({ length: count }, (_, n) => n), `${member.id} from ${peer.id}`);
        // The link's id is the authenticated member, and it matches what the sender wrote.
        assert.ok(member.received.filter((entry) => entry.peer === peer.id).every((entry) => entry.message.from === peer.id));
      }
    }

    const queued = two.mesh.broadcast({ n: -1, from: 'node-2' });
    assert.deepEqual(queued.sort(), ['node-1', 'node-3']);
    const onlyThree = one.mesh.broadcast({ n: -2, from: 'node-1' }, (peer) => peer === 'node-3');
    assert.deepEqual(onlyThree, ['node-3']);
    await waitFor(() => one.received.some((e) => e.message.n === -1) && three.received.some((e) => e.message.n === -1), 2000, 'the broadcast');
    await waitFor(() => three.received.some((e) => e.message.n === -2), 2000, 'the filtered broadcast');
    assert.ok(!two.received.some((e) => e.message.n === -2));

    const links = one.mesh.links();
    assert.equal(links['node-2']!.state, 'up');
    assert.equal(links['node-2']!.reconnects, 0);
    await waitFor(() => one.mesh.links()['node-2']!.rttMs !== undefined, 1000, 'an RTT sample');
  } finally {
    await stopAll(members);
  }
});

test('a dialler with the wrong secret is refused with 401 and logged without the secret; no link comes up', async () => {
  // Checks: two real meshes with different secrets; the accepting side logs mesh.refused
  // (401), the dialler logs a 401 dial failure, neither emits up, and no log holds a secret.
  const [serverOne, serverTwo] = [await listen(), await listen()];
  const addresses = [{ id: 'node-1', url: urlOf(portOf(serverOne)) }, { id: 'node-2', url: urlOf(portOf(serverTwo)) }];
  const wrongSecret = 'not-the-cluster-secret-at-all-42';
  const one = makeMember('node-1', serverOne, addresses, { secret: wrongSecret });
  const two = makeMember('node-2', serverTwo, addresses);
  try {
    await waitFor(() => two.logs.some((l) => l.event === 'mesh.refused'), 2000, 'the refusal log');
    await waitFor(() => one.mesh.links()['node-2']!.lastError === 'refused with 401', 2000, 'the dialler to see 401');
    const refusal = two.logs.find((l) => l.event === 'mesh.refused')!;
    assert.equal(refusal.fields.status, 401);
    assert.equal(refusal.fields.reason, 'wrong secret');
    assert.equal(refusal.fields.member, 'node-1');
    assert.deepEqual(one.events, []);
    assert.deepEqual(two.events, []);
    assert.equal(two.mesh.isUp('node-1'), false);
    const allLogs = JSON.stringify([...one.logs, ...two.logs]);
    assert.ok(!allLogs.includes(secret) && !allLogs.includes(wrongSecret), 'a secret appears in the logs');
  } finally {
    await stopAll([one, two]);
  }
});

test('handshakes without a valid secret, member or protocol are refused before the upgrade', async () => {
  // Checks each refusal status on the wire, with raw sockets: 401 without a bearer token
  // or with a wrong one, 403 for a missing, unknown, self or wrong-direction member, 426
  // for a missing, older or newer protocol version. The accepted case opens, for contrast.
  const members = await startCluster(['node-1', 'node-2', 'node-3']);
  const two = members[1]!;
  try {
    await waitFor(() => fullyConnected(members), 3000, 'a full mesh');
    const url = urlOf(two.port);
    const { authorization: _omit, ...withoutToken } = peerHeaders('node-1');
    const cases: Array<[what: string, headers: Record<string, string>, status: number]> = [
      ['no bearer token', withoutToken, 401],
      ['wrong secret', peerHeaders('node-1', { authorization: 'Bearer wrong-secret-wrong-secret' }), 401],
      ['secret without Bearer', peerHeaders('node-1', { authorization: secret }), 401],
      ['no member header', peerHeaders('node-1', { 'x-olympix-member': '' }), 403],
      ['unknown member', peerHeaders('node-9'), 403],
      ['itself', peerHeaders('node-2'), 403],
      ['a member it dials', peerHeaders('node-3'), 403],
      ['older protocol', peerHeaders('node-1', { 'x-olympix-protocol': String(protocolVersion - 1) }), 426],
      ['newer protocol', peerHeaders('node-1', { 'x-olympix-protocol': String(protocolVersion + 1) }), 426],
      ['protocol not a number', peerHeaders('node-1', { 'x-olympix-protocol': 'v3' }), 426],
    ];
    for (const [what, headers, status] of cases) {
      const result = await rawDial(url, headers);
      assert.deepEqual(result, { status }, what);
    }
    const refusals = two.logs.filter((l) => l.event === 'mesh.refused');
    assert.ok(refusals.length >= 5, `refusals logged: ${refusals.length}`);
    assert.ok(!JSON.stringify(two.logs).includes(secret));
    // Refusals did not disturb the real link.
    assert.equal(two.mesh.links()['node-1']!.reconnects, 0);

    const missingProtocol = { ...peerHeaders('node-1') };
    delete missingProtocol['x-olympix-protocol'];
    assert.deepEqual(await rawDial(url, missingProtocol), { status: 426 });

    // authenticate() itself, as the fastify preValidation hook will call it.
    const direct = (headers: IncomingHttpHeaders) => two.mesh.authenticate(headers);
    assert.deepEqual(direct(peerHeaders('node-1')), { ok: true, member: 'node-1' });
    assert.equal((direct({ ...peerHeaders('node-1'), authorization: [`Bearer ${secret}`, `Bearer ${secret}`] } as unknown as IncomingHttpHeaders) as { status: number }).status, 401);
  } finally {
    await stopAll(members);
  }
});

test('an accepting side that cannot prove the secret, or is another member, is not trusted', async () => {
  // Checks the dialler's side of the handshake: a server that upgrades without the
  // proof header, or answers as another member, never becomes an "up" link.
  const server = await listen();
  const wss = new WebSocketServer({ noServer: true });
  let answerAs = 'node-2';
  wss.on('headers', (headers) => headers.push(`x-olympix-member: ${answerAs}`, 'x-olympix-proof: forged'));
  let upgrades = 0;
  server.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, () => { upgrades++; }));
  const own = await listen();
  const one = makeMember('node-1', own, [{ id: 'node-2', url: urlOf(portOf(server)) }]);
  try {
    await waitFor(() => one.mesh.links()['node-2']!.lastError === 'the accepting side did not prove the cluster secret', 2000, 'a proof failure');
    answerAs = 'node-7';
    await waitFor(() => one.mesh.links()['node-2']!.lastError === 'reached member node-7, expected node-2', 2000, 'a wrong-member failure');
    assert.ok(upgrades >= 2);
    assert.deepEqual(one.events, []);
    assert.notEqual(one.mesh.links()['node-2']!.state, 'up');
  } finally {
    await stopAll([one]);
    wss.close();
    await closeServer(server);
  }
});

test('invalid messages are not delivered, are counted and logged, and too many close the link with 4400', async () => {
  // Checks: an authenticated raw peer sends invalid JSON, a wrong shape and a binary frame;
  // none is delivered, each is counted and logged with its reason (not its content); a
  // valid message still goes through; past the budget the link is closed with 4400.
  // node-2 accepts node-1, played here by a raw socket; node-2 never dials it, so no url.
  const mesh2 = makeMember('node-2', await listen(), [{ id: 'node-1', url: '' }], { invalidBudget: { count: 5, windowMs: 60_000 } });
  try {
    const dialled = await rawDial(urlOf(mesh2.port), peerHeaders('node-1'));
    assert.ok('socket' in dialled);
    const raw = dialled.socket;
    await waitFor(() => mesh2.mesh.isUp('node-1'), 1000, 'the raw link up');
    raw.send('this is {not json');
    raw.send(JSON.stringify({ hello: 'wrong shape' }));
    raw.send(Buffer.from([1, 2, 3]), { binary: true });
    raw.send(JSON.stringify({ n: 7, from: 'node-1' }));
    await waitFor(() => mesh2.received.length === 1, 1000, 'the valid message');
    assert.deepEqual(mesh2.received, [{ peer: 'node-1', message: { n: 7, from: 'node-1' } }]);
    assert.equal(mesh2.mesh.links()['node-1']!.invalidMessages, 3);
    const reasons = mesh2.logs.filter((l) => l.event === 'mesh.invalid-message').map((l) => l.fields.error);
    assert.deepEqual(reasons, ['invalid JSON', 'wrong shape', 'binary frame']);
    assert.ok(!JSON.stringify(mesh2.logs).includes('not json'), 'the log carries message content');

    const closed = closeCodeOf(raw);
    for (let i = 0; i < 5; i++) raw.send('garbage');
    assert.equal(await closed, PeerCloseCode.invalidMessages);
    await waitFor(() => !mesh2.mesh.isUp('node-1'), 1000, 'the link down');
    assert.equal(mesh2.mesh.links()['node-1']!.invalidMessages, 6);
    assert.match(mesh2.events.at(-1)!, /^down node-1: invalid messages/);
  } finally {
    await stopAll([mesh2]);
  }
});

test('a peer that stops answering pings is declared down within deadAfterMs + heartbeatMs, and redialled', async () => {
  // Checks the heartbeat: a raw peer pongs at first (the link measures an RTT), then goes
  // silent; the dialler terminates the link and emits down within deadAfterMs + heartbeatMs
  // (plus a small allowance for timer lateness), then dials again.
  let answering = true;
  const acceptor = await rawAcceptor('node-2', 'node-1', { answerPings: () => answering });
  const own = await listen();
  const heartbeatMs = 100;
  const deadAfterMs = 300;
  const one = makeMember('node-1', own, [{ id: 'node-2', url: urlOf(acceptor.port) }], { heartbeatMs, deadAfterMs });
  try {
    await waitFor(() => one.mesh.isUp('node-2'), 2000, 'the link up');
    await waitFor(() => one.mesh.links()['node-2']!.rttMs !== undefined, 2000, 'a pong');
    answering = false;
    const silentFromMs = performance.now();
    await waitFor(() => !one.mesh.isUp('node-2'), 2000, 'the link declared down');
    const elapsedMs = performance.now() - silentFromMs;
    // The allowance is for timer lateness on a busy machine; the bound itself is deadAfterMs + heartbeatMs.
    assert.ok(elapsedMs <= deadAfterMs + heartbeatMs + 100, `declared down after ${Math.round(elapsedMs)} ms`);
    assert.ok(elapsedMs >= deadAfterMs - heartbeatMs - 20, `declared down too early, after ${Math.round(elapsedMs)} ms`);
    assert.match(one.events.at(-1)!, /^down node-2: heartbeat timeout/);
    // The dialling side tries again on its own.
    answering = true;
    await waitFor(() => one.mesh.isUp('node-2'), 2000, 'the link up again');
    assert.equal(one.mesh.links()['node-2']!.reconnects, 1);
  } finally {
    await stopAll([one]);
    await acceptor.stop();
  }
});

test('a peer that restarts on the same port is reconnected and messages flow again, whichever side restarts', async () => {
  // Checks: the accepting side (node-2) restarts on its port: node-1 sees down, redials with
  // backoff, and messages flow both ways again. Then the dialling side (node-1) restarts:
  // node-2 sees down, the new node-1 dials, and messages flow.
  let [one, two] = (await startCluster(['node-1', 'node-2'])) as [Member, Member];
  const addresses = [{ id: 'node-1', url: urlOf(one.port) }, { id: 'node-2', url: urlOf(two.port) }];
  try {
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up');

    await two.mesh.close();
    await closeServer(two.server);
    await waitFor(() => !one.mesh.isUp('node-2'), 2000, 'node-1 to see node-2 down');
    const restartedFromMs = performance.now();
    two = makeMember('node-2', await listen(two.port), addresses);
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up after node-2 restarted');
    const reconnectMs = performance.now() - restartedFromMs;
    assert.ok(reconnectMs < fastTimers.backoff.maxMs + 150, `reconnected after ${Math.round(reconnectMs)} ms`);
    assert.equal(one.mesh.links()['node-2']!.reconnects, 1);
    assert.equal(one.mesh.send('node-2', { n: 1, from: 'node-1' }), true);
    assert.equal(two.mesh.send('node-1', { n: 2, from: 'node-2' }), true);
    await waitFor(() => two.received.length === 1 && one.received.length === 1, 1000, 'messages both ways');

    await one.mesh.close();
    // A closed mesh holds no link and dials no more.
    assert.equal(one.mesh.links()['node-2']!.state, 'down');
    assert.match(one.events.at(-1)!, /^down node-2: mesh closed/);
    await closeServer(one.server);
    await waitFor(() => !two.mesh.isUp('node-1'), 2000, 'node-2 to see node-1 down');
    assert.match(two.events.at(-1)!, /1001 mesh closed/);
    one = makeMember('node-1', await listen(one.port), addresses);
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up after node-1 restarted');
    assert.equal(two.mesh.links()['node-1']!.reconnects, 1);
    assert.equal(one.mesh.send('node-2', { n: 3, from: 'node-1' }), true);
    await waitFor(() => two.received.some((e) => e.message.n === 3), 1000, 'a message after the restart');
  } finally {
    await stopAll([one, two]);
  }
});

test('a new connection from the same member replaces the old one, which is closed with 4409', async () => {
  // Checks the accepting side's rule for half-open links: a peer that dials again while its
  // old link still looks up gets the new link, and the old one is closed with 4409 (the
  // dialler of the old link logs a duplicate member, since only one process may use an id).
  const [one, two] = (await startCluster(['node-1', 'node-2'])) as [Member, Member];
  try {
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up');
    const dialled = await rawDial(urlOf(two.port), peerHeaders('node-1', { 'x-olympix-nonce': 'abcdefghijklmnopqrstuvwx' }));
    assert.ok('socket' in dialled);
    await waitFor(() => one.events.some((e) => e.startsWith('down node-2')), 1000, 'the old link closed');
    assert.match(one.events.find((e) => e.startsWith('down node-2'))!, /4409/);
    assert.ok(one.logs.some((l) => l.event === 'mesh.duplicate-member'));
    assert.deepEqual(two.events.slice(0, 3), ['up node-1', 'down node-1: replaced by a newer connection', 'up node-1']);
    // node-1's mesh dials again and, being the newer connection, replaces the raw one.
    const rawClosed = closeCodeOf(dialled.socket);
    assert.equal(await rawClosed, PeerCloseCode.replaced);
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the mesh link back');
  } finally {
    await stopAll([one, two]);
  }
});

test('send refuses messages over maxBufferedBytes while the peer does not read, and frames over maxPayloadBytes', async () => {
  // Checks backpressure: towards a peer that stopped reading, send() keeps returning true
  // until the bytes waiting would pass maxBufferedBytes, then false; nothing is queued
  // beyond the bound, and the refusals are counted. A frame over maxPayloadBytes is refused at once.
  const acceptor = await rawAcceptor('node-2', 'node-1', { answerPings: () => true, pauseReading: true });
  const own = await listen();
  const maxBufferedBytes = 2 * 1024 * 1024;
  const one = makeMember('node-1', own, [{ id: 'node-2', url: urlOf(acceptor.port) }], {
    heartbeatMs: 1000, deadAfterMs: 10_000, maxBufferedBytes, maxPayloadBytes: 1024 * 1024,
  });
  try {
    await waitFor(() => one.mesh.isUp('node-2'), 2000, 'the link up');
    const pad = 'x'.repeat(512 * 1024);
    let accepted = 0;
    let refused = false;
    // Loopback kernel buffers take some megabytes before anything waits in user space.
    for (let i = 0; i < 400 && !refused; i++) {
      if (one.mesh.send('node-2', { n: i, from: 'node-1', pad })) accepted++;
      else refused = true;
    }
    assert.ok(refused, `send never refused after ${accepted} messages of 512 KiB`);
    assert.ok(accepted > 0);
    assert.ok(one.mesh.links()['node-2']!.sendsRefused >= 1);
    assert.ok(one.logs.some((l) => l.event === 'mesh.send-refused'));
    assert.equal(one.mesh.isUp('node-2'), true, 'a full buffer does not by itself close the link');
    assert.equal(one.mesh.send('node-2', { n: -1, from: 'node-1', pad: 'y'.repeat(1024 * 1024) }), false, 'a frame over maxPayloadBytes');
    // Nothing is sent while down, and send() on a down link says so.
    await acceptor.stop();
    await waitFor(() => !one.mesh.isUp('node-2'), 2000, 'the link down');
    assert.equal(one.mesh.send('node-2', { n: 0, from: 'node-1' }), false);
    assert.deepEqual(one.mesh.broadcast({ n: 0, from: 'node-1' }), []);
  } finally {
    await stopAll([one]);
  }
});

test('cut closes a link and keeps it down until heal, on either side', async () => {
  // Checks the fault controls: cut on the dialling side stops its dials; cut on the
  // accepting side refuses the peer's dials with 503. Either way the link stays down while
  // cut (checked over several backoff periods) and comes back after heal.
  const [one, two] = (await startCluster(['node-1', 'node-2'])) as [Member, Member];
  try {
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up');

    one.mesh.cut('node-2');
    assert.equal(one.mesh.isUp('node-2'), false, 'cut takes effect at once');
    assert.deepEqual(one.mesh.links()['node-2']!.cut, true);
    await waitFor(() => !two.mesh.isUp('node-1'), 1000, 'node-2 to see the cut');
    assert.match(two.events.at(-1)!, /4503/);
    await hold(fastTimers.backoff.maxMs * 2);
    assert.equal(one.mesh.links()['node-2']!.state, 'down');
    assert.equal(two.mesh.isUp('node-1'), false);
    assert.equal(one.mesh.send('node-2', { n: 1, from: 'node-1' }), false);
    one.mesh.heal('node-2');
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 1000, 'the link back after heal on the dialler');

    two.mesh.cut('node-1');
    await waitFor(() => !one.mesh.isUp('node-2'), 1000, 'node-1 to see the cut');
    await waitFor(() => one.mesh.links()['node-2']!.lastError === 'refused with 503', 1000, 'a 503 refusal');
    await hold(fastTimers.backoff.maxMs * 2);
    assert.equal(two.mesh.isUp('node-1'), false);
    assert.ok(two.logs.some((l) => l.event === 'mesh.refused' && l.fields.status === 503));
    two.mesh.heal('node-1');
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), fastTimers.backoff.maxMs + 1000, 'the link back after heal on the acceptor');
    assert.equal(one.mesh.send('node-2', { n: 2, from: 'node-1' }), true);
    await waitFor(() => two.received.some((e) => e.message.n === 2), 1000, 'a message after heal');
  } finally {
    await stopAll([one, two]);
  }
});

test('a stall of our own event loop does not drop every link', async () => {
  // Checks the stall guard: the process blocks for twice deadAfterMs (as in a long GC or a
  // SIGSTOP); afterwards the heartbeat sees the gap, logs mesh.stall and keeps the links.
  const [one, two] = (await startCluster(['node-1', 'node-2'])) as [Member, Member];
  try {
    await waitFor(() => one.mesh.isUp('node-2') && two.mesh.isUp('node-1'), 2000, 'the link up');
    const blockUntilMs = performance.now() + fastTimers.deadAfterMs * 2;
    while (performance.now() < blockUntilMs) { /* block the event loop on purpose */ }
    await waitFor(() => one.logs.some((l) => l.event === 'mesh.stall'), 1000, 'the stall to be seen');
    await hold(fastTimers.heartbeatMs * 3);
    assert.equal(one.mesh.isUp('node-2'), true);
    assert.equal(two.mesh.isUp('node-1'), true);
    assert.deepEqual(one.events, ['up node-2']);
  } finally {
    await stopAll([one, two]);
  }
});

test('the fastify wiring in docs/PEER-LINKS.md works: preValidation authenticates, the handler accepts', async () => {
  // Checks the recipe the lead will use: @fastify/websocket route /peer with a
  // preValidation hook calling authenticate(), a websocket handler calling accept(), and
  // the headers hook for the proof. A mesh dials it and messages flow; a wrong secret gets 401.
  const app = Fastify({ logger: false });
  await app.register(fastifyWebsocket, { options: { maxPayload: 4 * 1024 * 1024, perMessageDeflate: false } });
  const logs: LogLine[] = [];
  const received: TestMessage[] = [];
  const mesh = new PeerMesh<TestMessage>({
    selfId: 'node-2', peers: [{ id: 'node-1', url: '' }], secret, protocolVersion, parse: parseTestMessage,
    log: (event, fields) => logs.push({ event, fields }), ...fastTimers,
  });
  mesh.on('message', (_peer, message) => received.push(message));
  app.websocketServer.on('headers', (headers, request) => headers.push(...mesh.upgradeResponseHeaders(request)));
  app.get('/peer', {
    websocket: true,
    preValidation: async (request, reply) => {
      const auth = mesh.authenticate(request.headers, request.ip);
      if (!auth.ok) {
        return reply.code(auth.status).header('x-olympix-protocol', String(mesh.protocolVersion)).send({ error: auth.reason });
      }
      return undefined;
    },
  }, (socket, request) => {
    // Synchronous: accept() attaches the listeners before anything else runs.
    const auth = mesh.authenticate(request.headers, request.ip);
    if (auth.ok) mesh.accept(socket, auth.member);
    else socket.close(PeerCloseCode.goingAway, 'refused');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  mesh.start();
  const one = makeMember('node-1', await listen(), [{ id: 'node-2', url: urlOf(port) }]);
  try {
    await waitFor(() => one.mesh.isUp('node-2') && mesh.isUp('node-1'), 2000, 'the link up through fastify');
    assert.equal(one.mesh.send('node-2', { n: 1, from: 'node-1' }), true);
    assert.equal(mesh.send('node-1', { n: 2, from: 'node-2' }), true);
    await waitFor(() => received.length === 1 && one.received.length === 1, 1000, 'messages both ways');
    assert.deepEqual(await rawDial(urlOf(port), peerHeaders('node-1', { authorization: 'Bearer not-the-secret-not-the-secret' })), { status: 401 });
    assert.ok(logs.some((l) => l.event === 'mesh.refused' && l.fields.status === 401));
    assert.deepEqual(await rawDial(urlOf(port), peerHeaders('node-1', { 'x-olympix-protocol': '1' })), { status: 426 });
  } finally {
    await stopAll([one]);
    await mesh.close();
    await app.close();
  }
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { medalTopic, scoreTopic, type Change } from '../../shared/board.js';
import { CloseCode, type ServerMessage } from '../../shared/client-protocol.js';
import { ClusterHarness, waitFor } from '../support/cluster-harness.js';
import { TestClient } from '../support/ws-client.js';

// The live scoreboard end to end, on real processes on loopback: store, dispatcher and
// three nodes, started exactly as `npm start` starts them.

const ALL_TOPICS = [medalTopic('Gaul'), medalTopic('Rome'), scoreTopic('Stone Curling'), scoreTopic('Stone Skating'), scoreTopic('Luge')];

async function storeSeq(cluster: ClusterHarness): Promise<number> {
  const health = await cluster.get('store', '/api/health');
  return health.body.seq as number;
}

async function subscribed(url: string, topics = ALL_TOPICS, resume?: { epoch: string; seq: number }): Promise<TestClient> {
  const client = await TestClient.connect(url);
  await client.next((message) => message.type === 'welcome');
  client.send({ type: 'subscribe', topics, ...(resume ? { resume } : {}) });
  await client.next((message) => message.type === 'subscribed');
  return client;
}

describe('scoreboard on a real cluster', () => {
  let cluster: ClusterHarness;

  before(async () => {
    cluster = await ClusterHarness.start({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a write reaches every subscribed client on every node, in sequence order', async () => {
    // Two clients per node subscribe to everything; 30 writes go through the three
    // nodes in turn; every client must see all 30 changes, in increasing seq, once.
    const clients = await Promise.all(cluster.nodes.flatMap((node) => [subscribed(node.ws), subscribed(node.ws)]));
    const seqs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const node = cluster.nodes[i % 3]!.id;
      const result =
        i % 2 === 0
          ? await cluster.write(node, '/api/medals/Gaul', { medal: 'bronze' })
          : await cluster.write(node, `/api/scores/${encodeURIComponent('Luge')}`, { scores: { Gaul: i, Rome: i + 0.5 } });
      assert.equal(result.status, 200, JSON.stringify(result.body));
      seqs.push(result.body.seq as number);
    }
    for (const client of clients) {
      await client.next((message) => message.type === 'change' && message.change.seq === seqs.at(-1));
      const received = client.changes().map((change) => change.seq);
      assert.deepEqual(received, seqs, 'every change once, in order');
      client.close();
    }
  });

  test('1,000 concurrent medal awards through different nodes leave exactly the right tallies', async () => {
    // The seed's database test: many writers at once, through all nodes; the store
    // serialises them and every node converges on the same exact counts.
    const before = (await cluster.get('node-1', '/api/medals/Rome')).body.medals as Record<string, { value: number }>;
    const awards = Array.from({ length: 1000 }, (_, i) => ({ node: cluster.nodes[i % 3]!.id, medal: (['gold', 'silver', 'bronze'] as const)[i % 3]! }));
    const results = await Promise.all(awards.map((award) => cluster.write(award.node, '/api/medals/Rome', { medal: award.medal })));
    assert.ok(results.every((result) => result.status === 200), 'every award accepted');
    const seqs = new Set(results.map((result) => result.body.seq));
    assert.equal(seqs.size, 1000, 'each award its own sequence number');
    const expected = { gold: before.gold!.value + 334, silver: before.silver!.value + 333, bronze: before.bronze!.value + 333 };
    const store = (await cluster.get('store', '/api/state')).body as { data: { medals: Record<string, Record<string, { value: number }>> } };
    assert.deepEqual(
      Object.fromEntries(Object.entries(store.data.medals.Rome!).map(([medal, stamped]) => [medal, stamped.value])),
      expected,
    );
    const target = await storeSeq(cluster);
    for (const node of cluster.nodes) {
      await waitFor(async () => (await cluster.get(node.id, '/api/health')).body.seq === target, 10_000, `${node.id} to catch up`);
      const tally = (await cluster.get(node.id, '/api/medals/Rome')).body.medals as Record<string, { value: number }>;
      assert.deepEqual({ gold: tally.gold!.value, silver: tally.silver!.value, bronze: tally.bronze!.value }, expected, node.id);
    }
  });

  test('new clients spread evenly over the nodes', async () => {
    // The seed's load-balancing test: 30 pages ask the dispatcher and connect; each node
    // must end up with 10, give or take one.
    const clients: TestClient[] = [];
    const perNode: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const assignment = (await (await fetch(`${cluster.dispatcherUrl}/api/assign`)).json()) as { node: string; ws: string };
      perNode[assignment.node] = (perNode[assignment.node] ?? 0) + 1;
      clients.push(await subscribed(assignment.ws));
    }
    for (const node of cluster.nodes) {
      assert.ok(Math.abs((perNode[node.id] ?? 0) - 10) <= 1, `${node.id} got ${perNode[node.id]} of 30: ${JSON.stringify(perNode)}`);
    }
    for (const client of clients) client.close();
  });

  test('a node is SIGKILLed: its clients resume on another node and miss nothing', async () => {
    // A client on node-2 knows its position; node-2 dies; writes go on through the
    // others; the client asks the dispatcher for another node (excluding node-2) and
    // resumes from its position: it gets exactly the changes it missed, none twice.
    const client = await subscribed(cluster.nodes[1]!.ws);
    await cluster.write('node-1', '/api/medals/Gaul', { medal: 'gold' });
    const seen = await client.next((message) => message.type === 'change');
    const welcome = client.messages.find((message) => message.type === 'welcome') as Extract<ServerMessage, { type: 'welcome' }>;
    await cluster.kill('node-2');
    await client.waitClosed();
    const missed: Change[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await cluster.write(i % 2 === 0 ? 'node-1' : 'node-3', '/api/medals/Gaul', { medal: 'silver' });
      assert.equal(result.status, 200);
      missed.push(result.body.change as Change);
    }
    const assignment = (await (await fetch(`${cluster.dispatcherUrl}/api/assign?exclude=node-2`)).json()) as { node: string; ws: string };
    assert.notEqual(assignment.node, 'node-2');
    const position = (seen as Extract<ServerMessage, { type: 'change' }>).change.seq;
    const resumed = await subscribed(assignment.ws, ALL_TOPICS, { epoch: welcome.epoch, seq: position });
    const ack = resumed.messages.find((message) => message.type === 'subscribed') as Extract<ServerMessage, { type: 'subscribed' }>;
    assert.equal(ack.mode, 'resumed');
    await resumed.next((message) => message.type === 'change' && message.change.seq === missed.at(-1)!.seq);
    assert.deepEqual(resumed.changes().map((change) => change.seq), missed.map((change) => change.seq));
    resumed.close();
    await cluster.restart('node-2');
  });

  test('the store is SIGKILLed right after an acknowledged write: the write survives the restart', async () => {
    const result = await cluster.write('node-3', `/api/scores/${encodeURIComponent('Stone Skating')}`, { scores: { Rome: 42.25 } });
    assert.equal(result.status, 200);
    const seq = result.body.seq as number;
    await cluster.kill('store');
    // While the store is down, writes are refused with 503 and nothing is lost or invented.
    const refused = await cluster.write('node-1', '/api/medals/Gaul', { medal: 'gold' });
    assert.equal(refused.status, 503);
    await cluster.restart('store');
    const state = (await cluster.get('store', '/api/state')).body as { seq: number; data: { scores: Record<string, Record<string, { value: number }>> } };
    assert.equal(state.seq, seq);
    assert.equal(state.data.scores['Stone Skating']!.Rome!.value, 42.25);
    // The nodes reconnect and accept writes again.
    await waitFor(async () => (await cluster.write('node-1', '/api/medals/Gaul', { medal: 'gold' })).status === 200, 15_000, 'writes to work again');
  });

  test('bad HTTP input gets a clear error and changes nothing', async () => {
    const seqBefore = await storeSeq(cluster);
    const cases: Array<[string, string, unknown, string | null, number, RegExp]> = [
      ['no token', '/api/medals/Gaul', { medal: 'gold' }, null, 401, /token/],
      ['wrong token', '/api/medals/Gaul', { medal: 'gold' }, 'not-the-right-token-at-all', 403, /wrong write token/],
      ['unknown team', '/api/medals/Atlantis', { medal: 'gold' }, cluster.token, 404, /Atlantis/],
      ['unknown event', '/api/scores/Chariot%20Race', { scores: { Gaul: 1 } }, cluster.token, 404, /Chariot Race/],
      ['unknown team in scores', '/api/scores/Luge', { scores: { Gaul: 1, Atlantis: 2 } }, cluster.token, 404, /Atlantis/],
      ['bad medal', '/api/medals/Gaul', { medal: 'tin' }, cluster.token, 400, /medal must be one of gold, silver, bronze/],
      ['extra field', '/api/medals/Gaul', { medal: 'gold', points: 3 }, cluster.token, 400, /points/],
      ['delta zero', '/api/medals/Gaul', { medal: 'gold', delta: 0 }, cluster.token, 400, /delta/],
      ['score not a number', '/api/scores/Luge', { scores: { Gaul: 'fast' } }, cluster.token, 400, /scores\/Gaul/],
      ['no scores', '/api/scores/Luge', { scores: {} }, cluster.token, 400, /scores/],
      ['take back too many', '/api/medals/Gaul', { medal: 'bronze', delta: -100 }, cluster.token, 409, /cannot take back/],
    ];
    for (const [name, path, body, token, status, message] of cases) {
      const result = await cluster.write('node-1', path, body, token);
      assert.equal(result.status, status, `${name}: ${JSON.stringify(result.body)}`);
      assert.match(String(result.body.message), message, name);
      assert.equal(typeof result.body.code, 'string', name);
    }
    const raw = async (init: RequestInit) => (await fetch(`${cluster.nodes[0]!.http}/api/medals/Gaul`, { method: 'POST', ...init })).status;
    const auth = { authorization: `Bearer ${cluster.token}` };
    assert.equal(await raw({ headers: { ...auth, 'content-type': 'application/json' }, body: '{"medal":' }), 400, 'malformed JSON');
    assert.equal(await raw({ headers: { ...auth, 'content-type': 'text/plain' }, body: 'gold' }), 415, 'not JSON');
    assert.equal(await raw({ headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ medal: 'gold', pad: 'x'.repeat(20_000) }) }), 413, 'too large');
    assert.equal(await raw({ headers: { ...auth, 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{"medal":"gold"}' }), 403, 'foreign origin');
    assert.equal(await storeSeq(cluster), seqBefore, 'nothing was written');
  });

  test('bad WebSocket input gets an error message or a close code, never a crash', async () => {
    const client = await TestClient.connect(cluster.nodes[0]!.ws);
    await client.next((message) => message.type === 'welcome');
    const errorAfter = async (payload: string, code: string) => {
      const from = client.messages.length;
      client.send(payload);
      const error = await client.next((message) => message.type === 'error', 5000, from);
      assert.equal((error as Extract<ServerMessage, { type: 'error' }>).code, code, payload);
    };
    await errorAfter('{not json', 'OLX_BAD_JSON');
    await errorAfter(JSON.stringify({ type: 'subscribe', topics: 'all' }), 'OLX_BAD_MESSAGE');
    await errorAfter(JSON.stringify({ type: 'teleport' }), 'OLX_BAD_MESSAGE');
    await errorAfter(JSON.stringify({ type: 'subscribe', topics: ['medals:Atlantis'] }), 'OLX_UNKNOWN_TOPIC');
    await errorAfter(JSON.stringify({ type: 'hello', protocol: 99, client: 'abc' }), 'OLX_PROTOCOL');
    // Still usable after errors.
    client.send({ type: 'ping', id: 7 });
    await client.next((message) => message.type === 'pong' && message.id === 7);
    // Many invalid messages: closed with 4400.
    for (let i = 0; i < 12; i++) client.send('garbage');
    assert.equal((await client.waitClosed()).code, CloseCode.invalidMessage);
    // An oversized frame: closed by ws with 1009 (message too big).
    const big = await TestClient.connect(cluster.nodes[0]!.ws);
    big.send('x'.repeat(64 * 1024));
    assert.equal((await big.waitClosed()).code, 1009);
    // A page from a foreign origin cannot open a WebSocket.
    await assert.rejects(TestClient.connect(cluster.nodes[0]!.ws, { origin: 'http://evil.example' }), /403/);
    // The node still serves.
    assert.equal((await cluster.get('node-1', '/api/health')).status, 200);
  });

  test('bad command-line flags get a clear error and exit code 2', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
    const secret = { OLYMPIX_CLUSTER_SECRET: 'a-cluster-secret-long-enough', OLYMPIX_WRITE_TOKEN: 'a-write-token-long-enough' };
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['node', '--id', 'node-1', '--port', 'abc', '--peer', 'store=http://127.0.0.1:1'], secret, /--port must be a whole number/],
      [['node', '--port', '4011'], secret, /--id is required/],
      [['node', '--id', 'node-1', '--peer', 'store=http://127.0.0.1:1'], {}, /OLYMPIX_WRITE_TOKEN/],
      [['store', '--bogus'], secret, /bogus/],
      [['dispatcher'], {}, /--node is required/],
      [['cluster', '--nodes', '0'], {}, /--nodes must be between 1 and 9/],
      [['teleport'], {}, /unknown role/],
    ];
    for (const [args, env, message] of cases) {
      const result = run(args, env);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
    const help = run(['node', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--peer ID=URL/);
  });
});

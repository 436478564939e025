// Checks the cluster supervisor's fault controls and the dispatcher's proxy to them,
// without spawning anything: the control server is given fake processes that record
// what was asked of them and a fake fetch standing in for the members' own control
// routes; the proxy test puts a real dispatcher in front of a listening control server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildControlServer, type ControlledProcess } from '../../server/cluster/control-server.js';
import type { ProcessSpec } from '../../server/cluster/topology.js';
import { buildDispatcher, type Dispatcher } from '../../server/dispatcher/dispatcher-app.js';
import { silentLog } from '../../server/log.js';

const TOKEN = 'control-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

class FakeProcess implements ControlledProcess {
  running = true;
  held = false;
  restarts = 0;
  pid: number | undefined;
  readonly calls: string[] = [];
  constructor(
    readonly spec: ProcessSpec,
    pid: number,
  ) {
    this.pid = pid;
  }
  get uptimeMs(): number | null {
    return this.running ? 1234 : null;
  }
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.calls.push(`kill:${signal}`);
    this.running = false;
    this.held = true;
    this.pid = undefined;
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
    this.running = false;
    this.held = true;
    this.pid = undefined;
  }
  startAgain(): void {
    this.calls.push('start');
    this.running = true;
    this.held = false;
    this.restarts += 1;
    this.pid = 9000 + this.restarts;
  }
}

function spec(name: string, role: ProcessSpec['role'], port: number): ProcessSpec {
  return { name, role, port, url: `http://127.0.0.1:${port}`, args: [] };
}

function fakeCluster(): Map<string, FakeProcess> {
  return new Map([
    ['store', new FakeProcess(spec('store', 'store', 4010), 101)],
    ['node-1', new FakeProcess(spec('node-1', 'node', 4011), 102)],
    ['dispatcher', new FakeProcess(spec('dispatcher', 'dispatcher', 4000), 100)],
  ]);
}

describe('control server', () => {
  let processes: Map<string, FakeProcess>;
  let forwarded: Array<{ url: string; authorization: string | null; body: unknown }>;
  let app: FastifyInstance;
  let memberAnswers = true;

  before(async () => {
    processes = fakeCluster();
    forwarded = [];
    const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
      if (!memberAnswers) throw new Error('connect ECONNREFUSED');
      const headers = new Headers(init?.headers);
      const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
      forwarded.push({ url: String(url), authorization: headers.get('authorization'), body });
      if (typeof body.deltaMs === 'number' && Math.abs(body.deltaMs) > 60_000) {
        return new Response(JSON.stringify({ statusCode: 400, error: 'Bad Request', code: 'OLX_BAD_BODY', message: 'too far' }), { status: 400 });
      }
      return new Response(JSON.stringify({ ok: true, ...body }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof globalThis.fetch;
    app = await buildControlServer({ processes, token: TOKEN, log: silentLog, fetch });
  });

  after(async () => {
    await app.close();
  });

  test('every route needs the token, compared in full', async () => {
    const missing = await app.inject({ method: 'GET', url: '/api/control/processes' });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().code, 'OLX_MISSING_TOKEN');
    const wrong = await app.inject({ method: 'POST', url: '/api/control/stop', headers: { authorization: `Bearer ${TOKEN}x` }, payload: { member: 'store' } });
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().code, 'OLX_WRONG_TOKEN');
    assert.deepEqual(processes.get('store')!.calls, []);
  });

  test('lists every process with its role, pid, state and restarts', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/control/processes', headers: AUTH });
    assert.equal(response.statusCode, 200);
    const list = response.json() as Array<Record<string, unknown>>;
    assert.deepEqual(list.map((entry) => [entry.name, entry.role, entry.pid, entry.running, entry.state, entry.restarts]), [
      ['store', 'store', 101, true, 'running', 0],
      ['node-1', 'node', 102, true, 'running', 0],
      ['dispatcher', 'dispatcher', 100, true, 'running', 0],
    ]);
    assert.equal(list[0]!.url, 'http://127.0.0.1:4010');
  });

  test('stop kills with SIGKILL and the process stays stopped until started', async () => {
    const stop = await app.inject({ method: 'POST', url: '/api/control/stop', headers: AUTH, payload: { member: 'node-1' } });
    assert.equal(stop.statusCode, 200);
    assert.equal(stop.json().stoppedPid, 102);
    assert.equal(stop.json().process.state, 'stopped');
    assert.deepEqual(processes.get('node-1')!.calls, ['kill:SIGKILL']);
    const again = await app.inject({ method: 'POST', url: '/api/control/stop', headers: AUTH, payload: { member: 'node-1' } });
    assert.equal(again.statusCode, 409);
    // A stopped member has no control route to forward to.
    const cut = await app.inject({ method: 'POST', url: '/api/control/partition', headers: AUTH, payload: { member: 'node-1', cut: true } });
    assert.equal(cut.statusCode, 409);
    assert.match(cut.json().message, /node-1 is not running/);
    const start = await app.inject({ method: 'POST', url: '/api/control/start', headers: AUTH, payload: { member: 'node-1' } });
    assert.equal(start.statusCode, 200);
    assert.equal(start.json().process.state, 'running');
    assert.equal(start.json().process.restarts, 1);
    const twice = await app.inject({ method: 'POST', url: '/api/control/start', headers: AUTH, payload: { member: 'node-1' } });
    assert.equal(twice.statusCode, 409);
    assert.match(twice.json().message, /running already/);
  });

  test('restart stops gracefully and starts again', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/control/restart', headers: AUTH, payload: { member: 'store' } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.json().stoppedPid, 101);
    assert.deepEqual(processes.get('store')!.calls, ['stop', 'start']);
  });

  test('an unknown member is a 404 that names it; a bad body a 400 that names the field', async () => {
    const unknown = await app.inject({ method: 'POST', url: '/api/control/stop', headers: AUTH, payload: { member: 'node-9' } });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json().message, /"node-9"/);
    const bad = await app.inject({ method: 'POST', url: '/api/control/partition', headers: AUTH, payload: { member: 'store', cut: 'yes' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'OLX_BAD_BODY');
    assert.match(bad.json().message, /cut/);
    const extra = await app.inject({ method: 'POST', url: '/api/control/stop', headers: AUTH, payload: { member: 'store', force: true } });
    assert.equal(extra.statusCode, 400);
    const far = await app.inject({ method: 'POST', url: '/api/control/clock-skew', headers: AUTH, payload: { member: 'store', deltaMs: 60_001 } });
    assert.equal(far.statusCode, 400);
  });

  test('partition and clock skew are forwarded to the member with the token, and its answer comes back', async () => {
    forwarded.length = 0;
    const cut = await app.inject({ method: 'POST', url: '/api/control/partition', headers: AUTH, payload: { member: 'node-1', cut: true } });
    assert.equal(cut.statusCode, 200);
    assert.deepEqual(cut.json(), { member: 'node-1', ok: true, cut: true });
    const skew = await app.inject({ method: 'POST', url: '/api/control/clock-skew', headers: AUTH, payload: { member: 'store', deltaMs: -100 } });
    assert.equal(skew.statusCode, 200);
    assert.deepEqual(forwarded, [
      { url: 'http://127.0.0.1:4011/api/control/partition', authorization: `Bearer ${TOKEN}`, body: { cut: true } },
      { url: 'http://127.0.0.1:4010/api/control/clock-skew', authorization: `Bearer ${TOKEN}`, body: { deltaMs: -100 } },
    ]);
    const dispatcher = await app.inject({ method: 'POST', url: '/api/control/partition', headers: AUTH, payload: { member: 'dispatcher', cut: true } });
    assert.equal(dispatcher.statusCode, 409);
  });

  test('a member that does not answer is a 502 in the usual error shape', async () => {
    memberAnswers = false;
    try {
      const response = await app.inject({ method: 'POST', url: '/api/control/clock-skew', headers: AUTH, payload: { member: 'node-1', deltaMs: 100 } });
      assert.equal(response.statusCode, 502);
      assert.deepEqual(Object.keys(response.json()).sort(), ['code', 'error', 'message', 'statusCode']);
      assert.equal(response.json().code, 'OLX_MEMBER_UNREACHABLE');
      assert.match(response.json().message, /node-1 did not answer/);
    } finally {
      memberAnswers = true;
    }
  });
});

describe('dispatcher control proxy', () => {
  let control: FastifyInstance;
  let controlUrl: string;
  let withControl: Dispatcher;
  let without: Dispatcher;
  let unreachable: Dispatcher;
  const nodes = [{ id: 'node-1', url: 'http://127.0.0.1:1' }];
  const fetchHealth = async () => ({ clients: 0, ready: true });

  before(async () => {
    control = await buildControlServer({ processes: fakeCluster(), token: TOKEN, log: silentLog });
    await control.listen({ host: '127.0.0.1', port: 0 });
    const address = control.server.address();
    controlUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    withControl = await buildDispatcher({ config: { host: '127.0.0.1', port: 0, nodes, control: controlUrl }, log: silentLog, fetchHealth });
    without = await buildDispatcher({ config: { host: '127.0.0.1', port: 0, nodes, control: null }, log: silentLog, fetchHealth });
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    unreachable = await buildDispatcher({ config: { host: '127.0.0.1', port: 0, nodes, control: 'http://127.0.0.1:1' }, log: silentLog, fetchHealth });
  });

  after(async () => {
    await Promise.all([withControl.close(), without.close(), unreachable.close(), control.close()]);
  });

  test('passes GET and POST through with the token, and the answer back', async () => {
    const list = await withControl.app.inject({ method: 'GET', url: '/api/control/processes', headers: AUTH });
    assert.equal(list.statusCode, 200);
    assert.equal((list.json() as unknown[]).length, 3);
    const stop = await withControl.app.inject({ method: 'POST', url: '/api/control/stop', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"member":"node-1"}' });
    assert.equal(stop.statusCode, 200);
    assert.equal(stop.json().member, 'node-1');
  });

  test("passes the supervisor's refusals back as they are", async () => {
    const noToken = await withControl.app.inject({ method: 'GET', url: '/api/control/processes' });
    assert.equal(noToken.statusCode, 401);
    assert.equal(noToken.json().code, 'OLX_MISSING_TOKEN');
    const unknown = await withControl.app.inject({ method: 'POST', url: '/api/control/start', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"member":"nobody"}' });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json().message, /"nobody"/);
    const notJson = await withControl.app.inject({ method: 'POST', url: '/api/control/start', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{member' });
    assert.equal(notJson.statusCode, 400);
  });

  test('answers 503 OLX_NO_CONTROL without a supervisor and 502 when it does not answer', async () => {
    const none = await without.app.inject({ method: 'POST', url: '/api/control/stop', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"member":"node-1"}' });
    assert.equal(none.statusCode, 503);
    assert.equal(none.json().code, 'OLX_NO_CONTROL');
    const gone = await unreachable.app.inject({ method: 'GET', url: '/api/control/processes', headers: AUTH });
    assert.equal(gone.statusCode, 502);
    assert.equal(gone.json().code, 'OLX_CONTROL_UNREACHABLE');
    assert.equal(gone.json().error, 'Bad Gateway');
  });
});

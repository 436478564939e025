import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { buildDispatcher, type Dispatcher } from '../../server/dispatcher/dispatcher-app.js';

// The dispatcher proxies /api/control/* to the cluster supervisor, and to nothing
// else: an absolute-form request line naming another host, or a path that normalises
// out of /api/control/, must never make it fetch anything but the supervisor.

function listen(handler: (url: string) => void): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer((request, response) => {
      handler(request.url ?? '');
      response.setHeader('content-type', 'application/json');
      response.end('{"ok":true}');
    });
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
    });
  });
}

/** Sends a raw request line (fetch cannot send an absolute-form target) and returns the status. */
function rawRequest(port: number, line: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${line}\r\nHost: dispatcher\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (chunk) => (text += String(chunk)));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

describe('the dispatcher control proxy', () => {
  const supervisorHits: string[] = [];
  const elsewhereHits: string[] = [];
  let supervisor: { server: Server; url: string };
  let elsewhere: { server: Server; url: string };
  let dispatcher: Dispatcher;
  let port = 0;

  before(async () => {
    supervisor = await listen((url) => supervisorHits.push(url));
    elsewhere = await listen((url) => elsewhereHits.push(url));
    dispatcher = await buildDispatcher({
      config: { host: '127.0.0.1', port: 0, nodes: [], control: supervisor.url },
      log: () => {},
      fetchHealth: async () => ({ clients: 0, ready: false }),
    });
    await dispatcher.app.listen({ host: '127.0.0.1', port: 0 });
    const address = dispatcher.app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  after(async () => {
    await dispatcher.close();
    supervisor.server.close();
    elsewhere.server.close();
  });

  test('a control request goes to the supervisor, with its path and query', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/api/control/processes?x=1`);
    assert.equal(response.status, 200);
    assert.deepEqual(supervisorHits.splice(0), ['/api/control/processes?x=1']);
  });

  test('an absolute-form request line naming another host is sent to the supervisor or refused, never to that host', async () => {
    const status = await rawRequest(port, `GET ${elsewhere.url}/api/control/processes HTTP/1.1`);
    assert.ok(status === 200 || status === 404 || status === 400, `status ${status}`);
    assert.deepEqual(elsewhereHits, [], 'nothing reached the other host');
  });

  test('a path that normalises out of /api/control/ is not forwarded', async () => {
    const status = await rawRequest(port, 'GET /api/control/../../secret HTTP/1.1');
    assert.notEqual(status, 200);
    assert.ok(!supervisorHits.some((url) => url.includes('secret')));
    assert.deepEqual(elsewhereHits, []);
  });
});

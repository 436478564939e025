import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { WebSocketServer, type WebSocket } from 'ws';
import { emptyTally } from '../shared/board.js';
import { buildNodeApp } from '../server/node/node-app.js';
import { heapByConstructor, type HeapTotals } from './lib/heap-snapshot.js';

// Helper of bench/memory.ts, started with --expose-gc: one server (an olympix node's
// HTTP and WebSocket face, with a store that answers nothing, or a bare ws server that
// keeps a topic set per socket as the fan-out reference does), measured idle and with
// N subscribed connections after GC. Reports to its parent over IPC.

type Kind = 'olympix' | 'ws';
const [kind, countText, snapshotsText] = process.argv.slice(2) as [Kind, string, string];
const count = Number(countText);
const gc = (globalThis as { gc?: () => void }).gc;
if (!process.send || !gc || (kind !== 'olympix' && kind !== 'ws') || !Number.isInteger(count)) {
  process.stderr.write('bench/memory-server.ts is started by bench/memory.ts (with --expose-gc)\n');
  process.exit(2);
}
const snapshots = snapshotsText === 'snapshots';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function settled(): Promise<{ heapBytes: number; rssBytes: number; heap: HeapTotals | null }> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await sleep(200);
  }
  const usage = process.memoryUsage();
  return { heapBytes: usage.heapUsed, rssBytes: usage.rss, heap: snapshots ? heapByConstructor(writeHeapSnapshot()) : null };
}

async function start(): Promise<{ url: string; confirm: string }> {
  if (kind === 'ws') {
    const server = createServer();
    const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 });
    const subscribers = new Map<string, Set<WebSocket>>();
    wss.on('connection', (socket: WebSocket) => {
      const topics = new Set<string>();
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { topics: string[]; id?: number };
        for (const topic of message.topics) {
          topics.add(topic);
          let set = subscribers.get(topic);
          if (!set) subscribers.set(topic, (set = new Set()));
          set.add(socket);
        }
        socket.send(JSON.stringify({ type: 'subscribed', id: message.id }));
      });
      socket.on('close', () => {
        for (const topic of topics) subscribers.get(topic)?.delete(socket);
      });
      socket.on('error', () => socket.terminate());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`, confirm: 'subscribed' };
  }
  const node = await buildNodeApp({
    id: 'node-1',
    incarnation: 'bench',
    token: 'x'.repeat(32),
    log: () => {},
    now: () => Date.now(),
    monotonicMs: () => performance.now(),
    sendToStore: () => true,
    allowedOrigins: new Set(['*']),
    clientsPerAddressMax: 1_000_000,
  });
  await node.app.ready();
  node.storeClient.linkOpened();
  const never = () => ({ value: 0, updatedAt: null });
  node.storeClient.receive({
    type: 'store.snapshot',
    epoch: 'bench',
    seq: 0,
    catalog: { teams: ['Gaul', 'Rome'], events: ['Luge'] },
    data: { medals: { Gaul: emptyTally(), Rome: emptyTally() }, scores: { Luge: { Gaul: never(), Rome: never() } } },
  });
  node.storeClient.receive({ type: 'store.changes', epoch: 'bench', changes: [], live: true });
  const address = await node.app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `${address.replace(/^http/, 'ws')}/ws`, confirm: 'snapshot' };
}

const { url, confirm } = await start();
const idle = await settled();
const client = fork(fileURLToPath(new URL('./memory-client.ts', import.meta.url)), [url, String(count), confirm], { execArgv: ['--import', 'tsx'] });
await new Promise<void>((resolve, reject) => {
  client.once('message', () => resolve());
  client.once('exit', (code) => reject(new Error(`the client exited with ${code} before connecting`)));
});
await sleep(500);
const loaded = await settled();
client.kill('SIGKILL');
// Exit only once the report has left: process.send is asynchronous.
process.send!({ type: 'measured', kind, count, idle, loaded }, () => process.exit(0));

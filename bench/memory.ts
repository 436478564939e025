import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { growthPerConnection, type HeapTotals } from './lib/heap-snapshot.js';
import { renderTable } from './lib/table.js';

// npm run bench -- memory [--connections N] [--snapshots]: what one subscribed
// WebSocket costs an olympix node (its HTTP and WebSocket face: fastify,
// @fastify/websocket, the client hub; no peers) against a bare ws server that keeps a
// topic set per socket, each in its own process, measured idle and with N
// connections after GC. --snapshots also diffs heap snapshots by constructor: where
// each connection's bytes are. RSS here includes V8's young generation growing under
// the connections' garbage; the fan-out bench measures RSS with the nodes' own flags.

interface Measurement {
  heapBytes: number;
  rssBytes: number;
  heap: HeapTotals | null;
}
interface Measured {
  type: 'measured';
  kind: string;
  count: number;
  idle: Measurement;
  loaded: Measurement;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./memory-server.ts', import.meta.url));

function measure(kind: 'olympix' | 'ws', connections: number, snapshots: boolean): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = fork(SERVER_SCRIPT, [kind, String(connections), snapshots ? 'snapshots' : 'no'], { execArgv: ['--expose-gc', '--import', 'tsx'] });
    child.once('message', (message: Measured) => resolve(message));
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited with ${code} before it measured`)));
  });
}

export async function run(args: string[]): Promise<void> {
  let connections = 3000;
  let snapshots = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--connections') {
      connections = Number(args[++i]);
      if (!Number.isInteger(connections) || connections < 100 || connections > 15_000) throw new Error('--connections must be a whole number from 100 to 15000');
    } else if (args[i] === '--snapshots') snapshots = true;
    else if (args[i] === '--help' || args[i] === '-h') {
      process.stdout.write('npm run bench -- memory [--connections N (default 3000)] [--snapshots]\n');
      return;
    } else throw new Error(`unknown flag "${args[i]}" (see --help)`);
  }
  const results: Measured[] = [];
  for (const kind of ['olympix', 'ws'] as const) results.push(await measure(kind, connections, snapshots));
  const kb = (bytes: number) => bytes / 1024 / connections;
  // Writing and reading a snapshot grows the process by far more than the connections: no RSS then.
  const rows = results.map((result) => [result.kind === 'ws' ? 'bare ws' : 'olympix node', kb(result.loaded.heapBytes - result.idle.heapBytes), snapshots ? Number.NaN : kb(result.loaded.rssBytes - result.idle.rssBytes)] as [string, number, number]);
  process.stdout.write(`memory: ${connections} subscribed WebSockets per server, after GC\n\n`);
  process.stdout.write(renderTable(['server', 'heap KB/conn', 'RSS KB/conn'], rows) + '\n');
  if (snapshots) {
    for (const result of results) {
      const growth = growthPerConnection(result.idle.heap!, result.loaded.heap!, connections).filter((row) => row.bytes >= 24);
      process.stdout.write(`\n${result.kind}: heap growth per connection by kind (bytes, objects)\n`);
      process.stdout.write(renderTable(['kind', 'bytes', 'objects'], growth.slice(0, 16).map((row) => [row.key, Math.round(row.bytes), Number(row.count.toFixed(2))])) + '\n');
    }
  }
  const [olympix, ws] = rows;
  process.stdout.write(
    JSON.stringify({ bench: 'memory', connections, heap_kb_per_conn: round(olympix![1]), ws_heap_kb_per_conn: round(ws![1]), rss_kb_per_conn: snapshots ? null : round(olympix![2]), ws_rss_kb_per_conn: snapshots ? null : round(ws![2]) }) + '\n',
  );
}

const round = (value: number) => Math.round(value * 100) / 100;

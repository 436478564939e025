import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_V8_FLAGS } from '../server/cluster/topology.js';
import { ClusterHarness } from '../test/support/cluster-harness.js';
import type { ConnectResult, LoadCommand, LoadMessage, LoadReport, LoadTarget, WriteStamp } from './fanout-load.js';
import { startScript, type ScriptProcess } from './lib/child.js';
import { preloadNodeOptions } from './lib/process-preload.js';
import { summarizeCpuProfile } from './lib/cpu-profile.js';
import { cpuMsOf, machineBusyMs, rssKbOf } from './lib/proc-stats.js';
import { concatFloat64, median, summarize } from './lib/stats.js';
import { renderTable, type Cell } from './lib/table.js';

// The push fan-out benchmark (issue 7): olympix's cluster of three nodes against a
// bare `ws` server and a Socket.IO server, same loads, same run, same machine.
//
// For each N and each server: N subscribers (opened by a fixed number of load
// generator processes, bench/fanout-load.ts, from loopback source addresses
// 127.x.y.z) all subscribe to score:Luge; then a paced burst (20 writes 50 ms apart)
// and a flood (20 writes at once) go through the authenticated HTTP write path.
//
// Latency of a (write, subscriber) pair = the subscriber's receipt stamp minus the
// write's acceptance, both on CLOCK_MONOTONIC (process.hrtime.bigint(), one clock for
// every process of the machine). The write's HTTP answer is matched to the receipts
// by its seq, and it carries the acceptance: change.updatedAt, which the server
// stamped with its clock when it accepted the write (olympix: the store, when it
// commits the write, which it does once the nodes have pushed the changes before it:
// server/store/commit-pacer.ts); /api/health reports that clock and
// CLOCK_MONOTONIC read at the same instant, so updatedAt maps exactly onto the
// monotonic clock (read before and after each phase; the table says if it moved).
// Why not the answer's arrival: the servers answer after or during their own
// fan-out (olympix's store streams the change before the result), so subscribers
// often have the change first. Why not the writer's send stamp alone: a server that
// is still busy with the previous write lets the next one wait in its socket, and
// that wait is the write path's, not the fan-out's; it is reported too ("p99 from
// send", and the write's round trip), as what a score-keeper would see end to end.
//
// Run: npm run bench -- fanout [--quick] [--help]

const LOAD_SCRIPT = fileURLToPath(new URL('./fanout-load.ts', import.meta.url));
const WS_SCRIPT = fileURLToPath(new URL('./reference-ws-server.ts', import.meta.url));
const SIO_SCRIPT = fileURLToPath(new URL('./reference-socketio-server.ts', import.meta.url));

const TOPIC = 'score:Luge';
const WARMUP_WRITES = 2;
const EVENT = 'Luge';
/** A process may open at most 20,000 files here: one server process stops below that. */
const SINGLE_PROCESS_SUBSCRIBERS_MAX = 19_500;

const SERVERS = ['olympix', 'ws', 'sio'] as const;
type ServerKind = (typeof SERVERS)[number];
const LABEL: Record<ServerKind, string> = { olympix: 'olympix', ws: 'bare ws', sio: 'socket.io' };

interface Options {
  sizes: number[];
  servers: ServerKind[];
  loadProcesses: number;
  writes: number;
  intervalMs: number;
  perAddress: number;
  concurrency: number;
  cpuProfDir: string | null;
  maxMinutes: number;
  echo: boolean;
  /** Run the references with the V8 flags olympix's nodes run with (NODE_V8_FLAGS). */
  sameV8Flags: boolean;
}

const HELP = `npm run bench -- fanout [flags]

Push fan-out: olympix (dispatcher, store, 3 nodes) against a bare ws server and a
Socket.IO server, N subscribers on one topic, a paced burst and a flood of writes.

  --quick              N = 1,000 only
  --sizes A,B,...      subscriber counts (default 1000,5000,10000,20000; the
                       single-process references stop at ${SINGLE_PROCESS_SUBSCRIBERS_MAX})
  --servers a,b        any of olympix,ws,sio (default: all three)
  --load-procs N       load generator processes, the same for every server (default 2)
  --writes N           writes per phase (default 20)
  --interval-ms MS     spacing of the paced burst (default 50)
  --per-address N      subscribers per loopback source address (default 400)
  --concurrency N      handshakes in flight per load process (default 50)
  --cpu-prof [DIR]     profile olympix's processes (as node --cpu-prof would; files
                       CPU.<pid>.cpuprofile in DIR) and print where the nodes' time
                       went during the measured phases
  --max-minutes M      stop starting new rounds after M minutes (default 30)
  --echo               print the servers' own output
  --same-v8-flags      run the references with the V8 flags of olympix's nodes
                       (${NODE_V8_FLAGS.join(' ')}; by default they run with Node's defaults)

The last line is one JSON object for N = 10,000 (or the largest N measured).
BENCH_DEBUG=1 in the environment prints each write's timeline (sent, accepted,
first and last receipt). How to read the figures: docs/BENCHMARKS.md.`;

function parseOptions(args: string[]): Options | null {
  const options: Options = {
    sizes: [1000, 5000, 10_000, 20_000],
    servers: [...SERVERS],
    loadProcesses: 2,
    writes: 20,
    intervalMs: 50,
    perAddress: 400,
    concurrency: 50,
    cpuProfDir: null,
    maxMinutes: 30,
    echo: false,
    sameV8Flags: false,
  };
  const integer = (value: string | undefined, flag: string, min: number, max: number): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) throw new Error(`${flag} must be a whole number in ${min}..${max}, got "${value}"`);
    return number;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = () => args[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return null;
      case '--quick':
        options.sizes = [1000];
        break;
      case '--sizes':
        options.sizes = (value() ?? '').split(',').map((size) => integer(size, '--sizes', 1, 20_000));
        break;
      case '--servers': {
        const servers = (value() ?? '').split(',');
        for (const server of servers) if (!(SERVERS as readonly string[]).includes(server)) throw new Error(`--servers: unknown server "${server}" (olympix, ws, sio)`);
        options.servers = servers as ServerKind[];
        break;
      }
      case '--load-procs':
        options.loadProcesses = integer(value(), flag, 1, 16);
        break;
      case '--writes':
        options.writes = integer(value(), flag, 1, 1000);
        break;
      case '--interval-ms':
        options.intervalMs = integer(value(), flag, 0, 10_000);
        break;
      case '--per-address':
        options.perAddress = integer(value(), flag, 1, 20_000);
        break;
      case '--concurrency':
        options.concurrency = integer(value(), flag, 1, 1000);
        break;
      case '--cpu-prof':
        options.cpuProfDir = args[i + 1] !== undefined && !args[i + 1]!.startsWith('--') ? value()! : mkdtempSync(join(tmpdir(), 'olympix-cpu-prof-'));
        break;
      case '--max-minutes':
        options.maxMinutes = integer(value(), flag, 1, 600);
        break;
      case '--echo':
        options.echo = true;
        break;
      case '--same-v8-flags':
        options.sameV8Flags = true;
        break;
      default:
        throw new Error(`unknown flag "${flag}" (see --help)`);
    }
  }
  return options;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowNs = () => Number(process.hrtime.bigint());

// ---- load generator processes ----

class LoadProcess {
  private readonly queued: LoadMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private exited = false;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: LoadMessage) => {
      if (message.type === 'error') process.stderr.write(`load generator ${child.pid}: ${message.message}\n`);
      this.queued.push(message);
      for (const wake of [...this.waiters]) wake();
    });
    child.on('exit', () => {
      this.exited = true;
      for (const wake of [...this.waiters]) wake();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(command: LoadCommand): void {
    this.child.send(command);
  }

  discard(type: LoadMessage['type']): void {
    for (let i = this.queued.length - 1; i >= 0; i--) if (this.queued[i]!.type === type) this.queued.splice(i, 1);
  }

  /** The next message of that type (or an error), within timeoutMs. */
  next<T extends LoadMessage['type']>(type: T, timeoutMs: number): Promise<Extract<LoadMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.queued.findIndex((message) => message.type === type || message.type === 'error');
        if (index >= 0) {
          const [message] = this.queued.splice(index, 1);
          finish();
          if (message!.type === 'error') reject(new Error(`load generator failed: ${(message as { message: string }).message}`));
          else resolve(message as Extract<LoadMessage, { type: T }>);
        } else if (this.exited) {
          finish();
          reject(new Error('load generator exited'));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`load generator: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }
}

function startLoadProcesses(count: number): LoadProcess[] {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return Array.from({ length: count }, () => new LoadProcess(
    fork(LOAD_SCRIPT, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  ));
}

// ---- servers under test ----

interface ServerUnderTest {
  kind: ServerKind;
  /** The processes that hold the subscribers and push: their CPU and memory are the figures. */
  deliveryPids: number[];
  /** Other processes of the server (olympix's store and dispatcher), reported apart. */
  auxPids: Record<string, number>;
  target: LoadTarget;
  /** Write endpoints, used in turn. */
  writeOrigins: string[];
  /** The process whose clock stamps the writes (olympix: the store, at the commit): its /api/health reports that clock. */
  stampClockUrl: string;
  token: string;
  clients(): Promise<number>;
  stop(): Promise<void>;
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return response.json();
}

async function startOlympix(options: Options): Promise<ServerUnderTest> {
  // The harness gives its processes this process's environment: set it for the start only.
  const previous = { NODE_OPTIONS: process.env.NODE_OPTIONS, BENCH_CPU_PROF_DIR: process.env.BENCH_CPU_PROF_DIR };
  process.env.NODE_OPTIONS = [previous.NODE_OPTIONS, ...preloadNodeOptions()].filter(Boolean).join(' ');
  if (options.cpuProfDir) process.env.BENCH_CPU_PROF_DIR = options.cpuProfDir;
  let harness: ClusterHarness;
  try {
    harness = await ClusterHarness.start({ nodes: 3, echo: options.echo });
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  const nodes = harness.nodes;
  return {
    kind: 'olympix',
    deliveryPids: nodes.map((node) => harness.pid(node.id)!),
    auxPids: { store: harness.pid('store')!, dispatcher: harness.pid('dispatcher')! },
    target: { kind: 'olympix', dispatcherUrl: harness.dispatcherUrl, topic: TOPIC },
    writeOrigins: nodes.map((node) => node.http),
    stampClockUrl: harness.storeUrl,
    token: harness.token,
    async clients() {
      let total = 0;
      for (const node of nodes) total += ((await getJson(`${node.http}/api/health`)) as { clients: number }).clients;
      return total;
    },
    stop: () => harness.stop(),
  };
}

async function startReference(kind: 'ws' | 'sio', options: Options): Promise<ServerUnderTest> {
  const token = `bench-${Math.random().toString(36).slice(2)}`;
  const env: NodeJS.ProcessEnv = { ...process.env, OLYMPIX_WRITE_TOKEN: token };
  delete env.NODE_OPTIONS;
  const script: ScriptProcess = startScript(kind === 'ws' ? WS_SCRIPT : SIO_SCRIPT, ['--port', '0'], { env, nodeArgs: ['--expose-gc', ...(options.sameV8Flags ? NODE_V8_FLAGS : [])], echo: options.echo });
  const listening = await script.waitForLine((line) => line.event === 'listening', 30_000);
  const url = String(listening.url);
  return {
    kind,
    deliveryPids: [script.pid],
    auxPids: {},
    target: { kind, url, topic: TOPIC },
    writeOrigins: [url],
    stampClockUrl: url,
    token,
    async clients() {
      return ((await getJson(`${url}/api/health`)) as { clients: number }).clients;
    },
    stop: () => script.stop(),
  };
}

function collectGarbage(server: ServerUnderTest): void {
  for (const pid of server.deliveryPids) process.kill(pid, 'SIGUSR2');
}

async function settledRssKb(server: ServerUnderTest): Promise<number> {
  collectGarbage(server);
  await sleep(400);
  collectGarbage(server);
  await sleep(400);
  return rssKbOf(server.deliveryPids);
}

// ---- writes ----

interface WriteResult {
  seq: number;
  sentNs: number;
  answeredNs: number;
  /** The server's acceptance stamp (change.updatedAt), on its clock, ms. */
  updatedAtMs: number;
}

function postWrite(agent: Agent, origin: string, token: string, body: unknown): Promise<WriteResult> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      `${origin}/api/scores/${encodeURIComponent(EVENT)}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${token}` },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const answeredNs = nowNs();
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) return reject(new Error(`write refused: HTTP ${response.statusCode} ${text}`));
          const body = JSON.parse(text) as { seq: number; change: { updatedAt: number } };
          resolve({ seq: body.seq, sentNs, answeredNs, updatedAtMs: body.change.updatedAt });
        });
      },
    );
    request.setTimeout(15_000, () => request.destroy(new Error('write: no answer within 15 s')));
    request.on('error', reject);
    const sentNs = nowNs();
    request.end(payload);
  });
}

/** Opens keep-alive connections to every write endpoint beforehand, so that a flood does not pay TCP handshakes. */
async function warmWriters(agent: Agent, origins: string[], perOrigin: number): Promise<void> {
  await Promise.all(
    origins.flatMap((origin) =>
      Array.from({ length: perOrigin }, () =>
        new Promise<void>((resolve, reject) => {
          const request = httpRequest(`${origin}/api/health`, { agent }, (response) => {
            response.resume();
            response.on('end', () => resolve());
          });
          request.on('error', reject);
          request.end();
        }),
      ),
    ),
  );
}

/**
 * The stamping clock (the one that writes updatedAt) minus CLOCK_MONOTONIC, in ms,
 * both read by that process at the same instant (olympix: member.clock in the store's
 * /api/health, since the store stamps each write when it commits it; the references
 * report the same).
 */
async function clockOffsetMs(server: ServerUnderTest): Promise<number> {
  const health = (await getJson(`${server.stampClockUrl}/api/health`)) as { member?: { clock?: ClockReading }; clock?: ClockReading };
  const clock = health.member?.clock ?? health.clock;
  if (!clock) throw new Error(`${server.stampClockUrl}/api/health reports no clock: cannot map acceptance stamps`);
  return clock.nowMs - clock.monotonicMs;
}

interface ClockReading {
  nowMs: number;
  monotonicMs: number;
}

async function sendWrites(server: ServerUnderTest, agent: Agent, phase: 'paced' | 'flood', writes: number, intervalMs: number): Promise<WriteResult[]> {
  const pending: Array<Promise<WriteResult>> = [];
  const startMs = performance.now();
  for (let i = 0; i < writes; i++) {
    if (phase === 'paced' && i > 0) {
      const delayMs = startMs + i * intervalMs - performance.now();
      if (delayMs > 0) await sleep(delayMs);
    }
    const origin = server.writeOrigins[i % server.writeOrigins.length]!;
    pending.push(postWrite(agent, origin, server.token, { scores: { Gaul: 60 + i / 100, Rome: 61 + i / 100 } }));
  }
  return Promise.all(pending);
}

// ---- one round: one server, one N ----

interface PhaseResult {
  phase: 'paced' | 'flood';
  deliveries: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  lastP50Ms: number;
  /** p99 from the writer's send: with the wait in the write path. */
  p99FromSendMs: number;
  /** How far a server's clock moved against CLOCK_MONOTONIC during the phase (bounds the mapping's error). */
  clockMovedMs: number;
  deliveriesPerS: number;
  serverCpuUsPerDelivery: number;
  loadCpuUsPerDelivery: number;
  auxCpuMs: Record<string, number>;
  writeRttP50Ms: number;
  /** Cores used by processes outside the bench during the phase: noise. */
  otherCores: number;
  problems: string[];
  windowUs: { fromUs: number; toUs: number };
}

interface RoundResult {
  kind: ServerKind;
  subscribers: number;
  byNode: Record<string, number>;
  idleRssKb: number;
  loadedRssKb: number;
  rssKbPerConnection: number;
  connectS: number;
  phases: PhaseResult[];
  deliveryPids: number[];
}

async function runPhase(
  server: ServerUnderTest,
  loads: LoadProcess[],
  agent: Agent,
  phase: 'paced' | 'flood',
  subscribers: number,
  options: Options,
  writeCount = options.writes,
): Promise<PhaseResult> {
  await warmWriters(agent, server.writeOrigins, writeCount);
  const offsetBeforeMs = await clockOffsetMs(server);
  for (const load of loads) {
    load.discard('complete');
    load.send({ type: 'arm', expected: writeCount });
  }
  for (const load of loads) await load.next('armed', 10_000);
  const loadPids = loads.map((load) => load.pid);
  const auxNames = Object.keys(server.auxPids);
  const serverCpuBeforeMs = cpuMsOf(server.deliveryPids);
  const loadCpuBeforeMs = cpuMsOf(loadPids);
  const auxBeforeMs = auxNames.map((name) => cpuMsOf([server.auxPids[name]!]));
  const ourPids = [...server.deliveryPids, ...Object.values(server.auxPids), ...loadPids, process.pid];
  const oursBeforeMs = cpuMsOf(ourPids);
  const machineBeforeMs = machineBusyMs();
  const startedMs = performance.now();

  const deliveriesExpected = subscribers * writeCount;
  const timeoutMs = 20_000 + deliveriesExpected * 0.2;
  const completions = Promise.allSettled(loads.map((load) => load.next('complete', timeoutMs)));
  const writes = await sendWrites(server, agent, phase, writeCount, options.intervalMs);
  const settled = await completions;
  const incomplete = settled.filter((result) => result.status === 'rejected').length;

  // Other processes of the machine (another test run, say) take cores from the bench: say how many.
  const otherCores = (machineBusyMs() - machineBeforeMs - (cpuMsOf(ourPids) - oursBeforeMs)) / (performance.now() - startedMs);
  const serverCpuMs = cpuMsOf(server.deliveryPids) - serverCpuBeforeMs;
  const loadCpuMs = cpuMsOf(loadPids) - loadCpuBeforeMs;
  const auxCpuMs: Record<string, number> = {};
  auxNames.forEach((name, i) => (auxCpuMs[name] = cpuMsOf([server.auxPids[name]!]) - auxBeforeMs[i]!));

  if (process.env.BENCH_DEBUG) {
    const base = Math.min(...writes.map((write) => write.sentNs));
    process.stderr.write(`\n${phase}: ${writes.map((write) => `${write.seq}@${((write.sentNs - base) / 1e6).toFixed(0)}+${((write.answeredNs - write.sentNs) / 1e6).toFixed(0)}`).join(' ')}\n`);
  }
  const offsetAfterMs = await clockOffsetMs(server);
  const clockMovedMs = Math.abs(offsetAfterMs - offsetBeforeMs);
  const offsetMs = (offsetBeforeMs + offsetAfterMs) / 2;
  const writeStamps: WriteStamp[] = writes.map((write) => ({ seq: write.seq, sentNs: write.sentNs, acceptedNs: (write.updatedAtMs - offsetMs) * 1e6 }));
  for (const load of loads) load.send({ type: 'report', writes: writeStamps });
  const reports: LoadReport[] = [];
  for (const load of loads) reports.push(await load.next('report', 60_000));

  if (process.env.BENCH_DEBUG) {
    const base = Math.min(...writeStamps.map((write) => write.acceptedNs));
    const ordered = [...writeStamps].sort((a, b) => a.seq - b.seq);
    process.stderr.write(`${phase} (seq: sent, accepted, first, last ms from the first acceptance):\n`);
    ordered.forEach((write, i) => {
      const first = Math.min(...reports.map((report) => report.firstMs[i]!));
      const last = Math.max(...reports.map((report) => report.lastMs[i]!));
      const acceptedMs = (write.acceptedNs - base) / 1e6;
      process.stderr.write(`  ${write.seq}: ${((write.sentNs - base) / 1e6).toFixed(1)} ${acceptedMs.toFixed(1)} ${(acceptedMs + first).toFixed(1)} ${(acceptedMs + last).toFixed(1)}\n`);
    });
  }
  const latencies = concatFloat64(reports.map((report) => report.latenciesMs));
  const summary = summarize(latencies);
  const fromSend = summarize(concatFloat64(reports.map((report) => report.fromSendMs)));
  const lastMs = Array.from({ length: writes.length }, (_, i) => Math.max(...reports.map((report) => report.lastMs[i]!).filter(Number.isFinite)));
  const firstSentNs = Math.min(...writes.map((write) => write.sentNs));
  const firstAcceptedNs = Math.min(...writeStamps.map((write) => write.acceptedNs));
  const lastReceiptNs = Math.max(...reports.map((report) => report.lastReceiptNs));
  const durationS = (lastReceiptNs - firstAcceptedNs) / 1e9;
  const sum = (field: 'missing' | 'duplicates' | 'outOfOrder' | 'unexpected' | 'closed') => reports.reduce((total, report) => total + report[field], 0);
  const problems: string[] = [];
  for (const field of ['missing', 'duplicates', 'outOfOrder', 'unexpected', 'closed'] as const) {
    if (sum(field) > 0) problems.push(`${field} ${sum(field)}`);
  }
  const closeCodes = new Map<string, number>();
  for (const report of reports) for (const [code, count] of Object.entries(report.closeCodes)) closeCodes.set(code, (closeCodes.get(code) ?? 0) + count);
  if (closeCodes.size > 0) problems.push(`close codes ${[...closeCodes].map(([code, count]) => `${code}x${count}`).join(' ')}`);
  if (incomplete > 0 && problems.length === 0) problems.push(`${incomplete} load generator(s) timed out`);
  const seqs = writes.map((write) => write.seq).sort((a, b) => a - b);
  if (seqs.some((seq, i) => i > 0 && seq !== seqs[i - 1]! + 1)) problems.push('write seqs not contiguous');
  return {
    phase,
    deliveries: summary.count,
    p50Ms: summary.p50,
    p99Ms: summary.p99,
    maxMs: summary.max,
    lastP50Ms: median(lastMs),
    p99FromSendMs: fromSend.p99,
    clockMovedMs,
    deliveriesPerS: summary.count / durationS,
    serverCpuUsPerDelivery: (serverCpuMs * 1000) / summary.count,
    loadCpuUsPerDelivery: (loadCpuMs * 1000) / summary.count,
    auxCpuMs,
    otherCores,
    writeRttP50Ms: median(writes.map((write) => (write.answeredNs - write.sentNs) / 1e6)),
    problems,
    windowUs: { fromUs: firstSentNs / 1000, toUs: lastReceiptNs / 1000 },
  };
}

let roundCounter = 0;

async function runRound(kind: ServerKind, subscribers: number, loads: LoadProcess[], options: Options): Promise<RoundResult> {
  const round = roundCounter++;
  const server = kind === 'olympix' ? await startOlympix(options) : await startReference(kind, options);
  const agent = new Agent({ keepAlive: true, maxSockets: options.writes + 4 });
  try {
    await sleep(500);
    const idleRssKb = await settledRssKb(server);
    // Each load process gets its share and its own source addresses, new ones every
    // round, so that no port is reused while its previous connection sits in TIME_WAIT.
    const connectStart = performance.now();
    const shares = loads.map((_, p) => Math.floor(subscribers / loads.length) + (p < subscribers % loads.length ? 1 : 0));
    loads.forEach((load, p) => {
      const addressCount = Math.max(1, Math.ceil(shares[p]! / options.perAddress));
      const addresses = Array.from({ length: addressCount }, (_, k) => `127.${100 + (round % 150)}.${p + 1}.${k + 1}`);
      load.send({ type: 'connect', target: server.target, count: shares[p]!, addresses, concurrency: options.concurrency, timeoutMs: 30_000 });
    });
    const connected: ConnectResult[] = [];
    for (const load of loads) connected.push(await load.next('connected', 60_000 + subscribers * 20));
    const connectS = (performance.now() - connectStart) / 1000;
    const failed = connected.reduce((total, result) => total + result.failed, 0);
    if (failed > 0) {
      throw new Error(`${failed} of ${subscribers} subscribers could not subscribe: ${connected.flatMap((result) => result.errors).join('; ')}`);
    }
    const byNode: Record<string, number> = {};
    for (const result of connected) for (const [node, count] of Object.entries(result.byNode)) byNode[node] = (byNode[node] ?? 0) + count;
    const serverClients = await server.clients();
    if (serverClients !== subscribers) throw new Error(`the server counts ${serverClients} clients, expected ${subscribers}`);
    await sleep(1000);
    const loadedRssKb = await settledRssKb(server);

    // Warm-up: two writes through every process's paths (JIT, buffers), measured and checked but not reported.
    const warmup = await runPhase(server, loads, agent, 'paced', subscribers, options, WARMUP_WRITES);
    if (warmup.problems.length > 0) throw new Error(`warm-up writes: ${warmup.problems.join(', ')}`);
    await sleep(300);
    const phases: PhaseResult[] = [];
    for (const phase of ['paced', 'flood'] as const) {
      phases.push(await runPhase(server, loads, agent, phase, subscribers, options));
      await sleep(500);
    }
    return {
      kind,
      subscribers,
      deliveryPids: server.deliveryPids,
      byNode,
      idleRssKb,
      loadedRssKb,
      rssKbPerConnection: (loadedRssKb - idleRssKb) / subscribers,
      connectS,
      phases,
    };
  } finally {
    // Subscribers go first, so that the servers stop with nothing to close.
    agent.destroy();
    for (const load of loads) {
      load.discard('closed');
      load.send({ type: 'close' });
    }
    await Promise.allSettled(loads.map((load) => load.next('closed', 60_000)));
    await server.stop();
  }
}

function printProfiles(result: RoundResult, options: Options): void {
  if (!options.cpuProfDir || result.kind !== 'olympix') return;
  const files = readdirSync(options.cpuProfDir).filter((file) => file.endsWith('.cpuprofile'));
  for (const pid of result.deliveryPids) {
    const file = files.find((name) => name === `CPU.${pid}.cpuprofile`);
    if (!file) {
      process.stdout.write(`(no profile for pid ${pid} in ${options.cpuProfDir})\n`);
      continue;
    }
    for (const phase of result.phases) {
      const summary = summarizeCpuProfile(join(options.cpuProfDir, file), phase.windowUs, 20);
      process.stdout.write(`\nCPU profile of ${file}, ${phase.phase} phase at N=${result.subscribers}: ${summary.sampledMs.toFixed(0)} ms sampled\n`);
      process.stdout.write(renderTable(['self ms', 'total ms', 'function'], summary.functions.map((row) => [row.selfMs, row.totalMs, row.name])) + '\n');
      process.stdout.write(renderTable(['self ms', 'area'], summary.areas.map((row) => [row.selfMs, row.area])) + '\n');
      process.stdout.write(renderTable(['total ms', 'function (inclusive)'], summary.inclusive.map((row) => [row.totalMs, row.name])) + '\n');
    }
  }
}

function problemText(phase: PhaseResult): string {
  return phase.problems.length === 0 ? 'ok' : phase.problems.join(', ');
}

export async function run(args: string[]): Promise<void> {
  let options: Options | null;
  try {
    options = parseOptions(args);
  } catch (error) {
    process.stderr.write(`fanout: ${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    process.stdout.write(HELP + '\n');
    return;
  }
  if (options.cpuProfDir) mkdirSync(options.cpuProfDir, { recursive: true });
  const deadlineMs = performance.now() + options.maxMinutes * 60_000;
  const loads = startLoadProcesses(options.loadProcesses);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    process.stderr.write('fanout: interrupted, stopping after the current step\n');
  };
  process.once('SIGINT', onSignal);
  const results: RoundResult[] = [];
  const failures: string[] = [];
  process.stdout.write(
    `fanout: sizes ${options.sizes.join(', ')}; servers ${options.servers.join(', ')}; ${options.loadProcesses} load processes; ` +
      `${options.writes} writes paced ${options.intervalMs} ms apart, then ${options.writes} at once; ` +
      `V8 flags: olympix's nodes ${NODE_V8_FLAGS.join(' ')}, references ${options.sameV8Flags ? 'the same' : "Node's defaults"}\n`,
  );
  try {
    // N outside, servers inside: a drift of the machine over the run touches every server alike.
    outer: for (const size of options.sizes) {
      for (const kind of options.servers) {
        if (interrupted || performance.now() > deadlineMs) {
          failures.push(`stopped before N=${size} (${interrupted ? 'interrupted' : `--max-minutes ${options.maxMinutes}`})`);
          break outer;
        }
        const subscribers = kind === 'olympix' ? size : Math.min(size, SINGLE_PROCESS_SUBSCRIBERS_MAX);
        process.stdout.write(`- ${LABEL[kind]}, ${subscribers} subscribers ... `);
        try {
          const result = await runRound(kind, subscribers, loads, options);
          results.push(result);
          const [paced, flood] = result.phases;
          process.stdout.write(
            `connected in ${result.connectS.toFixed(1)} s ${JSON.stringify(result.byNode)}; paced p99 ${paced!.p99Ms.toFixed(1)} ms, ` +
              `flood ${Math.round(flood!.deliveriesPerS)} deliveries/s; ${problemText(paced!)}/${problemText(flood!)}\n`,
          );
          printProfiles(result, options);
        } catch (error) {
          const message = `${LABEL[kind]} at N=${subscribers}: ${(error as Error).message}`;
          failures.push(message);
          process.stdout.write(`failed: ${(error as Error).message}\n`);
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    for (const load of loads) load.stop();
  }

  const rows: Cell[][] = [];
  for (const result of results) {
    for (const phase of result.phases) {
      rows.push([
        result.subscribers,
        LABEL[result.kind],
        phase.phase,
        phase.p50Ms,
        phase.p99Ms,
        phase.maxMs,
        phase.lastP50Ms,
        phase.p99FromSendMs,
        Math.round(phase.deliveriesPerS),
        phase.serverCpuUsPerDelivery,
        phase.loadCpuUsPerDelivery,
        result.kind === 'olympix' ? `${phase.auxCpuMs.store?.toFixed(0)}/${phase.auxCpuMs.dispatcher?.toFixed(0)}` : '-',
        result.rssKbPerConnection,
        phase.writeRttP50Ms,
        phase.clockMovedMs / 2,
        Math.max(0, phase.otherCores),
        problemText(phase),
      ]);
    }
  }
  process.stdout.write(
    '\n' +
      renderTable(
        ['N', 'server', 'phase', 'p50 ms', 'p99 ms', 'max ms', 'last ms', 'send p99', 'deliv/s', 'srv µs/deliv', 'load µs/deliv', 'store/disp cpu ms', 'KB/conn', 'write rtt ms', 'clock ±ms', 'other cores', 'check'],
        rows,
      ) +
      '\n',
  );
  process.stdout.write(
    '\nlatency: from the write\'s acceptance by the server (its updatedAt stamp) to the subscriber\'s receipt, one CLOCK_MONOTONIC; last ms: median over\n' +
      'writes of the last subscriber\'s time; send p99: p99 from the writer\'s send instead (with the wait in the write path); deliv/s: from the first acceptance;\n' +
      'srv µs/deliv: utime+stime of the delivering processes (olympix: its 3 nodes) per delivery; KB/conn: (RSS with N - RSS idle) / N after forced GC;\n' +
      'clock ±ms: how far the servers\' clocks moved against CLOCK_MONOTONIC during the phase, halved: the error bound of the acceptance stamps;\n' +
      `other cores: CPU taken by processes outside the bench during the phase (noise; this machine has ${cpus().length} cores).\n`,
  );
  for (const failure of failures) process.stdout.write(`FAILED: ${failure}\n`);

  const headline = results.some((result) => result.subscribers === 10_000 || (result.kind !== 'olympix' && result.subscribers === Math.min(10_000, SINGLE_PROCESS_SUBSCRIBERS_MAX)))
    ? 10_000
    : Math.max(0, ...results.map((result) => result.subscribers));
  const pick = (kind: ServerKind) => results.find((result) => result.kind === kind && result.subscribers === (kind === 'olympix' ? headline : Math.min(headline, SINGLE_PROCESS_SUBSCRIBERS_MAX)));
  const round1 = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? null : Math.round(value * 10) / 10);
  const paced = (kind: ServerKind) => pick(kind)?.phases.find((phase) => phase.phase === 'paced');
  const flood = (kind: ServerKind) => pick(kind)?.phases.find((phase) => phase.phase === 'flood');
  if (failures.length > 0 || results.some((result) => result.phases.some((phase) => phase.problems.length > 0))) process.exitCode = 1;
  process.stdout.write(
    JSON.stringify({
      bench: 'fanout',
      subscribers: headline,
      p99_ms: round1(paced('olympix')?.p99Ms),
      ws_p99_ms: round1(paced('ws')?.p99Ms),
      sio_p99_ms: round1(paced('sio')?.p99Ms),
      deliveries_per_s: round1(flood('olympix')?.deliveriesPerS),
      ws_deliveries_per_s: round1(flood('ws')?.deliveriesPerS),
      sio_deliveries_per_s: round1(flood('sio')?.deliveriesPerS),
      rss_kb_per_conn: round1(pick('olympix')?.rssKbPerConnection),
      ws_rss_kb_per_conn: round1(pick('ws')?.rssKbPerConnection),
    }) + '\n',
  );
}

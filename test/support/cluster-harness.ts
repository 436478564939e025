import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CATALOG, type Catalog } from '../../shared/board.js';
import { ManagedProcess } from '../../server/cluster/managed-process.js';
import { clusterTopology, type ProcessSpec } from '../../server/cluster/topology.js';

// Real processes on loopback for integration and browser tests: the same topology as
// `npm start`, on free ports and a temporary data directory, each process started
// alone so that a test can SIGKILL, pause or restart any one of them.

export interface HarnessOptions {
  nodes?: number;
  catalog?: Catalog;
  raffle?: boolean;
  raffleEveryN?: number;
  leaderElection?: boolean;
  clockSync?: boolean;
  clockSkewMs?: Record<string, number>;
  clockDriftPpm?: Record<string, number>;
  /** Extra flags per process name, appended to its command line. */
  extraArgs?: Record<string, string[]>;
  /** Print every process's lines (debugging). */
  echo?: boolean;
  /** Extra environment for every process (e.g. OLYMPIX_BENCH_HOOKS=1). */
  env?: Record<string, string>;
}

export interface LogLine {
  event: string;
  /** When the harness read the line (performance.now() of this process): pipes add well under a millisecond. */
  receivedMs: number;
  [field: string]: unknown;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(probe: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

export class ClusterHarness {
  readonly logs = new Map<string, LogLine[]>();
  private readonly processes = new Map<string, ManagedProcess>();

  private constructor(
    readonly specs: ProcessSpec[],
    readonly token: string,
    readonly dataDir: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly echo: boolean,
  ) {}

  /** The cluster secret of the peer links (abuse tests impersonate members with it). */
  get secret(): string {
    return this.env.OLYMPIX_CLUSTER_SECRET!;
  }

  static async start(options: HarnessOptions = {}): Promise<ClusterHarness> {
    const nodeCount = options.nodes ?? 3;
    const names = ['dispatcher', 'store', ...Array.from({ length: nodeCount }, (_, i) => `node-${i + 1}`)];
    const ports: Record<string, number> = {};
    for (const name of names) ports[name] = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'olympix-test-'));
    const specs = clusterTopology({
      host: '127.0.0.1',
      basePort: 0,
      ports,
      nodes: nodeCount,
      dataDir,
      catalog: options.catalog ?? DEFAULT_CATALOG,
      leaderElection: options.leaderElection ?? true,
      clockSync: options.clockSync ?? true,
      raffle: options.raffle ?? true,
      raffleEveryN: options.raffleEveryN ?? 100,
      clockSkewMs: options.clockSkewMs ?? {},
      clockDriftPpm: options.clockDriftPpm ?? {},
    });
    for (const spec of specs) spec.args.push(...(options.extraArgs?.[spec.name] ?? []));
    const token = randomBytes(18).toString('base64url');
    const env = { ...process.env, ...options.env, OLYMPIX_WRITE_TOKEN: token, OLYMPIX_CLUSTER_SECRET: randomBytes(24).toString('base64url') };
    const harness = new ClusterHarness(specs, token, dataDir, env, options.echo ?? process.env.OLYMPIX_TEST_ECHO === '1');
    for (const spec of specs) harness.spawn(spec);
    try {
      await harness.waitUntilServing();
    } catch (error) {
      await harness.stop();
      throw error;
    }
    return harness;
  }

  private spawn(spec: ProcessSpec): void {
    const managed = new ManagedProcess(spec, {
      env: this.env,
      restart: false,
      log: () => {},
      onLine: (name, line) => {
        if (this.echo) process.stderr.write(`[${name}] ${line}\n`);
        if (!line.startsWith('{')) return;
        try {
          const parsed = JSON.parse(line) as LogLine;
          parsed.receivedMs = performance.now();
          let lines = this.logs.get(name);
          if (!lines) this.logs.set(name, (lines = []));
          lines.push(parsed);
        } catch {
          // not a log line
        }
      },
    });
    this.processes.set(spec.name, managed);
    managed.start();
  }

  spec(name: string): ProcessSpec {
    const spec = this.specs.find((candidate) => candidate.name === name);
    if (!spec) throw new Error(`no process ${name}`);
    return spec;
  }

  get dispatcherUrl(): string {
    return this.spec('dispatcher').url;
  }

  get storeUrl(): string {
    return this.spec('store').url;
  }

  get nodes(): Array<{ id: string; http: string; ws: string }> {
    return this.specs.filter((spec) => spec.role === 'node').map((spec) => ({ id: spec.name, http: spec.url, ws: spec.url.replace(/^http/, 'ws') + '/ws' }));
  }

  pid(name: string): number | undefined {
    return this.processes.get(name)?.pid;
  }

  /** SIGKILL (or another signal) and wait for the exit. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.processes.get(name)?.kill(signal);
  }

  /** SIGSTOP / SIGCONT: a long pause, as a GC stall or a stopped VM looks to the others. */
  pause(name: string): void {
    this.processes.get(name)?.signal('SIGSTOP');
  }
  resume(name: string): void {
    this.processes.get(name)?.signal('SIGCONT');
  }

  /** Starts a killed process again with the same flags and waits until it serves. */
  async restart(name: string): Promise<void> {
    const spec = this.spec(name);
    if (this.processes.get(name)?.running) await this.kill(name);
    this.spawn(spec);
    await this.waitUntilUp(spec);
  }

  private async waitUntilUp(spec: ProcessSpec, timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => {
      const response = await fetch(`${spec.url}/api/health`, { signal: AbortSignal.timeout(1000) });
      if (!response.ok) return false;
      if (spec.role !== 'node') return true;
      return ((await response.json()) as { ready: boolean }).ready;
    }, timeoutMs, `${spec.name} to serve`);
  }

  async waitUntilServing(timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => {
      const response = await fetch(`${this.dispatcherUrl}/api/nodes`, { signal: AbortSignal.timeout(1000) });
      const nodes = (await response.json()) as Array<{ healthy: boolean; ready: boolean }>;
      return nodes.every((node) => node.healthy && node.ready);
    }, timeoutMs, 'every node to be healthy and ready at the dispatcher');
  }

  /** Waits for a log line of a process that matches. */
  async waitForLog(name: string, match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    return waitFor(() => (this.logs.get(name) ?? []).find(match), timeoutMs, `a matching log line from ${name}`);
  }

  /** POSTs a write with the token; returns status and body. */
  async write(node: string, path: string, body: unknown, token: string | null = this.token): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const response = await fetch(`${this.spec(node).url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async get(name: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.spec(name).url}${path}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((managed) => managed.stop(3000)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

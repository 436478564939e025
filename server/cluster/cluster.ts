import { randomBytes } from 'node:crypto';
import type { ClusterConfig } from '../config.js';
import type { Log } from '../log.js';
import { startControlServer } from './control-server.js';
import { ManagedProcess } from './managed-process.js';
import { clusterTopology } from './topology.js';

// The embedded default: the store, the nodes and the dispatcher as child processes on
// loopback, supervised (a child that dies is reported and restarted), their log lines
// passed through, and the URLs and write token printed once everything is ready.
// Its fault controls (stop, start, restart, partition, clock skew) listen on
// 127.0.0.1:PORT+9 and are proxied by the dispatcher at /api/control/*.

/** The control server's port, from the dispatcher's. */
export const CONTROL_PORT_OFFSET = 9;

export interface RunningCluster {
  dispatcherUrl: string;
  token: string;
  processes: Map<string, ManagedProcess>;
  stop(): Promise<void>;
}

export async function startCluster(config: ClusterConfig, log: Log, print: (text: string) => void): Promise<RunningCluster> {
  const token = config.token ?? randomBytes(18).toString('base64url');
  const secret = process.env.OLYMPIX_CLUSTER_SECRET?.trim() || randomBytes(24).toString('base64url');
  const controlPort = config.port + CONTROL_PORT_OFFSET;
  const specs = clusterTopology({
    host: config.host,
    basePort: config.port,
    nodes: config.nodes,
    dataDir: config.dataDir,
    catalog: config.catalog,
    leaderElection: config.leaderElection,
    clockSync: config.clockSync,
    raffle: config.raffle,
    raffleEveryN: config.raffleEveryN,
    clockSkewMs: config.clockSkewMs,
    clockDriftPpm: config.clockDriftPpm,
    controlPort,
  });
  const processes = new Map<string, ManagedProcess>();
  // Listening first: a port in use fails the start before any child is spawned.
  const control = await startControlServer({ host: '127.0.0.1', port: controlPort, processes, token, log });
  const env = { ...process.env, OLYMPIX_WRITE_TOKEN: token, OLYMPIX_CLUSTER_SECRET: secret };
  for (const spec of specs) {
    const managed = new ManagedProcess(spec, {
      env,
      log,
      restart: true,
      onLine: (_name, line) => process.stdout.write(line + '\n'),
    });
    processes.set(spec.name, managed);
    managed.start();
  }
  const dispatcher = specs.find((spec) => spec.role === 'dispatcher')!;
  await waitUntilServing(dispatcher.url, 60_000);
  const lines = [
    '',
    'olympix is running',
    `  scoreboard   ${dispatcher.url}/`,
    `  cauldron     ${dispatcher.url}/cauldron`,
    `  cluster      ${dispatcher.url}/cluster`,
    `  write token  ${token}`,
    `  data         ${config.dataDir}`,
    ...specs.filter((spec) => spec.role !== 'dispatcher').map((spec) => `  ${spec.name.padEnd(12)} ${spec.url}`),
    `  control      ${control.url} (fault controls; the dispatcher proxies them at /api/control/*)`,
    'Press Ctrl+C to stop.',
    '',
  ];
  print(lines.join('\n'));
  log('cluster.ready', { dispatcher: dispatcher.url, processes: specs.length });
  return {
    dispatcherUrl: dispatcher.url,
    token,
    processes,
    async stop() {
      await control.close();
      await Promise.all([...processes.values()].map((managed) => managed.stop()));
    },
  };
}

/** Waits until the dispatcher sees every node healthy and ready: the whole system is up. */
export async function waitUntilServing(dispatcherUrl: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let lastError = 'not started';
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`${dispatcherUrl}/api/nodes`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) {
        const nodes = (await response.json()) as Array<{ id: string; healthy: boolean; ready: boolean }>;
        const waiting = nodes.filter((node) => !node.healthy || !node.ready).map((node) => node.id);
        if (waiting.length === 0) return;
        lastError = `waiting for ${waiting.join(', ')}`;
      } else lastError = `status ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the cluster did not come up within ${timeoutMs} ms (${lastError})`);
}

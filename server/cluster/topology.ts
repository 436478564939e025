import { join } from 'node:path';
import type { Catalog } from '../../shared/board.js';

// The embedded default's layout: which processes, on which ports, with which flags.
// Shared by the cluster supervisor and the test harness, so that tests run exactly
// what `npm start` runs.

export interface TopologyOptions {
  host: string;
  /** The dispatcher's port; the store takes basePort+10, node i takes basePort+10+i. */
  basePort: number;
  nodes: number;
  dataDir: string;
  catalog: Catalog;
  leaderElection: boolean;
  clockSync: boolean;
  raffle: boolean;
  raffleEveryN: number;
  clockSkewMs: Record<string, number>;
  clockDriftPpm: Record<string, number>;
  /** Explicit ports (tests pick free ones): overrides basePort. */
  ports?: Record<string, number>;
  /** The supervisor's control server on 127.0.0.1, when it runs one: the dispatcher proxies /api/control/* to it. */
  controlPort?: number;
}

export interface ProcessSpec {
  name: string;
  role: 'dispatcher' | 'store' | 'node';
  port: number;
  url: string;
  args: string[];
  /** Flags for the process's V8 (before the script), if any. */
  v8Flags?: string[];
}

/**
 * The V8 flags a node runs with. A node's young generation grows to V8's default of
 * 2 x 16 MiB while pages connect (each connection's handshake, welcome and snapshot
 * are short-lived garbage) and stays resident: with three nodes on one machine that
 * was 3 x ~24 MiB, about 7 KB of RSS per connection at 10,000 connections, more than
 * the connections themselves. 4 MiB semi-spaces hold the fan-out's garbage (it
 * allocates once per change, not per delivery); `npm run bench -- fanout` measures it
 * (docs/BENCHMARKS.md).
 */
export const NODE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

export function nodeIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

export function clusterTopology(options: TopologyOptions): ProcessSpec[] {
  const { host } = options;
  const portOf = (name: string, fallback: number) => options.ports?.[name] ?? fallback;
  const url = (port: number) => `http://${host}:${port}`;
  const dispatcherPort = portOf('dispatcher', options.basePort);
  const storePort = portOf('store', options.basePort + 10);
  const nodes = nodeIds(options.nodes).map((id, i) => ({ id, port: portOf(id, options.basePort + 11 + i) }));
  const dispatcherUrl = url(dispatcherPort);
  const memberFlags = (id: string): string[] => {
    const flags: string[] = [];
    if (!options.leaderElection) flags.push('--no-leader-election');
    if (!options.clockSync) flags.push('--no-clock-sync');
    // --flag=value: a negative number as a separate argument would read as a flag.
    if (options.clockSkewMs[id] !== undefined) flags.push(`--clock-skew-ms=${options.clockSkewMs[id]}`);
    if (options.clockDriftPpm[id] !== undefined) flags.push(`--clock-drift-ppm=${options.clockDriftPpm[id]}`);
    return flags;
  };
  const store: ProcessSpec = {
    name: 'store',
    role: 'store',
    port: storePort,
    url: url(storePort),
    args: [
      'store',
      '--host', host,
      '--port', String(storePort),
      '--data-dir', options.dataDir,
      '--teams', options.catalog.teams.join(','),
      '--events', options.catalog.events.join(','),
      ...nodes.flatMap((node) => ['--peer', `${node.id}=${url(node.port)}`]),
      ...memberFlags('store'),
    ],
  };
  const nodeSpecs: ProcessSpec[] = nodes.map((node) => ({
    name: node.id,
    role: 'node',
    port: node.port,
    url: url(node.port),
    v8Flags: [...NODE_V8_FLAGS],
    args: [
      'node',
      '--id', node.id,
      '--host', host,
      '--port', String(node.port),
      '--data-dir', join(options.dataDir, node.id),
      '--dispatcher', dispatcherUrl,
      '--peer', `store=${url(storePort)}`,
      ...nodes.filter((other) => other.id !== node.id).flatMap((other) => ['--peer', `${other.id}=${url(other.port)}`]),
      ...(options.raffle ? ['--raffle-every', String(options.raffleEveryN)] : ['--no-raffle']),
      ...memberFlags(node.id),
    ],
  }));
  const dispatcher: ProcessSpec = {
    name: 'dispatcher',
    role: 'dispatcher',
    port: dispatcherPort,
    url: dispatcherUrl,
    args: [
      'dispatcher',
      '--host', host,
      '--port', String(dispatcherPort),
      ...nodes.flatMap((node) => ['--node', `${node.id}=${url(node.port)}`]),
      ...(options.controlPort === undefined ? [] : ['--control', `http://127.0.0.1:${options.controlPort}`]),
    ],
  };
  return [store, ...nodeSpecs, dispatcher];
}

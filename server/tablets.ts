import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import type { Catalog } from '../shared/board.js';
import { Assignment } from '../shared/client-protocol.js';
import { check } from '../shared/validate.js';
import { ConfigError, HELP, integerFlag, numberFlag } from './config.js';

// Simulated villagers, as the seed's pull clients: each asks the dispatcher for a
// node, then pulls medal tallies and scores at a rate, and prints what it got with
// its "last updated at". Every pull is a raffle ticket on the node that serves it.

export interface TabletsOptions {
  dispatcher: string;
  count: number;
  ratePerS: number;
  durationS: number;
  quiet: boolean;
}

export interface TabletsSummary {
  requests: number;
  failures: number;
  reassignments: number;
  byNode: Record<string, number>;
}

function parseTabletsArgs(args: string[]): TabletsOptions {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        dispatcher: { type: 'string' },
        count: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        quiet: { type: 'boolean' },
      },
    }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  return {
    dispatcher: (values.dispatcher ?? 'http://127.0.0.1:4000').replace(/\/$/, ''),
    count: integerFlag(values.count, 'count', 10, 1, 10_000),
    ratePerS: numberFlag(values.rate, 'rate', 1, 0.01, 1000),
    durationS: numberFlag(values.duration, 'duration', 10, 0, 86_400),
    quiet: values.quiet === true,
  };
}

function formatTime(updatedAt: number | null): string {
  return updatedAt === null ? 'never' : new Date(updatedAt).toISOString();
}

export async function runVillagers(options: TabletsOptions, print: (text: string) => void, signal?: AbortSignal): Promise<TabletsSummary> {
  const summary: TabletsSummary = { requests: 0, failures: 0, reassignments: 0, byNode: {} };
  // Every villager waits on the same signal between pulls.
  if (signal) setMaxListeners(options.count + 10, signal);
  const deadline = options.durationS > 0 ? performance.now() + options.durationS * 1000 : Infinity;
  const intervalMs = 1000 / options.ratePerS;

  const assign = async (exclude: string | null): Promise<Assignment> => {
    const url = `${options.dispatcher}/api/assign${exclude ? `?exclude=${encodeURIComponent(exclude)}` : ''}`;
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`dispatcher answered ${response.status}`);
    const body = check(Assignment, await response.json());
    if (!body.ok) throw new Error(`dispatcher answered an invalid assignment: ${body.error}`);
    return body.value;
  };

  const villager = async (index: number): Promise<void> => {
    const client = `tablet-${index + 1}`;
    let node: Assignment | null = null;
    let catalog: Catalog | null = null;
    let turn = 0;
    // Spread the villagers' first pulls over one interval, so that they do not all pull at once.
    await sleep((intervalMs * index) / options.count, signal);
    while (performance.now() < deadline && !signal?.aborted) {
      const started = performance.now();
      try {
        if (!node) node = await assign(null);
        const headers = { 'x-olympix-client': client };
        if (!catalog) {
          const state = (await (await fetch(`${node.http}/api/state`, { headers, signal: AbortSignal.timeout(2000) })).json()) as { catalog: Catalog };
          catalog = state.catalog;
          summary.requests++;
        }
        const names = [...catalog.teams.map((team) => ['medals', team] as const), ...catalog.events.map((event) => ['scores', event] as const)];
        const [kind, name] = names[turn++ % names.length]!;
        const response = await fetch(`${node.http}/api/${kind}/${encodeURIComponent(name)}`, { headers, signal: AbortSignal.timeout(2000) });
        if (!response.ok) throw new Error(`${node.node} answered ${response.status}`);
        const body = (await response.json()) as Record<string, Record<string, { value: number; updatedAt: number | null }>>;
        summary.requests++;
        summary.byNode[node.node] = (summary.byNode[node.node] ?? 0) + 1;
        if (!options.quiet) {
          const values = kind === 'medals' ? body.medals! : body.scores!;
          const parts = Object.entries(values).map(([key, stamped]) => `${key} = ${stamped.value} last updated at ${formatTime(stamped.updatedAt)}`);
          print(`${client} @ ${node.node}  ${kind === 'medals' ? 'medal tally of' : 'score of'} ${name}: ${parts.join('; ')}`);
        }
      } catch (error) {
        summary.failures++;
        if (!options.quiet) print(`${client}: ${(error as Error).message}; asking the dispatcher for another node`);
        if (node) summary.reassignments++;
        const failed = node?.node ?? null;
        node = null;
        try {
          node = await assign(failed);
        } catch {
          // the dispatcher itself is unreachable: try again next turn
        }
      }
      await sleep(Math.max(0, intervalMs - (performance.now() - started)), signal);
    }
  };
  await Promise.all(Array.from({ length: options.count }, (_, index) => villager(index)));
  return summary;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runTablets(args: string[], print: (text: string) => void): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    print(HELP.tablets);
    return;
  }
  const options = parseTabletsArgs(args);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const summary = await runVillagers(options, print, controller.signal);
  print(
    `tablets: ${options.count} villagers made ${summary.requests} requests (${summary.failures} failed, ${summary.reassignments} reassignments); by node: ${JSON.stringify(summary.byNode)}`,
  );
}

import { ClusterHarness, waitFor } from '../test/support/cluster-harness.js';
import { percentileOfSorted } from './lib/stats.js';
import { renderTable } from './lib/table.js';

// npm run bench -- multicast [--seconds S] [--rate R]: three nodes on loopback (the
// embedded cluster), tickets from a source inside each node (OLYMPIX_BENCH_HOOKS=1), so
// that the multicast itself is measured rather than HTTP: first at a fixed total rate
// (default 10,000/s, half the target), then at saturation (each node offers as many as
// its multicast accepts). Each ticket carries its arrival time on CLOCK_MONOTONIC;
// every node records, per position in the total order, the time to its delivery there;
// a ticket's latency is the largest over the three nodes (delivery on the last node).

const NODES = ['node-1', 'node-2', 'node-3'];

interface Phase {
  name: string;
  ratePerS: number;
  deliveredPerS: Record<string, number>;
  offered: number;
  refused: number;
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export async function run(args: string[]): Promise<void> {
  const flag = (name: string, fallback: number) => {
    const index = args.indexOf(name);
    const value = index >= 0 ? Number(args[index + 1]) : fallback;
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
    return value;
  };
  const seconds = flag('--seconds', 5);
  const fixedRate = flag('--rate', 10_000);
  const cluster = await ClusterHarness.start({ nodes: 3, env: { OLYMPIX_BENCH_HOOKS: '1' } });
  const phases: Phase[] = [];
  const delivered = async (node: string) => ((await cluster.get(node, '/api/multicast')).body as { delivered: number }).delivered;
  try {
    await waitFor(async () => (await Promise.all(NODES.map(async (node) => ((await cluster.get(node, '/api/multicast')).body as { multicast: { ready: boolean } }).multicast.ready))).every(Boolean), 20_000, 'the multicast view');
    for (const [name, totalRate] of [['warm-up', 3000], [`fixed ${fixedRate}/s`, fixedRate], ['saturation', 0]] as const) {
      const durationMs = name === 'warm-up' ? 1000 : seconds * 1000;
      for (const node of NODES) await (await fetch(`${cluster.spec(node).url}/api/bench/tickets`)).json(); // forget earlier samples
      const before = await Promise.all(NODES.map(delivered));
      const startedMs = performance.now();
      await Promise.all(
        NODES.map((node) =>
          cluster.write(node, '/api/bench/tickets', { ratePerS: totalRate / NODES.length, durationMs }).then((result) => {
            if (result.status !== 200) throw new Error(`${node}: ${JSON.stringify(result.body)}`);
          }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, durationMs));
      const atEnd = await Promise.all(NODES.map(delivered));
      const elapsedS = (performance.now() - startedMs) / 1000;
      // Let the last tickets be delivered everywhere before reading the samples.
      await waitFor(async () => {
        const counts = await Promise.all(NODES.map(delivered));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const again = await Promise.all(NODES.map(delivered));
        return counts.every((count, i) => count === again[i] && count === again[0]);
      }, 30_000, 'the nodes to deliver everything');
      const results = await Promise.all(NODES.map(async (node) => (await (await fetch(`${cluster.spec(node).url}/api/bench/tickets`)).json()) as { offered: number; refused: number; indices: number[]; latenciesMs: number[] }));
      const worst = new Map<number, number>();
      const seenBy = new Map<number, number>();
      for (const result of results) {
        for (let i = 0; i < result.indices.length; i++) {
          const index = result.indices[i]!;
          worst.set(index, Math.max(worst.get(index) ?? 0, result.latenciesMs[i]!));
          seenBy.set(index, (seenBy.get(index) ?? 0) + 1);
        }
      }
      const latencies = [...worst.entries()].filter(([index]) => seenBy.get(index) === NODES.length).map(([, ms]) => ms).sort((a, b) => a - b);
      const deliveredPerS: Record<string, number> = {};
      NODES.forEach((node, i) => (deliveredPerS[node] = (atEnd[i]! - before[i]!) / elapsedS));
      phases.push({
        name,
        ratePerS: totalRate,
        deliveredPerS,
        offered: results.reduce((sum, result) => sum + result.offered, 0),
        refused: results.reduce((sum, result) => sum + result.refused, 0),
        samples: latencies.length,
        p50: percentileOfSorted(latencies, 50),
        p90: percentileOfSorted(latencies, 90),
        p99: percentileOfSorted(latencies, 99),
        max: latencies.at(-1) ?? Number.NaN,
      });
    }
  } finally {
    await cluster.stop();
  }
  const measured = phases.filter((phase) => phase.name !== 'warm-up');
  process.stdout.write(
    renderTable(
      ['phase', 'offered', 'refused', ...NODES.map((node) => `${node} delivered/s`), 'tickets', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      measured.map((phase) => [phase.name, phase.offered, phase.refused, ...NODES.map((node) => phase.deliveredPerS[node]!), phase.samples, phase.p50, phase.p90, phase.p99, phase.max]),
    ) + '\n\n',
  );
  const fixed = measured[0]!;
  const saturation = measured[1]!;
  const saturationRate = Math.min(...Object.values(saturation.deliveredPerS));
  process.stdout.write(
    `saturation: ${Math.round(saturationRate)} tickets/s delivered on every node (target ≥ 20,000); at ${fixedRate}/s: p99 ${fixed.p99.toFixed(2)} ms from arrival to delivery on the last node (target < 20 ms)\n`,
  );
  process.stdout.write(
    JSON.stringify({ bench: 'multicast', nodes: 3, tickets_per_s: Math.round(saturationRate), p50_ms: Number(fixed.p50.toFixed(2)), p99_ms: Number(fixed.p99.toFixed(2)), saturation_p99_ms: Number(saturation.p99.toFixed(2)) }) + '\n',
  );
}

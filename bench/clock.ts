import { ClusterHarness } from '../test/support/cluster-harness.js';
import { percentileOfSorted } from './lib/stats.js';
import { renderTable } from './lib/table.js';

// npm run bench -- clock [--seconds S] [--seed N]: the embedded cluster (store and
// three nodes) started with clock errors of up to ±5 s and drifts of up to ±200 ppm,
// run for S seconds (default 60). Ten times a second every member reports its
// synchronised time and the host's CLOCK_MONOTONIC read at the same instant; the
// difference of two members' (now - monotonic) is their exact skew. Converged: the
// first sample from which the largest pairwise skew stays under 1 ms; rounds to
// converge counts the leader's Berkeley rounds until then.

const MEMBERS = ['store', 'node-1', 'node-2', 'node-3'];
const CONVERGED_MS = 1;

interface ClockHealth {
  member: { leader: string | null; clock: { nowMs: number; monotonicMs: number } };
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state / 4294967296;
  };
}

export async function run(args: string[]): Promise<void> {
  const flag = (name: string, fallback: number) => {
    const index = args.indexOf(name);
    const value = index >= 0 ? Number(args[index + 1]) : fallback;
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    return value;
  };
  const seconds = flag('--seconds', 60);
  const random = seeded(flag('--seed', 677));
  const clockSkewMs: Record<string, number> = {};
  const clockDriftPpm: Record<string, number> = {};
  for (const member of MEMBERS) {
    clockSkewMs[member] = Math.round((random() * 2 - 1) * 5000);
    clockDriftPpm[member] = Math.round((random() * 2 - 1) * 200);
  }
  const cluster = await ClusterHarness.start({ nodes: 3, clockSkewMs, clockDriftPpm });
  const samples: Array<{ atMs: number; skewMs: number; rounds: number }> = [];
  const startedMs = performance.now();
  try {
    while (performance.now() - startedMs < seconds * 1000) {
      const tickStart = performance.now();
      const readings = await Promise.all(
        MEMBERS.map(async (member) => {
          const health = (await cluster.get(member, '/api/health')).body as unknown as ClockHealth;
          return health.member.clock.nowMs - health.member.clock.monotonicMs;
        }),
      );
      const rounds = MEMBERS.reduce((count, member) => count + (cluster.logs.get(member) ?? []).filter((line) => line.event === 'clock.round').length, 0);
      samples.push({ atMs: tickStart - startedMs, skewMs: Math.max(...readings) - Math.min(...readings), rounds });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (performance.now() - tickStart))));
    }
  } finally {
    await cluster.stop();
  }
  let convergedIndex = samples.length;
  for (let i = samples.length - 1; i >= 0 && samples[i]!.skewMs < CONVERGED_MS; i--) convergedIndex = i;
  const after = samples.slice(convergedIndex).map((sample) => sample.skewMs).sort((a, b) => a - b);
  const roundsToConverge = convergedIndex < samples.length ? samples[convergedIndex]!.rounds : null;
  const rows = MEMBERS.map((member) => [member, String(clockSkewMs[member]), String(clockDriftPpm[member])]);
  process.stdout.write(renderTable(['member', 'injected skew ms', 'injected drift ppm'], rows) + '\n\n');
  const timeline = [0, 1, 2, 3, 5, 10, 20, 30, 45, 59].filter((second) => second < seconds).map((second) => {
    const sample = samples.find((candidate) => candidate.atMs >= second * 1000) ?? samples.at(-1)!;
    return [String(second), sample.skewMs, String(sample.rounds)];
  });
  process.stdout.write(renderTable(['second', 'largest pairwise skew ms', 'rounds so far'], timeline) + '\n\n');
  const skewMax = after.at(-1) ?? Number.NaN;
  const skewP99 = percentileOfSorted(after, 99);
  process.stdout.write(
    `${samples.length} samples over ${seconds} s; converged (skew < ${CONVERGED_MS} ms from then on) after ${roundsToConverge ?? 'never'} rounds, at ${
      convergedIndex < samples.length ? (samples[convergedIndex]!.atMs / 1000).toFixed(1) + ' s' : '-'
    }; after that: max ${skewMax.toFixed(3)} ms, p99 ${skewP99.toFixed(3)} ms (target: max under 1 ms)\n`,
  );
  process.stdout.write(
    JSON.stringify({ bench: 'clock', rounds_to_converge: roundsToConverge, skew_max_ms: Number(skewMax.toFixed(3)), skew_p99_ms: Number(skewP99.toFixed(3)) }) + '\n',
  );
}

import { runChaos } from './lib/chaos-run.js';
import { renderTable } from './lib/table.js';

// npm run chaos [-- --seed N --faults N --interval-ms MS --subscribers N]: the chaos run
// (bench/lib/chaos-run.ts) with a table of its figures and, as the last line, one JSON
// object. Exits non-zero when any check failed.

export async function run(args: string[]): Promise<void> {
  const flag = (name: string, fallback: number) => {
    const index = args.indexOf(name);
    const value = index >= 0 ? Number(args[index + 1]) : fallback;
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
    return value;
  };
  const report = await runChaos({
    seed: flag('--seed', 20261130),
    faults: flag('--faults', 12),
    faultIntervalMs: flag('--interval-ms', 4000),
    subscribers: flag('--subscribers', 300),
    villagers: flag('--villagers', 20),
    writesPerS: flag('--writes-per-s', 20),
    log: (line) => process.stdout.write(`fault ${line}\n`),
  });
  const rows: Array<[string, number]> = [
    ['faults injected', report.faults],
    ['writes acknowledged', report.writesAcked],
    ['writes refused (503 while the store was down)', report.writesRefused],
    ['acknowledged writes lost', report.writesLost],
    ['updates delivered to subscribers', report.updatesDelivered],
    ['subscriber reconnects', report.reconnects],
    ['subscribers whose final view differs from the store', report.clientDivergence],
    ['gaps seen by subscribers', report.gaps],
    ['changes applied twice by a subscriber', report.duplicatesApplied],
    ['villager requests (tickets)', report.ticketsRequested],
    ['order blocks compared across nodes', report.blocksCompared],
    ['order blocks that differ', report.orderDivergence],
    ['raffle entries reported differently', report.raffleDivergence],
    ['terms with a leader', report.terms],
    ['terms with two leaders', report.dualLeaders],
    ['largest clock skew before a next fault (ms)', report.clockSkewAfterFaultsMaxMs],
    ['final clock skew (ms)', report.finalClockSkewMs],
  ];
  process.stdout.write('\n' + renderTable(['check', 'value'], rows) + '\n\n');
  const ok = report.writesLost === 0 && report.clientDivergence === 0 && report.gaps === 0 && report.duplicatesApplied === 0 && report.orderDivergence === 0 && report.raffleDivergence === 0 && report.dualLeaders === 0 && report.finalClockSkewMs < 25;
  process.stdout.write(ok ? 'all checks passed\n' : 'SOME CHECKS FAILED\n');
  if (!ok) process.exitCode = 1;
  process.stdout.write(
    JSON.stringify({
      bench: 'chaos',
      seed: report.seed,
      faults: report.faults,
      writes_acked: report.writesAcked,
      writes_lost: report.writesLost,
      client_divergence: report.clientDivergence,
      order_divergence: report.orderDivergence,
      dual_leaders: report.dualLeaders,
    }) + '\n',
  );
}

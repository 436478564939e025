import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CATALOG } from '../shared/board.js';
import { SqliteStore } from '../server/store/sqlite-store.js';
import { percentileOfSorted } from './lib/stats.js';
import { renderTable } from './lib/table.js';

// npm run bench -- store [--writes N]: the cost of durability. The same sequential
// medal awards committed with synchronous=FULL (what the store runs: an acknowledged
// write survives power loss) and with NORMAL (survives a crash of the process, not of
// the machine), side by side, alternating rounds so that disk noise hits both alike.

export async function run(args: string[]): Promise<void> {
  const index = args.indexOf('--writes');
  const writes = index >= 0 ? Number(args[index + 1]) : 2000;
  if (!Number.isInteger(writes) || writes < 10) throw new Error('--writes must be a whole number of at least 10');
  const modes = ['FULL', 'NORMAL'] as const;
  const times: Record<string, number[]> = { FULL: [], NORMAL: [] };
  const dirs = modes.map((mode) => mkdtempSync(join(tmpdir(), `olympix-bench-${mode}-`)));
  const stores = modes.map((mode, i) => SqliteStore.open(dirs[i]!, DEFAULT_CATALOG, { synchronous: mode }));
  try {
    for (let i = 0; i < writes; i++) {
      for (const [m, store] of stores.entries()) {
        const started = performance.now();
        store.write(`bench:${i}`, { kind: 'medal', team: 'Gaul', medal: 'gold', delta: 1 }, Date.now(), 'bench');
        times[modes[m]!]!.push(performance.now() - started);
      }
    }
  } finally {
    for (const store of stores) store.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  const rows = modes.map((mode) => {
    const sorted = [...times[mode]!].sort((a, b) => a - b);
    const total = sorted.reduce((sum, ms) => sum + ms, 0);
    return [mode, (writes * 1000) / total, percentileOfSorted(sorted, 50), percentileOfSorted(sorted, 99)] as [string, number, number, number];
  });
  process.stdout.write(renderTable(['synchronous', 'writes/s', 'p50 ms', 'p99 ms'], rows) + '\n\n');
  const ratio = rows[1]![1] / rows[0]![1];
  process.stdout.write(`NORMAL commits ${ratio.toFixed(2)}x as many writes per second as FULL on this disk (${writes} writes each, interleaved)\n`);
  process.stdout.write(JSON.stringify({ bench: 'store', writes, full_writes_per_s: Math.round(rows[0]![1]), normal_writes_per_s: Math.round(rows[1]![1]), normal_over_full: Number(ratio.toFixed(2)) }) + '\n');
}

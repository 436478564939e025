import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// npm run bench -- <name> [flags]: runs bench/<name>.ts, a module that exports
// `async function run(args: string[]): Promise<void>`. A bench's name is one word
// (fanout, memory, election, clock, multicast, store, chaos); files with a hyphen in their name
// (fanout-load.ts, reference-ws-server.ts) and bench/lib/ are its helpers.

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url));
const NAME = /^[a-z0-9]+$/;

function availableBenches(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => file.slice(0, -'.ts'.length))
    .filter((name) => NAME.test(name) && name !== 'run')
    .sort();
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const benches = availableBenches();
  const usage = `usage: npm run bench -- <name> [flags]   (<name> --help for its flags)\navailable benches: ${benches.join(', ') || '(none)'}\n`;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  if (!benches.includes(name)) {
    process.stderr.write(`unknown bench "${name}"\n${usage}`);
    return 2;
  }
  const module = (await import(pathToFileURL(`${BENCH_DIR}${name}.ts`).href)) as { run?: (args: string[]) => Promise<void> };
  if (typeof module.run !== 'function') {
    process.stderr.write(`bench/${name}.ts does not export run(args)\n`);
    return 2;
  }
  await module.run(args);
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

// A bench stops by itself: once run() returns, nothing it left behind (keep-alive
// sockets, timers) may keep the process alive.
process.exit(await main(process.argv.slice(2)));

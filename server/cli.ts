import {
  ConfigError,
  HELP,
  parseClusterConfig,
  parseDispatcherConfig,
  parseNodeConfig,
  parseStoreConfig,
  wantsHelp,
} from './config.js';
import { createLogger, type Log } from './log.js';

// olympix <role> [flags]: one codebase, one CLI, several processes.

const ROLES = ['cluster', 'store', 'node', 'dispatcher', 'tablets'] as const;
type Role = (typeof ROLES)[number];

const USAGE = `usage: olympix <role> [flags]

roles:
  cluster      the embedded default: dispatcher, store and nodes on loopback (what npm start runs)
  store        the data of record
  node         a frontend node
  dispatcher   serves the pages and assigns nodes
  tablets      simulated villagers pulling scores

olympix <role> --help shows the role's flags.`;

interface Stoppable {
  stop(): Promise<void>;
}

async function start(role: Role, args: string[], log: Log): Promise<Stoppable> {
  switch (role) {
    case 'cluster': {
      const { startCluster } = await import('./cluster/cluster.js');
      const cluster = await startCluster(parseClusterConfig(args, process.env), log, (text) => process.stdout.write(text + '\n'));
      return cluster;
    }
    case 'store': {
      const { startStore } = await import('./store/store-process.js');
      const store = await startStore(parseStoreConfig(args, process.env), log);
      return { stop: () => store.close() };
    }
    case 'node': {
      const { startNode } = await import('./node/node-process.js');
      const node = await startNode(parseNodeConfig(args, process.env), log);
      return { stop: () => node.close() };
    }
    case 'dispatcher': {
      const { buildDispatcher } = await import('./dispatcher/dispatcher-app.js');
      const config = parseDispatcherConfig(args);
      const dispatcher = await buildDispatcher({ config, log });
      await dispatcher.app.listen({ host: config.host, port: config.port });
      log('dispatcher.listening', { url: `http://${config.host}:${config.port}`, nodes: config.nodes.map((node) => node.id) });
      return { stop: () => dispatcher.close() };
    }
    case 'tablets': {
      const { runTablets } = await import('./tablets.js');
      await runTablets(args, (text) => process.stdout.write(text + '\n'));
      return { stop: async () => {} };
    }
  }
}

function idOf(role: Role, args: string[]): string {
  const index = args.indexOf('--id');
  if (index >= 0 && args[index + 1]) return args[index + 1]!;
  return role === 'store' ? 'store' : role;
}

export async function main(argv: string[]): Promise<number> {
  const [roleArg, ...args] = argv;
  if (roleArg === undefined || roleArg === '--help' || roleArg === '-h' || roleArg === 'help') {
    process.stdout.write(USAGE + '\n');
    return roleArg === undefined ? 2 : 0;
  }
  if (!(ROLES as readonly string[]).includes(roleArg)) {
    process.stderr.write(`olympix: unknown role "${roleArg}"\n\n${USAGE}\n`);
    return 2;
  }
  const role = roleArg as Role;
  if (wantsHelp(args)) {
    process.stdout.write(HELP[role] + '\n');
    return 0;
  }
  const log = createLogger({ role, id: idOf(role, args) });
  let running: Stoppable;
  try {
    running = await start(role, args, log);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`olympix ${role}: ${error.message}\n(see: olympix ${role} --help)\n`);
      return 2;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(`olympix ${role}: ${(error as Error).message}: another process uses that port; pick another with --port\n`);
      return 1;
    }
    process.stderr.write(`olympix ${role}: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
  if (role === 'tablets') return 0;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      log('process.stopping', { why });
      running.stop().then(resolve, (error) => {
        process.stderr.write(`olympix ${role}: error while stopping: ${String(error)}\n`);
        resolve();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // A supervised child exits when its supervisor's end of stdin closes: no orphans.
    if (process.env.OLYMPIX_SUPERVISED === '1') {
      process.stdin.on('end', () => stop('supervisor gone'));
      process.stdin.on('error', () => stop('supervisor gone'));
      process.stdin.resume();
    }
  });
  return 0;
}

const exitCode = await main(process.argv.slice(2));
process.exit(exitCode);

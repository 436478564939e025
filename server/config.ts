import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Catalog, DEFAULT_CATALOG, NAME_PATTERN } from '../shared/board.js';
import { check } from '../shared/validate.js';

// Command-line flags and environment of every role, parsed into typed configs. Bad
// input fails with a ConfigError that says what is wrong and how to fix it; secrets
// come from the environment or a file, never from flags, so that they do not show
// in `ps`.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface MemberAddress {
  id: string;
  /** Base URL, e.g. http://127.0.0.1:4011; the peer link is ws://…/peer. */
  url: string;
}

export interface CommonConfig {
  host: string;
  port: number;
  dataDir: string;
  clockSkewMs: number;
  clockDriftPpm: number;
  leaderElection: boolean;
  clockSync: boolean;
  /** The peers of this process (store and nodes), each with its base URL. */
  peers: MemberAddress[];
}

export interface StoreConfig extends CommonConfig {
  id: string;
  catalog: Catalog;
  secret: string;
  /** The write token, for the store's fault controls; null (controls refused) when not given. */
  token: string | null;
}

export interface NodeConfig extends CommonConfig {
  id: string;
  token: string;
  secret: string;
  allowedOrigins: string[];
  historyLimit: number;
  raffle: boolean;
  raffleEveryN: number;
  dispatcher: string | null;
  /** Concurrent page WebSockets per client address, and in all. */
  clientsPerAddressMax: number;
  clientsMax: number;
}

export interface DispatcherConfig {
  host: string;
  port: number;
  nodes: MemberAddress[];
  /** The cluster supervisor's control API, proxied at /api/control/*; null: fault controls answer 503. */
  control: string | null;
}

export interface ClusterConfig {
  host: string;
  port: number;
  nodes: number;
  dataDir: string;
  catalog: Catalog;
  token: string | null;
  leaderElection: boolean;
  clockSync: boolean;
  raffle: boolean;
  raffleEveryN: number;
  /** Per-member injected clock error for demos: "node-2=1500,store=-3000". */
  clockSkewMs: Record<string, number>;
  clockDriftPpm: Record<string, number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const commonOptions = {
  help: { type: 'boolean', short: 'h' },
  host: { type: 'string' },
  port: { type: 'string' },
} satisfies Options;

const memberOptions = {
  ...commonOptions,
  id: { type: 'string' },
  peer: { type: 'string', multiple: true },
  'data-dir': { type: 'string' },
  'secret-file': { type: 'string' },
  'clock-skew-ms': { type: 'string' },
  'clock-drift-ppm': { type: 'string' },
  'no-leader-election': { type: 'boolean' },
  'no-clock-sync': { type: 'boolean' },
} satisfies Options;

const catalogOptions = {
  catalog: { type: 'string' },
  teams: { type: 'string' },
  events: { type: 'string' },
} satisfies Options;

export const HELP = {
  store: `olympix store — the data of record (SQLite), a member of the election and clock sync

  --id ID               member id (default: store)
  --host HOST           listen address (default: 127.0.0.1)
  --port PORT           port for peer links and /api/health (default: 4010)
  --data-dir DIR        where olympix.sqlite3 lives (default: ./data)
  --peer ID=URL         a node, e.g. node-1=http://127.0.0.1:4011 (repeat for each)
  --catalog FILE        JSON {"teams": [...], "events": [...]}
  --teams A,B           teams (default: Gaul,Rome)
  --events X,Y          events (default: Stone Curling,Stone Skating,Luge)
  --secret-file FILE    the cluster secret (or env OLYMPIX_CLUSTER_SECRET)
  --token-file FILE     the write token, for the fault controls (or env OLYMPIX_WRITE_TOKEN; optional)
  --clock-skew-ms MS    start with this clock error (demos and tests)
  --clock-drift-ppm PPM run the clock this much fast (+) or slow (-)
  --no-leader-election  keep a fixed leader: the member with the highest id (the store)
  --no-clock-sync       never adjust clocks`,
  node: `olympix node — a frontend node: browser WebSockets, pull API, writes, peer mesh

  --id ID               member id, e.g. node-1 (required)
  --host HOST           listen address (default: 127.0.0.1)
  --port PORT           port for browsers, the API and peer links (default: 4011)
  --peer ID=URL         another member, e.g. store=http://127.0.0.1:4010 (repeat; one must be the store)
  --dispatcher URL      the dispatcher's base URL, allowed as a page origin
  --allow-origin ORIGIN another origin allowed to open WebSockets and write ("*" for any; repeat)
  --data-dir DIR        where the node keeps its election vote (default: ./data)
  --history N           changes kept for resuming clients (default: 10000)
  --raffle-every N      every Nth ticket enters the raffle (default: 100)
  --no-raffle           no raffle
  --max-clients N       concurrent page WebSockets on this node (default: 20000)
  --max-clients-per-address N
                        of which from one address, IPv6 counted per /64 (default: 1000;
                        raise it behind a reverse proxy, where all pages share its address)
  --token-file FILE     the write token (or env OLYMPIX_WRITE_TOKEN)
  --secret-file FILE    the cluster secret (or env OLYMPIX_CLUSTER_SECRET)
  --clock-skew-ms MS, --clock-drift-ppm PPM, --no-leader-election, --no-clock-sync: as for the store`,
  dispatcher: `olympix dispatcher — serves the pages and assigns each browser the least-loaded node

  --host HOST           listen address (default: 127.0.0.1)
  --port PORT           port (default: 4000)
  --node ID=URL         a node, e.g. node-1=http://127.0.0.1:4011 (repeat for each)
  --control URL         the cluster supervisor's control API (fault controls), proxied at /api/control/*`,
  cluster: `olympix cluster — the embedded default: dispatcher, store and nodes as supervised child processes

  --host HOST           listen address of every process (default: 127.0.0.1)
  --port PORT           the dispatcher's port; the store takes PORT+10, nodes PORT+11..., the fault
                        controls PORT+9 on 127.0.0.1 (default: 4000)
  --nodes N             how many frontend nodes (default: 3)
  --data-dir DIR        the store's and nodes' data (default: ./data)
  --catalog FILE, --teams A,B, --events X,Y: as for the store
  --raffle-every N, --no-raffle, --no-leader-election, --no-clock-sync: as for a node
  --clock-skew ID=MS    start a member with a clock error, e.g. node-2=1500 (repeat)
  --clock-drift ID=PPM  run a member's clock fast or slow, e.g. store=-150 (repeat)
  The write token comes from env OLYMPIX_WRITE_TOKEN or --token-file, else one is made and printed.
  --token-file FILE     the write token`,
  tablets: `olympix tablets — villagers who pull scores through the dispatcher, as the seed's clients did

  --dispatcher URL      the dispatcher (default: http://127.0.0.1:4000)
  --count N             how many villagers (default: 10)
  --rate R              pulls per second per villager (default: 1)
  --duration S          stop after S seconds (default: 10; 0 = until Ctrl+C)
  --quiet               print only the summary`,
} as const;

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function integerFlag(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(`--${name} must be a whole number, got "${value}"`);
  const number = Number(value);
  if (number < min || number > max) throw new ConfigError(`--${name} must be between ${min} and ${max}, got ${number}`);
  return number;
}

export function numberFlag(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) throw new ConfigError(`--${name} must be a number, got "${value}"`);
  if (number < min || number > max) throw new ConfigError(`--${name} must be between ${min} and ${max}, got ${number}`);
  return number;
}

function dataDirFlag(value: string | undefined): string {
  if (value === undefined) return './data';
  if (value.trim() === '') throw new ConfigError('--data-dir must name a directory, got an empty value');
  return value;
}

function hostFlag(value: string | undefined): string {
  const host = value ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) throw new ConfigError(`--host must be a host name or address, got "${host}"`);
  return host;
}

export function parseMember(value: string, flag: string): MemberAddress {
  const match = /^([A-Za-z0-9._-]{1,64})=(https?:\/\/[^\s/]+)\/?$/.exec(value);
  if (!match) throw new ConfigError(`--${flag} must look like node-1=http://127.0.0.1:4011, got "${value}"`);
  return { id: match[1]!, url: match[2]! };
}

function members(values: string[] | undefined, flag: string): MemberAddress[] {
  const list = (values ?? []).map((value) => parseMember(value, flag));
  const seen = new Set<string>();
  for (const member of list) {
    if (seen.has(member.id)) throw new ConfigError(`--${flag} lists ${member.id} twice`);
    seen.add(member.id);
  }
  return list;
}

/** A secret from the environment or a file; never from a flag. */
export function readSecret(env: NodeJS.ProcessEnv, variable: string, file: string | undefined, what: string): string {
  let secret: string | undefined;
  if (file !== undefined) {
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`cannot read the ${what} from ${file}: ${(error as Error).message}`);
    }
  } else {
    secret = env[variable]?.trim();
  }
  if (!secret) throw new ConfigError(`no ${what}: set ${variable} in the environment or pass --${what === 'write token' ? 'token' : 'secret'}-file FILE`);
  if (!/^[\x21-\x7e]{16,256}$/.test(secret)) {
    throw new ConfigError(`the ${what} must be 16 to 256 printable characters without spaces`);
  }
  return secret;
}

export function parseCatalog(values: { catalog?: string | undefined; teams?: string | undefined; events?: string | undefined }): Catalog {
  let catalog: Catalog = { teams: [...DEFAULT_CATALOG.teams], events: [...DEFAULT_CATALOG.events] };
  if (values.catalog !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(values.catalog, 'utf8'));
    } catch (error) {
      throw new ConfigError(`cannot read the catalog ${values.catalog}: ${(error as Error).message}`);
    }
    const checked = check(Catalog, json);
    if (!checked.ok) throw new ConfigError(`the catalog ${values.catalog} is invalid at ${checked.error}`);
    catalog = checked.value;
  }
  const list = (value: string, flag: string): string[] => {
    const names = value.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const pattern = new RegExp(NAME_PATTERN);
    if (names.length === 0) throw new ConfigError(`--${flag} needs at least one name`);
    for (const name of names) {
      if (name.length > 64 || !pattern.test(name)) throw new ConfigError(`--${flag}: "${name}" is not a valid name (1-64 characters, no "/" or ":")`);
    }
    if (new Set(names).size !== names.length) throw new ConfigError(`--${flag} lists a name twice`);
    return names;
  };
  if (values.teams !== undefined) catalog = { ...catalog, teams: list(values.teams, 'teams') };
  if (values.events !== undefined) catalog = { ...catalog, events: list(values.events, 'events') };
  return catalog;
}

function common(values: Record<string, unknown>, defaultPort: number): CommonConfig {
  const get = (name: string) => values[name] as string | undefined;
  return {
    host: hostFlag(get('host')),
    port: integerFlag(get('port'), 'port', defaultPort, 0, 65535),
    dataDir: dataDirFlag(get('data-dir')),
    clockSkewMs: numberFlag(get('clock-skew-ms'), 'clock-skew-ms', 0, -86_400_000, 86_400_000),
    clockDriftPpm: numberFlag(get('clock-drift-ppm'), 'clock-drift-ppm', 0, -10_000, 10_000),
    leaderElection: values['no-leader-election'] !== true,
    clockSync: values['no-clock-sync'] !== true,
    peers: members(values['peer'] as string[] | undefined, 'peer'),
  };
}

export function parseStoreConfig(args: string[], env: NodeJS.ProcessEnv): StoreConfig {
  const values = parse(args, { ...memberOptions, ...catalogOptions, 'token-file': { type: 'string' } });
  // The nodes find the store by this id (--peer store=URL): it is not a free choice.
  const id = values.id ?? 'store';
  if (id !== 'store') throw new ConfigError(`--id of the store must be "store" (the nodes know it by that id), got "${id}"`);
  return {
    ...common(values, 4010),
    id,
    catalog: parseCatalog(values),
    secret: readSecret(env, 'OLYMPIX_CLUSTER_SECRET', values['secret-file'], 'cluster secret'),
    token: values['token-file'] !== undefined || (env.OLYMPIX_WRITE_TOKEN ?? '').trim() !== '' ? readSecret(env, 'OLYMPIX_WRITE_TOKEN', values['token-file'], 'write token') : null,
  };
}

export function parseNodeConfig(args: string[], env: NodeJS.ProcessEnv): NodeConfig {
  const values = parse(args, {
    ...memberOptions,
    dispatcher: { type: 'string' },
    'allow-origin': { type: 'string', multiple: true },
    history: { type: 'string' },
    'raffle-every': { type: 'string' },
    'no-raffle': { type: 'boolean' },
    'token-file': { type: 'string' },
    'max-clients': { type: 'string' },
    'max-clients-per-address': { type: 'string' },
  });
  if (values.id === undefined) throw new ConfigError('--id is required, e.g. --id node-1');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.id)) throw new ConfigError(`--id must be 1-64 characters of [A-Za-z0-9._-], got "${values.id}"`);
  const config = common(values, 4011);
  const dispatcher = values.dispatcher === undefined ? null : originOf(values.dispatcher, 'dispatcher');
  const allowedOrigins = [...(values['allow-origin'] ?? []).map((origin) => (origin === '*' ? '*' : originOf(origin, 'allow-origin')))];
  if (dispatcher) allowedOrigins.push(dispatcher);
  return {
    ...config,
    id: values.id,
    token: readSecret(env, 'OLYMPIX_WRITE_TOKEN', values['token-file'], 'write token'),
    secret: readSecret(env, 'OLYMPIX_CLUSTER_SECRET', values['secret-file'], 'cluster secret'),
    allowedOrigins,
    historyLimit: integerFlag(values.history, 'history', 10_000, 1, 1_000_000),
    raffle: values['no-raffle'] !== true,
    raffleEveryN: integerFlag(values['raffle-every'], 'raffle-every', 100, 1, 1_000_000),
    dispatcher,
    clientsMax: integerFlag(values['max-clients'], 'max-clients', 20_000, 1, 1_000_000),
    clientsPerAddressMax: integerFlag(values['max-clients-per-address'], 'max-clients-per-address', 1000, 1, 1_000_000),
  };
}

export function parseDispatcherConfig(args: string[]): DispatcherConfig {
  const values = parse(args, { ...commonOptions, node: { type: 'string', multiple: true }, control: { type: 'string' } });
  const nodes = members(values.node, 'node');
  if (nodes.length === 0) throw new ConfigError('--node is required at least once, e.g. --node node-1=http://127.0.0.1:4011');
  return {
    host: hostFlag(values.host),
    port: integerFlag(values.port, 'port', 4000, 0, 65535),
    nodes,
    control: values.control === undefined ? null : originOf(values.control, 'control'),
  };
}

export function parseClusterConfig(args: string[], env: NodeJS.ProcessEnv): ClusterConfig {
  const values = parse(args, {
    ...commonOptions,
    ...catalogOptions,
    nodes: { type: 'string' },
    'data-dir': { type: 'string' },
    'token-file': { type: 'string' },
    'raffle-every': { type: 'string' },
    'no-raffle': { type: 'boolean' },
    'no-leader-election': { type: 'boolean' },
    'no-clock-sync': { type: 'boolean' },
    'clock-skew': { type: 'string', multiple: true },
    'clock-drift': { type: 'string', multiple: true },
  });
  const perMember = (list: string[] | undefined, flag: string, limit: number): Record<string, number> => {
    const result: Record<string, number> = {};
    for (const item of list ?? []) {
      const match = /^([A-Za-z0-9._-]{1,64})=(-?\d+(?:\.\d+)?)$/.exec(item);
      if (!match) throw new ConfigError(`--${flag} must look like node-2=1500, got "${item}"`);
      const value = Number(match[2]);
      if (Math.abs(value) > limit) throw new ConfigError(`--${flag} for ${match[1]} must be within ±${limit}`);
      result[match[1]!] = value;
    }
    return result;
  };
  const hasToken = values['token-file'] !== undefined || (env.OLYMPIX_WRITE_TOKEN ?? '').trim() !== '';
  return {
    host: hostFlag(values.host),
    port: integerFlag(values.port, 'port', 4000, 1, 65535 - 20),
    nodes: integerFlag(values.nodes, 'nodes', 3, 1, 9),
    dataDir: dataDirFlag(values['data-dir']),
    catalog: parseCatalog(values),
    token: hasToken ? readSecret(env, 'OLYMPIX_WRITE_TOKEN', values['token-file'], 'write token') : null,
    leaderElection: values['no-leader-election'] !== true,
    clockSync: values['no-clock-sync'] !== true,
    raffle: values['no-raffle'] !== true,
    raffleEveryN: integerFlag(values['raffle-every'], 'raffle-every', 100, 1, 1_000_000),
    clockSkewMs: perMember(values['clock-skew'], 'clock-skew', 86_400_000),
    clockDriftPpm: perMember(values['clock-drift'], 'clock-drift', 10_000),
  };
}

export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

function originOf(value: string, flag: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    return url.origin;
  } catch {
    throw new ConfigError(`--${flag} must be an http(s) URL like http://127.0.0.1:4000, got "${value}"`);
  }
}

/** ws://host:port/peer for a member's base URL. */
export function peerUrl(baseUrl: string): string {
  return baseUrl.replace(/^http/, 'ws') + '/peer';
}

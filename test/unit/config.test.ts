import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CATALOG } from '../../shared/board.js';
import {
  ConfigError,
  integerFlag,
  numberFlag,
  parseCatalog,
  parseClusterConfig,
  parseDispatcherConfig,
  parseMember,
  parseNodeConfig,
  parseStoreConfig,
  peerUrl,
  readSecret,
  wantsHelp,
} from '../../server/config.js';

const SECRET = 'cluster-secret-0123456789';
const TOKEN = 'write-token-0123456789';
const env: NodeJS.ProcessEnv = { OLYMPIX_CLUSTER_SECRET: SECRET, OLYMPIX_WRITE_TOKEN: TOKEN };

const dir = mkdtempSync(join(tmpdir(), 'olympix-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
/** Writes a temporary file and returns its path. */
function tempFile(content: string): string {
  const path = join(dir, `file-${++fileCounter}`);
  writeFileSync(path, content);
  return path;
}

/** Asserts that fn throws a ConfigError whose message contains every one of the given parts. */
function assertConfigError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.name, 'ConfigError');
    for (const part of parts) assert.ok(error.message.includes(part), `"${error.message}" should mention ${part}`);
    return true;
  });
}

describe('defaults', () => {
  test('the store with no flags listens on 127.0.0.1:4010 with the default catalog', () => {
    // Checks every field of parseStoreConfig([]) with the secret from the environment.
    assert.deepEqual(parseStoreConfig([], env), {
      host: '127.0.0.1',
      port: 4010,
      dataDir: './data',
      clockSkewMs: 0,
      clockDriftPpm: 0,
      leaderElection: true,
      clockSync: true,
      peers: [],
      id: 'store',
      catalog: DEFAULT_CATALOG,
      secret: SECRET,
      token: env.OLYMPIX_WRITE_TOKEN ?? null,
    });
  });

  test('a node with only --id listens on 4011 with history 10000 and the raffle on', () => {
    // Checks every field of parseNodeConfig(['--id', 'node-1']) with secrets from the environment.
    assert.deepEqual(parseNodeConfig(['--id', 'node-1'], env), {
      host: '127.0.0.1',
      port: 4011,
      dataDir: './data',
      clockSkewMs: 0,
      clockDriftPpm: 0,
      leaderElection: true,
      clockSync: true,
      peers: [],
      id: 'node-1',
      token: TOKEN,
      secret: SECRET,
      allowedOrigins: [],
      historyLimit: 10_000,
      raffle: true,
      raffleEveryN: 100,
      dispatcher: null,
      clientsMax: 20_000,
      clientsPerAddressMax: 1000,
    });
  });

  test('the dispatcher defaults to port 4000 and keeps its nodes in order', () => {
    // Checks parseDispatcherConfig with two --node flags, one with a trailing slash.
    assert.deepEqual(parseDispatcherConfig(['--node', 'node-1=http://127.0.0.1:4011/', '--node', 'node-2=http://127.0.0.1:4012']), {
      host: '127.0.0.1',
      port: 4000,
      nodes: [
        { id: 'node-1', url: 'http://127.0.0.1:4011' },
        { id: 'node-2', url: 'http://127.0.0.1:4012' },
      ],
      control: null,
    });
  });

  test('the cluster with no flags and no token in the environment makes one later (token null)', () => {
    // Checks every field of parseClusterConfig([], {}).
    assert.deepEqual(parseClusterConfig([], {}), {
      host: '127.0.0.1',
      port: 4000,
      nodes: 3,
      dataDir: './data',
      catalog: DEFAULT_CATALOG,
      token: null,
      leaderElection: true,
      clockSync: true,
      raffle: true,
      raffleEveryN: 100,
      clockSkewMs: {},
      clockDriftPpm: {},
    });
  });

  test('flags override the defaults', () => {
    // Checks a store and a node with most flags given.
    const store = parseStoreConfig(
      ['--id', 'store', '--host', '0.0.0.0', '--port', '5010', '--data-dir', '/var/olympix', '--peer', 'node-1=http://10.0.0.2:4011',
        '--clock-skew-ms=-1500', '--clock-drift-ppm', '12.5', '--no-leader-election', '--no-clock-sync', '--teams', 'Gaul,Rome,Britons'],
      env,
    );
    assert.equal(store.id, 'store');
    assert.equal(store.host, '0.0.0.0');
    assert.equal(store.port, 5010);
    assert.equal(store.dataDir, '/var/olympix');
    assert.deepEqual(store.peers, [{ id: 'node-1', url: 'http://10.0.0.2:4011' }]);
    assert.equal(store.clockSkewMs, -1500);
    assert.equal(store.clockDriftPpm, 12.5);
    assert.equal(store.leaderElection, false);
    assert.equal(store.clockSync, false);
    assert.deepEqual(store.catalog.teams, ['Gaul', 'Rome', 'Britons']);

    const node = parseNodeConfig(
      ['--id', 'node-2', '--dispatcher', 'http://127.0.0.1:4000/index.html', '--allow-origin', 'https://scores.example', '--allow-origin', '*',
        '--history', '50', '--raffle-every', '7', '--no-raffle'],
      env,
    );
    assert.equal(node.dispatcher, 'http://127.0.0.1:4000');
    assert.deepEqual(node.allowedOrigins, ['https://scores.example', '*', 'http://127.0.0.1:4000']);
    assert.equal(node.historyLimit, 50);
    assert.equal(node.raffleEveryN, 7);
    assert.equal(node.raffle, false);

    const cluster = parseClusterConfig(['--nodes', '5', '--port', '5000', '--clock-skew', 'node-2=1500', '--clock-skew', 'store=-3000.5', '--clock-drift', 'store=-150'], {});
    assert.equal(cluster.nodes, 5);
    assert.equal(cluster.port, 5000);
    assert.deepEqual(cluster.clockSkewMs, { 'node-2': 1500, store: -3000.5 });
    assert.deepEqual(cluster.clockDriftPpm, { store: -150 });
  });

  test('wantsHelp sees --help and -h anywhere', () => {
    // Checks a table of argument lists.
    const table: Array<[args: string[], expected: boolean]> = [
      [[], false],
      [['--help'], true],
      [['--port', '1', '-h'], true],
      [['--helpful'], false],
    ];
    for (const [args, expected] of table) assert.equal(wantsHelp(args), expected, args.join(' '));
  });
});

describe('bad flags name the flag', () => {
  test('unknown flags, missing values and positionals are ConfigErrors naming the argument', () => {
    // Checks parseArgs' own errors are turned into ConfigError for every role.
    assertConfigError(() => parseStoreConfig(['--bogus'], env), '--bogus');
    assertConfigError(() => parseNodeConfig(['--id', 'node-1', '--bogus=1'], env), '--bogus');
    assertConfigError(() => parseDispatcherConfig(['--node', 'node-1=http://127.0.0.1:4011', '--peer', 'x=http://a']), '--peer');
    assertConfigError(() => parseClusterConfig(['--id', 'x'], {}), '--id');
    assertConfigError(() => parseStoreConfig(['--port'], env), '--port');
    assertConfigError(() => parseStoreConfig(['extra'], env), 'extra');
    // A flag of another role is unknown here: the store has no --dispatcher.
    assertConfigError(() => parseStoreConfig(['--dispatcher', 'x'], env), '--dispatcher');
  });

  test('ports must be whole numbers within range', () => {
    // Checks a table of bad --port values for each role.
    const table: Array<[args: string[], parts: string[]]> = [
      [['--port', 'abc'], ['--port', 'abc']],
      [['--port', '4010.5'], ['--port', 'whole number']],
      [['--port', ''], ['--port']],
      [['--port=-1'], ['--port', 'between']],
      // parseArgs will not take a value that starts with a dash without "=": its message says so.
      [['--port', '-1'], ['--port', '--port=-XYZ']],
      [['--port', '65536'], ['--port', 'between', '65536']],
      [['--port', '99999999999999999999'], ['--port']],
    ];
    for (const [args, parts] of table) {
      assertConfigError(() => parseStoreConfig(args, env), ...parts);
      assertConfigError(() => parseNodeConfig(['--id', 'node-1', ...args], env), ...parts);
      assertConfigError(() => parseDispatcherConfig(['--node', 'n=http://a:1', ...args]), ...parts);
      assertConfigError(() => parseClusterConfig(args, {}), ...parts);
    }
    // The cluster needs room for the store and nodes above its port.
    assertConfigError(() => parseClusterConfig(['--port', '65530'], {}), '--port', '65515');
    assertConfigError(() => parseClusterConfig(['--port', '0'], {}), '--port');
  });

  test('bad --peer and --node values, and duplicates, name the flag', () => {
    // Checks a table of malformed member addresses and a repeated id.
    for (const bad of ['node-1', 'node-1=', '=http://127.0.0.1:1', 'node 1=http://127.0.0.1:1', 'node-1=ws://127.0.0.1:1', 'node-1=http://127.0.0.1:1/peer', 'node-1=127.0.0.1:4011']) {
      assertConfigError(() => parseStoreConfig(['--peer', bad], env), '--peer', bad);
      assertConfigError(() => parseDispatcherConfig(['--node', bad]), '--node', bad);
    }
    assertConfigError(() => parseStoreConfig(['--peer', 'node-1=http://a:1', '--peer', 'node-1=http://b:2'], env), '--peer', 'node-1', 'twice');
    assertConfigError(() => parseDispatcherConfig(['--node', 'n=http://a:1', '--node', 'n=http://a:1']), '--node', 'twice');
    assertConfigError(() => parseDispatcherConfig([]), '--node');
  });

  test('a node needs a valid --id', () => {
    // Checks the missing and malformed id messages.
    assertConfigError(() => parseNodeConfig([], env), '--id');
    for (const bad of ['', 'node 1', 'node/1', 'x'.repeat(65)]) assertConfigError(() => parseNodeConfig(['--id', bad], env), '--id');
  });

  test('a store --id other than "store", which the nodes look for, is refused', () => {
    // Checks that the store validates --id like the node does (parseMember only accepts [A-Za-z0-9._-]{1,64}).
    for (const bad of ['', 'bad id/x', 'store-a', 'x'.repeat(65)]) assertConfigError(() => parseStoreConfig(['--id', bad], env), '--id');
  });

  test('an empty --data-dir is refused', () => {
    // Checks the store, the node and the cluster with an empty data directory.
    assertConfigError(() => parseStoreConfig(['--data-dir='], env), '--data-dir');
    assertConfigError(() => parseNodeConfig(['--id', 'node-1', '--data-dir='], env), '--data-dir');
    assertConfigError(() => parseClusterConfig(['--data-dir='], {}), '--data-dir');
  });

  test('bad numbers for the other numeric flags name the flag', () => {
    // Checks --history, --raffle-every, --nodes, --clock-skew-ms, --clock-drift-ppm, --clock-skew, --clock-drift.
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--history', '0'], env), '--history');
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--history', 'lots'], env), '--history');
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--raffle-every', '1.5'], env), '--raffle-every');
    assertConfigError(() => parseClusterConfig(['--nodes', '10'], {}), '--nodes', 'between 1 and 9');
    assertConfigError(() => parseClusterConfig(['--nodes', '0'], {}), '--nodes');
    assertConfigError(() => parseStoreConfig(['--clock-skew-ms', 'soon'], env), '--clock-skew-ms');
    assertConfigError(() => parseStoreConfig(['--clock-skew-ms', '86400001'], env), '--clock-skew-ms');
    assertConfigError(() => parseStoreConfig(['--clock-drift-ppm', 'Infinity'], env), '--clock-drift-ppm');
    assertConfigError(() => parseClusterConfig(['--clock-skew', 'node-2'], {}), '--clock-skew', 'node-2');
    assertConfigError(() => parseClusterConfig(['--clock-skew', 'node-2=fast'], {}), '--clock-skew');
    assertConfigError(() => parseClusterConfig(['--clock-drift', 'store=-20000'], {}), '--clock-drift', 'store');
  });

  test('bad --host, --dispatcher and --allow-origin name the flag', () => {
    // Checks a host with a space, and origins that are not http(s) URLs.
    assertConfigError(() => parseStoreConfig(['--host', 'a b'], env), '--host');
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--dispatcher', 'ftp://127.0.0.1'], env), '--dispatcher');
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--dispatcher', 'not a url'], env), '--dispatcher');
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--allow-origin', 'example.org'], env), '--allow-origin');
  });

  test("the dispatcher's --control is kept as an origin, and a bad one names the flag", () => {
    // Checks a URL with a trailing path (only the origin is kept) and one that is not http(s).
    assert.equal(parseDispatcherConfig(['--node', 'n=http://a:1', '--control', 'http://127.0.0.1:4009/']).control, 'http://127.0.0.1:4009');
    assertConfigError(() => parseDispatcherConfig(['--node', 'n=http://a:1', '--control', 'ws://127.0.0.1:4009']), '--control');
  });
});

describe('integerFlag and numberFlag', () => {
  test('integerFlag parses whole numbers within bounds and returns the fallback when absent', () => {
    // Checks a table of values against [1, 100] with fallback 7.
    const table: Array<[value: string | undefined, expected: number | 'error']> = [
      [undefined, 7],
      ['1', 1],
      ['100', 100],
      [' 42 ', 42],
      ['0', 'error'],
      ['101', 'error'],
      ['', 'error'],
      ['1.0', 'error'],
      ['1e2', 'error'],
      ['0x10', 'error'],
      ['12abc', 'error'],
      ['+5', 'error'],
    ];
    for (const [value, expected] of table) {
      if (expected === 'error') assertConfigError(() => integerFlag(value, 'count', 7, 1, 100), '--count');
      else assert.equal(integerFlag(value, 'count', 7, 1, 100), expected, `"${value}"`);
    }
  });

  test('numberFlag parses finite numbers within bounds and returns the fallback when absent', () => {
    // Checks a table of values against [-10, 10] with fallback 0.5.
    const table: Array<[value: string | undefined, expected: number | 'error']> = [
      [undefined, 0.5],
      ['-10', -10],
      ['2.25', 2.25],
      ['1e1', 10],
      ['', 'error'],
      ['  ', 'error'],
      ['abc', 'error'],
      ['NaN', 'error'],
      ['Infinity', 'error'],
      ['10.01', 'error'],
      ['-11', 'error'],
    ];
    for (const [value, expected] of table) {
      if (expected === 'error') assertConfigError(() => numberFlag(value, 'rate', 0.5, -10, 10), '--rate');
      else assert.equal(numberFlag(value, 'rate', 0.5, -10, 10), expected, `"${value}"`);
    }
  });
});

describe('parseMember and peerUrl', () => {
  test('parseMember accepts id=http(s)://host[:port] with an optional trailing slash', () => {
    // Checks a table of good and bad member addresses.
    const table: Array<[value: string, expected: { id: string; url: string } | 'error']> = [
      ['node-1=http://127.0.0.1:4011', { id: 'node-1', url: 'http://127.0.0.1:4011' }],
      ['node-1=http://127.0.0.1:4011/', { id: 'node-1', url: 'http://127.0.0.1:4011' }],
      ['store=https://store.example', { id: 'store', url: 'https://store.example' }],
      ['a.b_c-9=http://[::1]:4011', { id: 'a.b_c-9', url: 'http://[::1]:4011' }],
      ['node-1=ws://127.0.0.1:4011', 'error'],
      ['node-1=http://127.0.0.1:4011/x', 'error'],
      ['node-1=http://', 'error'],
      ['node-1 = http://127.0.0.1', 'error'],
      [`${'x'.repeat(65)}=http://a`, 'error'],
      ['', 'error'],
    ];
    for (const [value, expected] of table) {
      if (expected === 'error') assertConfigError(() => parseMember(value, 'peer'), '--peer');
      else assert.deepEqual(parseMember(value, 'peer'), expected, value);
    }
  });

  test('peerUrl turns a base URL into its /peer WebSocket URL', () => {
    // Checks http and https.
    assert.equal(peerUrl('http://127.0.0.1:4011'), 'ws://127.0.0.1:4011/peer');
    assert.equal(peerUrl('https://node.example'), 'wss://node.example/peer');
  });
});

describe('secrets', () => {
  test('a secret comes from the environment, trimmed', () => {
    // Checks readSecret with only the environment variable set.
    assert.equal(readSecret({ OLYMPIX_CLUSTER_SECRET: `  ${SECRET}\n` }, 'OLYMPIX_CLUSTER_SECRET', undefined, 'cluster secret'), SECRET);
  });

  test('a secret file wins over the environment, and its trailing newline is dropped', () => {
    // Checks readSecret with both a file and the variable.
    const file = tempFile(`${TOKEN}-from-file\n`);
    assert.equal(readSecret(env, 'OLYMPIX_WRITE_TOKEN', file, 'write token'), `${TOKEN}-from-file`);
  });

  test('a missing secret mentions the environment variable and the file flag', () => {
    // Checks the message for the cluster secret and the write token, with an empty and a blank variable.
    assertConfigError(() => readSecret({}, 'OLYMPIX_CLUSTER_SECRET', undefined, 'cluster secret'), 'OLYMPIX_CLUSTER_SECRET', '--secret-file');
    assertConfigError(() => readSecret({ OLYMPIX_WRITE_TOKEN: '   ' }, 'OLYMPIX_WRITE_TOKEN', undefined, 'write token'), 'OLYMPIX_WRITE_TOKEN', '--token-file');
    assertConfigError(() => parseStoreConfig([], {}), 'OLYMPIX_CLUSTER_SECRET');
    assertConfigError(() => parseNodeConfig(['--id', 'node-1'], { OLYMPIX_CLUSTER_SECRET: SECRET }), 'OLYMPIX_WRITE_TOKEN');
    assertConfigError(() => parseNodeConfig(['--id', 'node-1'], { OLYMPIX_WRITE_TOKEN: TOKEN }), 'OLYMPIX_CLUSTER_SECRET');
    assertConfigError(() => readSecret({}, 'OLYMPIX_WRITE_TOKEN', tempFile('\n'), 'write token'), 'OLYMPIX_WRITE_TOKEN');
  });

  test('an unreadable secret file names the file', () => {
    // Checks a path that does not exist.
    const missing = join(dir, 'no-such-file');
    assertConfigError(() => readSecret(env, 'OLYMPIX_CLUSTER_SECRET', missing, 'cluster secret'), missing, 'cluster secret');
    assertConfigError(() => parseStoreConfig(['--secret-file', missing], env), missing);
  });

  test('a secret must be 16 to 256 printable characters without spaces', () => {
    // Checks a table of lengths and characters.
    const table: Array<[secret: string, ok: boolean]> = [
      ['x'.repeat(15), false],
      ['x'.repeat(16), true],
      ['x'.repeat(256), true],
      ['x'.repeat(257), false],
      ['with a space inside!', false],
      ['with\ttab-inside-1234', false],
      ['ünïcödé-0123456789', false],
      ['~!@#$%^&*()_+{}|:<>?', true],
    ];
    for (const [secret, ok] of table) {
      const read = () => readSecret({ OLYMPIX_CLUSTER_SECRET: secret }, 'OLYMPIX_CLUSTER_SECRET', undefined, 'cluster secret');
      if (ok) assert.equal(read(), secret);
      else assertConfigError(read, 'cluster secret', '16 to 256');
    }
    assertConfigError(() => parseNodeConfig(['--id', 'n', '--token-file', tempFile('short')], env), 'write token', '16 to 256');
  });

  test('node and cluster read the token from --token-file', () => {
    // Checks the token file for a node, and that the cluster only reads a token when one is given.
    const file = tempFile(`${TOKEN}-file\n`);
    assert.equal(parseNodeConfig(['--id', 'n', '--token-file', file], { OLYMPIX_CLUSTER_SECRET: SECRET }).token, `${TOKEN}-file`);
    assert.equal(parseClusterConfig(['--token-file', file], {}).token, `${TOKEN}-file`);
    assert.equal(parseClusterConfig([], { OLYMPIX_WRITE_TOKEN: TOKEN }).token, TOKEN);
    assert.equal(parseClusterConfig([], { OLYMPIX_WRITE_TOKEN: '  ' }).token, null);
    assertConfigError(() => parseClusterConfig([], { OLYMPIX_WRITE_TOKEN: 'short' }), 'write token');
    const secretFile = tempFile(SECRET);
    assert.equal(parseStoreConfig(['--secret-file', secretFile], {}).secret, SECRET);
  });
});

describe('catalog', () => {
  test('--teams and --events are comma lists, trimmed, empty items dropped', () => {
    // Checks parseCatalog with flags only.
    assert.deepEqual(parseCatalog({}), DEFAULT_CATALOG);
    assert.deepEqual(parseCatalog({ teams: ' Gaul , Rome,Britons, ' }), { teams: ['Gaul', 'Rome', 'Britons'], events: DEFAULT_CATALOG.events });
    assert.deepEqual(parseCatalog({ events: 'Luge' }), { teams: DEFAULT_CATALOG.teams, events: ['Luge'] });
    // The default is not shared: changing a parsed catalog does not change the next one.
    parseCatalog({}).teams.push('Atlantis');
    assert.deepEqual(parseCatalog({}).teams, ['Gaul', 'Rome']);
  });

  test('bad --teams and --events names, empty lists and duplicates name the flag', () => {
    // Checks a table of bad lists.
    const table: Array<[values: { teams?: string; events?: string }, parts: string[]]> = [
      [{ teams: '' }, ['--teams', 'at least one']],
      [{ teams: ' , ,' }, ['--teams', 'at least one']],
      [{ teams: 'Gaul,Ro/me' }, ['--teams', 'Ro/me']],
      [{ teams: 'Gaul,Ro:me' }, ['--teams', 'Ro:me']],
      [{ teams: `Gaul,${'x'.repeat(65)}` }, ['--teams']],
      [{ teams: 'Gaul,Tab\there' }, ['--teams']],
      [{ teams: 'Gaul,Rome,Gaul' }, ['--teams', 'twice']],
      [{ events: 'Luge,Luge' }, ['--events', 'twice']],
      [{ events: 'Luge/2' }, ['--events', 'Luge/2']],
    ];
    for (const [values, parts] of table) assertConfigError(() => parseCatalog(values), ...parts);
    assertConfigError(() => parseStoreConfig(['--teams', 'A,A'], env), '--teams');
    assertConfigError(() => parseClusterConfig(['--events', ''], {}), '--events');
  });

  test('a --catalog file is read and validated, and --teams/--events override it', () => {
    // Checks a good file alone and with flags.
    const file = tempFile(JSON.stringify({ teams: ['Gaul', 'Rome', 'Britons'], events: ['Luge', 'Chariot Race'] }));
    assert.deepEqual(parseCatalog({ catalog: file }), { teams: ['Gaul', 'Rome', 'Britons'], events: ['Luge', 'Chariot Race'] });
    assert.deepEqual(parseCatalog({ catalog: file, teams: 'Egypt' }), { teams: ['Egypt'], events: ['Luge', 'Chariot Race'] });
    assert.deepEqual(parseStoreConfig(['--catalog', file], env).catalog.events, ['Luge', 'Chariot Race']);
    assert.deepEqual(parseClusterConfig(['--catalog', file], {}).catalog.teams, ['Gaul', 'Rome', 'Britons']);
  });

  test('a bad --catalog file is a ConfigError naming the file', () => {
    // Checks a table of bad files: missing, not JSON, wrong shape, bad and duplicate names, extra field.
    const missing = join(dir, 'missing.json');
    assertConfigError(() => parseCatalog({ catalog: missing }), 'catalog', missing);
    const table: Array<[content: string, part: string]> = [
      ['{ teams: [', 'catalog'],
      ['[]', 'invalid'],
      [JSON.stringify({ teams: ['Gaul'] }), 'events'],
      [JSON.stringify({ teams: [], events: ['Luge'] }), 'teams'],
      [JSON.stringify({ teams: ['Gaul', 'Gaul'], events: ['Luge'] }), 'teams'],
      [JSON.stringify({ teams: ['Ga/ul'], events: ['Luge'] }), 'teams'],
      [JSON.stringify({ teams: ['Gaul'], events: [' Luge'] }), 'events'],
      [JSON.stringify({ teams: ['Gaul'], events: ['Luge'], venue: 'Rome' }), 'invalid'],
      [JSON.stringify({ teams: ['Gaul'], events: [42] }), 'events'],
    ];
    for (const [content, part] of table) {
      const file = tempFile(content);
      assertConfigError(() => parseCatalog({ catalog: file }), file, part);
    }
  });
});

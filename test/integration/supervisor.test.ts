import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../support/cluster-harness.js';

// What `npm start` runs: `olympix cluster` supervises its children. A child that dies
// (here a node and the store, SIGKILLed from outside) is reported and restarted, and
// the system serves again; SIGINT stops everything cleanly, children included.

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 1_500) * 20;
    let free = true;
    for (const port of [base, base + 9, base + 10, base + 11, base + 12, base + 13]) free = free && (await portFree(port));
    if (free) return base;
  }
  throw new Error('no free range of ports for the cluster');
}

test('the cluster supervisor restarts a child that dies, and Ctrl+C stops everything', { timeout: 120_000 }, async () => {
  const base = await freeBasePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'olympix-supervisor-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'cluster', '--port', String(base), '--data-dir', dataDir], {
    env: { ...process.env, OLYMPIX_WRITE_TOKEN: randomBytes(18).toString('base64url') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let output = '';
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a child's line that is not a log object
      }
    }
  });
  child.stderr!.resume();
  try {
    const dispatcher = `http://127.0.0.1:${base}`;
    const allReady = async () => {
      const nodes = (await (await fetch(`${dispatcher}/api/nodes`, { signal: AbortSignal.timeout(1000) })).json()) as Array<{ healthy: boolean; ready: boolean }>;
      return nodes.length === 3 && nodes.every((node) => node.healthy && node.ready);
    };
    await waitFor(allReady, 60_000, 'the cluster to come up');
    await waitFor(() => /olympix is running/.test(output), 10_000, 'the banner');
    assert.match(output, /write token {2}\S{16,}/);
    for (const [name, port] of [['node-2', base + 12], ['store', base + 10]] as const) {
      const started = lines.find((line) => line.event === 'child.started' && line.name === name && typeof line.pid === 'number');
      assert.ok(started, `${name} was started`);
      process.kill(started.pid as number, 'SIGKILL');
      await waitFor(() => lines.some((line) => line.event === 'child.exited' && line.name === name && line.signal === 'SIGKILL'), 10_000, `${name}'s exit to be reported`);
      await waitFor(() => lines.some((line) => line.event === 'child.restarting' && line.name === name), 10_000, `${name} to be restarted`);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(1000) })).ok, 30_000, `${name} to answer again`);
    }
    await waitFor(allReady, 30_000, 'every node ready again');
    // Ctrl+C: the supervisor stops its children and exits.
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const pids = lines.filter((line) => line.event === 'child.started').map((line) => line.pid as number);
    await waitFor(() => pids.every((pid) => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }), 10_000, 'every child to be gone');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// End to end in Chromium on the real supervisor (`olympix cluster`, what `npm start`
// runs), driven only through the cluster page and its fault controls:
//
// 1. the page shows every member fresh and a leader; stopping the leader with the
//    page's Stop button brings a new leader at a higher term, and Start brings the
//    old one back;
// 2. +100 ms on a member's clock makes the largest pairwise skew jump, and Berkeley
//    synchronisation pulls it back under a few ms;
// 3. cutting a node off removes it from the multicast view, healing brings it back,
//    and after some tickets (pull reads against the nodes) every node shows the same
//    delivered tickets at the same indexes.
//
// Every wait is on a condition (expect's retrying assertions, expect.poll), never a
// sleep. The supervisor runs as a child process on free ports and a temporary data
// directory, and is stopped with SIGTERM at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Locator, type Page } from '@playwright/test';

test.describe.configure({ mode: 'serial' });

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODES = ['node-1', 'node-2', 'node-3'];
const MEMBERS = ['store', ...NODES];

interface Supervisor {
  child: ChildProcess;
  basePort: number;
  dispatcherUrl: string;
  token: string;
  dataDir: string;
  /** Every line the supervisor and its children printed. */
  lines: string[];
}

let supervisor: Supervisor | undefined;

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose whole layout is free: dispatcher +0, controls +9, store +10, nodes +11.. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 2_000) * 20;
    const ports = [base, base + 9, base + 10, ...NODES.map((_, index) => base + 11 + index)];
    let free = true;
    for (const port of ports) free = free && (await portFree(port));
    if (free) return base;
  }
  throw new Error('no free range of ports for the cluster');
}

function theSupervisor(): Supervisor {
  if (!supervisor) throw new Error('the supervisor did not start');
  return supervisor;
}

function nodeUrl(node: string): string {
  return `http://127.0.0.1:${theSupervisor().basePort + 11 + NODES.indexOf(node)}`;
}

test.beforeAll(async () => {
  const basePort = await freeBasePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'olympix-cluster-view-'));
  const token = randomBytes(18).toString('base64url');
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', 'cluster', '--port', String(basePort), '--data-dir', dataDir], {
    cwd: ROOT,
    env: { ...process.env, OLYMPIX_WRITE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      if (process.env.OLYMPIX_TEST_ECHO === '1') for (const line of parts) process.stderr.write(`[cluster] ${line}\n`);
    });
  }
  supervisor = { child, basePort, dispatcherUrl: `http://127.0.0.1:${basePort}`, token, dataDir, lines };
  await expect
    .poll(
      async () => {
        if (child.exitCode !== null) throw new Error(`the supervisor exited with ${child.exitCode}:\n${lines.slice(-20).join('\n')}`);
        try {
          const response = await fetch(`${supervisor!.dispatcherUrl}/api/nodes`, { signal: AbortSignal.timeout(1000) });
          const nodes = (await response.json()) as Array<{ healthy: boolean; ready: boolean }>;
          return nodes.length === NODES.length && nodes.every((node) => node.healthy && node.ready);
        } catch {
          return false;
        }
      },
      { timeout: 60_000, message: 'every node healthy and ready at the dispatcher' },
    )
    .toBe(true);
});

test.afterAll(async () => {
  const running = supervisor;
  supervisor = undefined;
  if (!running) return;
  if (running.child.exitCode === null && running.child.signalCode === null) {
    const exited = new Promise<void>((resolve) => running.child.once('exit', () => resolve()));
    running.child.kill('SIGTERM');
    const timer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(running.dataDir, { recursive: true, force: true });
});

/** Pull reads against the nodes, round robin, each a raffle ticket; until stopped. */
function startTickets(): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running) {
      const node = NODES[sent % NODES.length]!;
      try {
        await fetch(`${nodeUrl(node)}/api/medals/Gaul`, {
          headers: { 'x-olympix-client': `tablet-${sent % 7}` },
          signal: AbortSignal.timeout(1000),
        });
      } catch {
        // A node cut off or restarting may not answer; the next read goes elsewhere.
      }
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return sent;
    },
  };
}

function numberOf(text: string | null): number {
  return text === null || text.trim() === '' ? Number.NaN : Number(text);
}

async function skewMs(page: Page): Promise<number> {
  return numberOf(await page.getByTestId('skew-max').getAttribute('data-value'));
}

async function ticketsOf(list: Locator): Promise<string[]> {
  return list.locator('li:not([data-ticket=""])').evaluateAll((items) => items.map((item) => `${(item as HTMLElement).dataset.index}:${(item as HTMLElement).dataset.ticket}`));
}

function memberPair(a: string, b: string): string {
  const order = (id: string) => MEMBERS.indexOf(id);
  return order(a) < order(b) ? `${a}-${b}` : `${b}-${a}`;
}

test('the cluster view shows the system and its fault controls provoke faults it recovers from', async ({ page }) => {
  const system = theSupervisor();
  const host = page.locator('olympix-cluster');
  const result = page.getByTestId('control-result');

  await page.goto(`${system.dispatcherUrl}/cluster`);
  await expect(host).toHaveAttribute('data-status', 'live');
  await expect(page.getByTestId('token-panel')).toHaveAttribute('data-token', 'missing');
  await page.getByTestId('token-input').fill(system.token);
  await page.getByTestId('token-save').click();
  await expect(page.getByTestId('token-panel')).toHaveAttribute('data-token', 'set');
  for (const id of MEMBERS) await expect(page.getByTestId(`member-${id}`)).toHaveAttribute('data-stale', 'false');
  await expect(page.getByTestId('member-store')).toHaveAttribute('data-role', 'store');
  await expect(page.getByTestId('member-node-1')).toHaveAttribute('data-role', 'node');

  // ---- 1. stop the leader: a new leader at a higher term ----
  const leaderName = page.getByTestId('leader-name');
  await expect(leaderName).toHaveText(/^(store|node-\d)$/);
  const oldLeader = (await leaderName.textContent())!.trim();
  const oldTerm = numberOf(await page.getByTestId('leader-term').textContent());
  expect(oldTerm).toBeGreaterThan(0);
  await expect(page.getByTestId(`member-${oldLeader}`)).toHaveAttribute('data-leader', 'true');
  await expect(page.getByTestId(`member-${oldLeader}`)).toHaveAttribute('data-term', String(oldTerm));

  await page.getByTestId(`control-stop-${oldLeader}`).click();
  await expect(result).toHaveAttribute('data-outcome', 'ok');
  await expect(result).toContainText(`Stopped ${oldLeader}`);
  await expect(page.getByTestId(`member-${oldLeader}`)).toHaveAttribute('data-stale', 'true');
  await expect.poll(async () => (await leaderName.textContent())?.trim(), { timeout: 30_000 }).toMatch(/^(store|node-\d)$/);
  await expect.poll(async () => (await leaderName.textContent())?.trim(), { timeout: 30_000 }).not.toBe(oldLeader);
  await expect.poll(async () => numberOf(await page.getByTestId('leader-term').textContent()), { timeout: 30_000 }).toBeGreaterThan(oldTerm);
  const newLeader = (await leaderName.textContent())!.trim();
  await expect(page.getByTestId(`member-${newLeader}`)).toHaveAttribute('data-leader', 'true');
  await expect(page.getByTestId(`member-${oldLeader}`)).toHaveAttribute('data-leader', 'false');
  // The supervisor logged the control as a structured line.
  expect(system.lines.some((line) => line.includes('"event":"control.stop"') && line.includes(`"member":"${oldLeader}"`))).toBe(true);

  await page.getByTestId(`control-start-${oldLeader}`).click();
  await expect(result).toHaveAttribute('data-outcome', 'ok');
  await expect(result).toContainText(`Started ${oldLeader}`);
  await expect(page.getByTestId(`member-${oldLeader}`)).toHaveAttribute('data-stale', 'false', { timeout: 30_000 });
  await expect(host).toHaveAttribute('data-status', 'live');

  // ---- 2. skew a clock: the largest skew jumps, then Berkeley pulls it back ----
  await expect.poll(() => skewMs(page), { timeout: 30_000, message: 'clocks together before the skew' }).toBeLessThan(3);
  const currentLeader = (await leaderName.textContent())!.trim();
  const skewed = NODES.find((node) => node !== currentLeader)!;
  await page.getByTestId(`control-skew-plus-${skewed}`).click();
  await expect(result).toHaveAttribute('data-outcome', 'ok');
  await expect(result).toContainText(`Moved ${skewed}'s system clock by +100 ms`);
  await expect.poll(() => skewMs(page), { timeout: 10_000 }).toBeGreaterThan(50);
  // Ahead of the other three by ~100 ms: ~75 ms ahead of the mean of four.
  await expect
    .poll(async () => numberOf(await page.getByTestId(`member-${skewed}-offset`).getAttribute('data-value')), { timeout: 10_000 })
    .toBeGreaterThan(30);
  // Slewed back at 5 ms/s: about 20 s for 100 ms.
  await expect.poll(() => skewMs(page), { timeout: 45_000, intervals: [500] }).toBeLessThan(4);

  // ---- 3. cut a node off and heal it: the view changes and the tickets agree again ----
  const serving = (await host.getAttribute('data-node'))!;
  expect(NODES).toContain(serving);
  const leaderNow = (await leaderName.textContent())!.trim();
  const victim = NODES.find((node) => node !== serving && node !== leaderNow) ?? NODES.find((node) => node !== serving)!;
  const servingView = page.getByTestId(`view-${serving}`);
  const victimPattern = new RegExp(`\\b${victim}\\b`);
  await expect(servingView).toHaveText(victimPattern);

  const tickets = startTickets();
  try {
    await expect(page.getByTestId('deliveries-agreement')).toHaveAttribute('data-agree', 'true');
    const lastBeforeCut = numberOf(await page.getByTestId(`deliveries-${serving}`).getAttribute('data-last-index'));

    await page.getByTestId(`control-cut-${victim}`).click();
    await expect(result).toHaveAttribute('data-outcome', 'ok');
    await expect(result).toContainText(`Cut ${victim} off`);
    await expect(servingView).not.toHaveText(victimPattern, { timeout: 30_000 });
    await expect(page.getByTestId(`member-${victim}`)).toHaveAttribute('data-stale', 'true');
    await expect(page.getByTestId(`link-${memberPair(serving, victim)}`)).toHaveAttribute('data-state', /down|connecting|cut/);
    const viewWithout = numberOf(await servingView.getAttribute('data-view-id'));

    await page.getByTestId(`control-heal-${victim}`).click();
    await expect(result).toHaveAttribute('data-outcome', 'ok');
    await expect(result).toContainText(`Healed ${victim}`);
    await expect(servingView).toHaveText(victimPattern, { timeout: 30_000 });
    await expect.poll(async () => numberOf(await servingView.getAttribute('data-view-id'))).toBeGreaterThan(viewWithout);
    await expect(page.getByTestId(`member-${victim}`)).toHaveAttribute('data-stale', 'false');
    await expect(page.getByTestId(`view-${victim}`)).toHaveText((await servingView.textContent())!.trim());
    // The returning node delivers the tickets that follow, in the same order as the others.
    await expect
      .poll(async () => numberOf(await page.getByTestId(`deliveries-${victim}`).getAttribute('data-last-index')), { timeout: 30_000 })
      .toBeGreaterThan(lastBeforeCut + 40);
  } finally {
    await tickets.stop();
  }

  // With the reads stopped, every node's last deliveries are the same tickets at the same indexes.
  await expect
    .poll(
      async () => {
        const lists = await Promise.all(NODES.map((node) => ticketsOf(page.getByTestId(`deliveries-${node}`))));
        const first = JSON.stringify(lists[0]);
        return lists[0]!.length >= 10 && lists.every((list) => JSON.stringify(list) === first);
      },
      { timeout: 20_000, message: 'the same delivered tickets on every node' },
    )
    .toBe(true);
  await expect(page.getByTestId('deliveries-agreement')).toHaveAttribute('data-agree', 'true');
  await expect(page.getByTestId('deliveries-agreement')).toContainText('Same tickets in the same order');
});

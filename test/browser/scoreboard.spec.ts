// End to end in Chromium on real processes: three scoreboard tabs served by three
// different nodes and one cauldron tab. A score entered in the cauldron appears in
// all three tabs. Then one tab's node is SIGKILLed: that tab shows "reconnecting",
// a score is entered while it is cut off, and the tab comes back "live" on another
// node showing that score, at the same position as every other tab.
//
// Every wait is on a condition (expect's auto-retrying assertions, expect.poll), never
// a sleep. The reconnecting tab is held at the dispatcher by a route that the test
// releases once the write is acknowledged, so "entered meanwhile" is certain, not a race.

import { expect, test, type Page } from '@playwright/test';
import { ClusterHarness } from '../support/cluster-harness.js';

test.describe.configure({ mode: 'serial' });

let cluster: ClusterHarness | undefined;

test.beforeAll(async () => {
  cluster = await ClusterHarness.start({ nodes: 3 });
});

test.afterAll(async () => {
  await cluster?.stop();
});

function theCluster(): ClusterHarness {
  if (!cluster) throw new Error('the cluster did not start');
  return cluster;
}

/** The page's custom element, which mirrors the feed's status and serving node as data attributes. */
function host(page: Page, element: 'olympix-scoreboard' | 'olympix-cauldron') {
  return page.locator(element);
}

async function openLive(page: Page, path: string, element: 'olympix-scoreboard' | 'olympix-cauldron'): Promise<string> {
  await page.goto(`${theCluster().dispatcherUrl}${path}`);
  await expect(host(page, element)).toHaveAttribute('data-status', 'live');
  await expect(page.getByTestId('connection-status')).toHaveText('live');
  const node = await host(page, element).getAttribute('data-node');
  expect(node).toMatch(/^node-\d+$/);
  await expect(page.getByTestId('serving-node')).toHaveText(node!);
  return node!;
}

/** Sets one event's scores in the cauldron and returns the sequence number it was accepted as. */
async function enterScores(cauldron: Page, event: string, scores: Record<string, string>): Promise<number> {
  for (const [team, value] of Object.entries(scores)) {
    await cauldron.getByTestId(`score-input-${event}-${team}`).fill(value);
  }
  await cauldron.getByTestId(`score-submit-${event}`).click();
  const result = cauldron.getByTestId('write-result');
  await expect(result).toHaveAttribute('data-outcome', 'ok');
  await expect(result).toContainText('accepted as change #');
  const text = (await result.textContent()) ?? '';
  const match = /accepted as change #(\d+)/.exec(text);
  expect(match, text).not.toBeNull();
  return Number(match![1]);
}

async function expectScore(page: Page, event: string, team: string, value: string): Promise<void> {
  await expect(page.getByTestId(`score-${event}-${team}-value`)).toHaveText(value);
  await expect(page.getByTestId(`score-${event}-${team}-updated`)).not.toHaveText(/never/);
}

test('scores reach every tab, and a tab whose node dies comes back on another node without losing one', async ({ context }) => {
  const system = theCluster();

  // Three scoreboards, each opened once the previous one is live, so the dispatcher's
  // least-loaded choice puts each on its own node.
  const boards: Page[] = [];
  const boardNodes: string[] = [];
  for (let index = 0; index < 3; index += 1) {
    const page = await context.newPage();
    boardNodes.push(await openLive(page, '/', 'olympix-scoreboard'));
    boards.push(page);
  }
  expect(new Set(boardNodes).size, `nodes serving the tabs: ${boardNodes.join(', ')}`).toBe(3);
  for (const page of boards) {
    await expect(page.getByTestId('score-Luge-Gaul-updated')).toHaveText('never');
  }

  // The cauldron: token asked once, a refused input never sent.
  const cauldron = await context.newPage();
  const cauldronNode = await openLive(cauldron, '/cauldron', 'olympix-cauldron');
  await expect(cauldron.getByTestId('token-panel')).toHaveAttribute('data-token', 'missing');
  await cauldron.getByTestId('token-input').fill(system.token);
  await cauldron.getByTestId('token-save').click();
  await expect(cauldron.getByTestId('token-panel')).toHaveAttribute('data-token', 'set');

  await cauldron.getByTestId('score-input-Luge-Gaul').fill('fast');
  await cauldron.getByTestId('score-submit-Luge').click();
  await expect(cauldron.getByTestId('score-error-Luge')).toContainText('Gaul');
  await expect(cauldron.getByTestId('write-result')).toHaveAttribute('data-outcome', '');

  // A score entered in the cauldron appears in all three tabs.
  const firstSeq = await enterScores(cauldron, 'Luge', { Gaul: '3', Rome: '1' });
  for (const page of boards) {
    await expectScore(page, 'Luge', 'Gaul', '3');
    await expectScore(page, 'Luge', 'Rome', '1');
    await expect(page.getByTestId('position')).toHaveText(`at change #${firstSeq}`);
  }

  // Kill the node of a tab that does not also serve the cauldron. Hold that tab's next
  // assignment until the write below is acknowledged, so that it misses the write.
  const victimIndex = boardNodes.findIndex((node) => node !== cauldronNode);
  const victim = boards[victimIndex]!;
  const victimNode = boardNodes[victimIndex]!;
  let releaseAssign!: () => void;
  const assignReleased = new Promise<void>((resolve) => (releaseAssign = resolve));
  await victim.route('**/api/assign**', async (route) => {
    await assignReleased;
    await route.continue();
  });

  await system.kill(victimNode);
  await expect(host(victim, 'olympix-scoreboard')).toHaveAttribute('data-status', 'reconnecting');
  await expect(victim.getByTestId('connection-status')).toHaveText('reconnecting');

  const meanwhileSeq = await enterScores(cauldron, 'Stone Curling', { Gaul: '8', Rome: '5' });
  expect(meanwhileSeq).toBeGreaterThan(firstSeq);
  for (const [index, page] of boards.entries()) {
    if (index !== victimIndex) await expectScore(page, 'Stone Curling', 'Gaul', '8');
  }
  // The cut-off tab has not seen it: never updated, still.
  await expect(victim.getByTestId('score-Stone Curling-Gaul-updated')).toHaveText('never');
  await expect(victim.getByTestId('score-Stone Curling-Gaul-value')).not.toHaveText('8');

  releaseAssign();
  await expect(host(victim, 'olympix-scoreboard')).toHaveAttribute('data-status', 'live');
  const newNode = await host(victim, 'olympix-scoreboard').getAttribute('data-node');
  expect(newNode).not.toBe(victimNode);
  await expect(victim.getByTestId('serving-node')).toHaveText(newNode!);
  await expectScore(victim, 'Stone Curling', 'Gaul', '8');
  await expectScore(victim, 'Stone Curling', 'Rome', '5');
  await expectScore(victim, 'Luge', 'Gaul', '3');

  // Every tab, the one that reconnected included, stands at the same position.
  for (const page of boards) {
    await expect(page.getByTestId('position')).toHaveText(`at change #${meanwhileSeq}`);
  }

  // And it keeps receiving: a medal awarded now reaches every tab.
  await cauldron.getByTestId('medal-award-Rome-gold').click();
  await expect(cauldron.getByTestId('write-result')).toContainText(`accepted as change #${meanwhileSeq + 1}`);
  for (const page of boards) {
    await expect(page.getByTestId('medal-Rome-gold-value')).toHaveText('1');
  }
});

// The sponsor's raffle in Chromium on real processes: two scoreboard tabs and the
// cauldron, with every ticket entered (--raffle-every 1), so each page's own
// subscription is an entry and each page is told so. The score-keeper closes the
// raffle from the cauldron; every scoreboard shows the same winner, the cauldron names
// it, and if a scoreboard tab is the winner, that tab says "you won".

import { expect, test, type Page } from '@playwright/test';
import { ClusterHarness } from '../support/cluster-harness.js';

test.describe.configure({ mode: 'serial' });

let cluster: ClusterHarness | undefined;

test.beforeAll(async () => {
  cluster = await ClusterHarness.start({ nodes: 3, raffleEveryN: 1 });
});

test.afterAll(async () => {
  await cluster?.stop();
});

async function openLive(page: Page, path: string, element: 'olympix-scoreboard' | 'olympix-cauldron'): Promise<string> {
  await page.goto(`${cluster!.dispatcherUrl}${path}`);
  await expect(page.locator(element)).toHaveAttribute('data-status', 'live');
  return (await page.evaluate(() => sessionStorage.getItem('olympix.client'))) ?? '';
}

test('the cauldron closes the raffle; every page shows the same winner, and the winner is told', async ({ browser }) => {
  const tabs = await Promise.all([browser.newPage(), browser.newPage()]);
  const clients: string[] = [];
  for (const tab of tabs) {
    clients.push(await openLive(tab, '/', 'olympix-scoreboard'));
    // Its own subscription was a ticket, and with every ticket entered, the page is told.
    await expect(tab.getByTestId('raffle-notice')).toHaveAttribute('data-notice', 'entered');
  }
  const cauldron = await browser.newPage();
  await openLive(cauldron, '/cauldron', 'olympix-cauldron');
  await cauldron.getByTestId('token-input').fill(cluster!.token);
  await cauldron.getByTestId('token-save').click();
  await expect(cauldron.getByTestId('raffle-close')).toBeEnabled();
  await cauldron.getByTestId('raffle-close').click();
  await expect(cauldron.getByTestId('write-result')).toHaveAttribute('data-outcome', 'ok');
  await expect(cauldron.getByTestId('write-result')).toContainText('wins with entry #');
  const winner = (await cauldron.getByTestId('raffle-winner').textContent())!.trim();
  for (const [i, tab] of tabs.entries()) {
    await expect(tab.getByTestId('raffle-winner')).toContainText(winner);
    if (clients[i] === winner) await expect(tab.getByTestId('raffle-notice')).toHaveAttribute('data-notice', 'won');
    else await expect(tab.getByTestId('raffle-notice')).toHaveAttribute('data-notice', 'entered');
  }
  // The draw is the same on every node and kept in the store.
  for (const node of cluster!.nodes) {
    const raffle = (await (await fetch(`${node.http}/api/raffle`)).json()) as { winner: { client: string } | null };
    expect(raffle.winner?.client).toBe(winner);
  }
  const stored = (await (await fetch(`${cluster!.storeUrl}/api/raffle`)).json()) as { draws: Array<{ entry: { client: string } }> };
  expect(stored.draws[0]?.entry.client).toBe(winner);
  // A new round can start from the cauldron.
  await cauldron.getByTestId('raffle-reopen').click();
  await expect(cauldron.getByTestId('raffle-close')).toBeVisible();
});

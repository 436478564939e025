import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runVillagers } from '../../server/tablets.js';
import { ClusterHarness, waitFor } from '../support/cluster-harness.js';

// Totally-ordered multicast and the raffle on real processes: villagers pull through
// all three nodes; every pull is a ticket. The nodes' delivered orders are compared by
// digests of each block of 1,000 deliveries and of the last partial block; one node is SIGKILLed
// midway, the survivors must keep delivering and agree; the draw must be the same on
// every node and in the store.

interface MulticastStatus {
  delivered: number;
  digest: string | null;
  checkpoints: Array<{ delivered: number; digest: string }>;
  multicast: { viewId: number; viewMembers: string[] };
  raffle: { entries: number; closed: boolean; winner: unknown; generation: string | null };
}

async function status(cluster: ClusterHarness, node: string): Promise<MulticastStatus> {
  return (await cluster.get(node, '/api/multicast')).body as unknown as MulticastStatus;
}

function assertSameOrder(a: MulticastStatus, b: MulticastStatus, what: string): number {
  const theirs = new Map(b.checkpoints.map((checkpoint) => [checkpoint.delivered, checkpoint.digest]));
  let compared = 0;
  for (const checkpoint of a.checkpoints) {
    const digest = theirs.get(checkpoint.delivered);
    if (digest === undefined) continue;
    assert.equal(digest, checkpoint.digest, `${what}: orders differ by delivery ${checkpoint.delivered}`);
    compared++;
  }
  return compared;
}

describe('total-order multicast and the raffle on a real cluster', () => {
  let cluster: ClusterHarness;

  before(async () => {
    cluster = await ClusterHarness.start({ nodes: 3, raffleEveryN: 100 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('over 10,000 tickets through three nodes, one SIGKILLed midway: the same order and the same winner everywhere', async () => {
    const villagers = (durationS: number) =>
      runVillagers({ dispatcher: cluster.dispatcherUrl, count: 40, ratePerS: 50, durationS, quiet: true }, () => {});
    const first = await villagers(4);
    assert.ok(first.requests > 3000, `made ${first.requests} requests`);
    await waitFor(async () => {
      const all = await Promise.all(['node-1', 'node-2', 'node-3'].map((node) => status(cluster, node)));
      return all.every((one) => one.delivered === all[0]!.delivered) && all[0]!.delivered > 3000;
    }, 20_000, 'every node to deliver the first tickets');
    const beforeKill = await Promise.all(['node-1', 'node-2', 'node-3'].map((node) => status(cluster, node)));
    assert.equal(beforeKill[0]!.digest, beforeKill[1]!.digest);
    assert.equal(beforeKill[0]!.digest, beforeKill[2]!.digest);

    // Kill node-3 while villagers keep pulling (those on node-3 move to the others).
    const load = villagers(6);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await cluster.kill('node-3');
    const second = await load;
    const survivors = await waitFor(async () => {
      const all = await Promise.all(['node-1', 'node-2'].map((node) => status(cluster, node)));
      return all[0]!.delivered === all[1]!.delivered && all[0]!.multicast.viewMembers.length === 2 ? all : null;
    }, 20_000, 'the survivors to install a view without node-3 and agree');
    const total = survivors[0]!.delivered;
    assert.ok(total >= 10_000, `delivered ${total} tickets (requests ${first.requests + second.requests})`);
    assert.equal(survivors[0]!.digest, survivors[1]!.digest, 'survivors delivered the same sequence');
    assert.ok(assertSameOrder(survivors[0]!, survivors[1]!, 'node-1 vs node-2') >= 10);
    assertSameOrder(beforeKill[2]!, survivors[0]!, 'node-3 before its death vs node-1');

    // The draw: the same on both survivors and in the store.
    const close = await cluster.write('node-1', '/api/raffle/close', {});
    assert.equal(close.status, 200, JSON.stringify(close.body));
    const winner = (close.body as { winner: unknown }).winner;
    for (const node of ['node-1', 'node-2']) {
      await waitFor(async () => (await status(cluster, node)).raffle.closed, 10_000, `${node} to draw`);
      assert.deepEqual((await status(cluster, node)).raffle.winner, winner, node);
    }
    assert.ok(survivors[0]!.raffle.entries >= 100, `${survivors[0]!.raffle.entries} entries`);
    const stored = (await cluster.get('store', '/api/raffle')).body as { draws: Array<Record<string, unknown>> };
    assert.deepEqual(stored.draws[0]!.entry, (winner as { entry: unknown }).entry);

    // node-3 comes back, joins a new view with the raffle's state, and agrees from then on.
    await cluster.restart('node-3');
    const rejoined = await waitFor(async () => {
      const all = await Promise.all(['node-1', 'node-2', 'node-3'].map((node) => status(cluster, node)));
      return all.every((one) => one.multicast.viewMembers.length === 3 && one.delivered === all[0]!.delivered) ? all : null;
    }, 20_000, 'node-3 to rejoin');
    assert.deepEqual(rejoined[2]!.raffle.winner, winner, 'the rejoined node knows the draw');
    assert.equal(rejoined[2]!.raffle.entries, rejoined[0]!.raffle.entries);
    await runVillagers({ dispatcher: cluster.dispatcherUrl, count: 10, ratePerS: 20, durationS: 1, quiet: true }, () => {});
    // Enough tickets to complete a block of 1,000 that node-3 saw whole, then compare it.
    await runVillagers({ dispatcher: cluster.dispatcherUrl, count: 30, ratePerS: 50, durationS: 2, quiet: true }, () => {});
    const final = await waitFor(async () => {
      const all = await Promise.all(['node-1', 'node-2', 'node-3'].map((node) => status(cluster, node)));
      return all.every((one) => one.delivered === all[0]!.delivered) && all[2]!.checkpoints.length > 0 ? all : null;
    }, 20_000, 'the three nodes to deliver a whole block after the rejoin');
    assert.ok(assertSameOrder(final[2]!, final[0]!, 'rejoined node-3 vs node-1') >= 1);
    assertSameOrder(final[2]!, final[1]!, 'rejoined node-3 vs node-2');
    assert.equal(final[0]!.digest, final[2]!.digest);
  });
});

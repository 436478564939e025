import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClusterHarness, waitFor } from '../support/cluster-harness.js';

// Leader election on real processes: the leader is SIGKILLed ten times in a row;
// each time the survivors must agree on a new leader in a newer term, and the killed
// process, restarted, must learn the current leader and term.

interface Health {
  member: { leader: string | null; term: number; election: { role: string } };
}

async function views(cluster: ClusterHarness, members: string[]): Promise<Map<string, { leader: string | null; term: number }>> {
  const result = new Map<string, { leader: string | null; term: number }>();
  await Promise.all(
    members.map(async (member) => {
      try {
        const health = (await cluster.get(member, '/api/health')).body as unknown as Health;
        result.set(member, { leader: health.member.leader, term: health.member.term });
      } catch {
        // not answering: not counted
      }
    }),
  );
  return result;
}

/** Waits until every listed member reports the same non-null leader, and returns it. */
async function agreedLeader(cluster: ClusterHarness, members: string[], newerThan: number): Promise<{ leader: string; term: number }> {
  return waitFor(
    async () => {
      const seen = await views(cluster, members);
      if (seen.size !== members.length) return null;
      const first = [...seen.values()][0]!;
      if (first.leader === null || first.term <= newerThan) return null;
      for (const view of seen.values()) if (view.leader !== first.leader || view.term !== first.term) return null;
      return { leader: first.leader, term: first.term };
    },
    15_000,
    `agreement on a leader newer than term ${newerThan} among ${members.join(', ')}`,
  );
}

describe('leader election on a real cluster', () => {
  let cluster: ClusterHarness;
  const members = ['store', 'node-1', 'node-2', 'node-3'];

  before(async () => {
    cluster = await ClusterHarness.start({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('the leader SIGKILLed ten times in a row: a new, agreed leader each time', async () => {
    let { leader, term } = await agreedLeader(cluster, members, 0);
    const leaders = [leader];
    for (let kill = 0; kill < 10; kill++) {
      await cluster.kill(leader);
      const survivors = members.filter((member) => member !== leader);
      const next = await agreedLeader(cluster, survivors, term);
      assert.notEqual(next.leader, leader);
      assert.ok(next.term > term);
      // The killed member comes back and learns the current leader and term.
      await cluster.restart(leader);
      const rejoined = await agreedLeader(cluster, members, term);
      assert.ok(rejoined.term >= next.term);
      ({ leader, term } = rejoined);
      leaders.push(leader);
    }
    // Writes work again through every node (each has its store link back).
    for (const node of cluster.nodes) {
      await waitFor(async () => (await cluster.write(node.id, '/api/medals/Gaul', { medal: 'gold' })).status === 200, 15_000, `a write through ${node.id}`);
    }
    assert.ok(new Set(leaders).size >= 2, `leadership moved: ${leaders.join(' -> ')}`);
  });
});

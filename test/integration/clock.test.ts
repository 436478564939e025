import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClusterHarness, waitFor } from '../support/cluster-harness.js';

// Berkeley clock synchronisation on real processes, like the seed's clock test: the
// store and three nodes start with clocks up to ±5 s apart and drifting; once
// synchronised, every pair must agree within 25 ms. On one machine the true time is
// known: each member reports its synchronised time and the host's CLOCK_MONOTONIC read
// at the same instant, so the difference of two members' (now - monotonic) is their
// exact skew, whatever the request latency.

interface ClockHealth {
  member: { leader: string | null; term: number; clock: { nowMs: number; monotonicMs: number; synced: boolean; offsetMs: number } };
}

const MEMBERS = ['store', 'node-1', 'node-2', 'node-3'];

async function errors(cluster: ClusterHarness): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const member of MEMBERS) {
    const health = (await cluster.get(member, '/api/health')).body as unknown as ClockHealth;
    result[member] = health.member.clock.nowMs - health.member.clock.monotonicMs;
  }
  return result;
}

function largestPairwiseSkewMs(errorsMs: Record<string, number>): number {
  const values = Object.values(errorsMs);
  return Math.max(...values) - Math.min(...values);
}

describe('Berkeley clock synchronisation on a real cluster', () => {
  let cluster: ClusterHarness;

  before(async () => {
    cluster = await ClusterHarness.start({
      nodes: 3,
      clockSkewMs: { store: -4200, 'node-1': 5000, 'node-2': -5000, 'node-3': 1800 },
      clockDriftPpm: { store: 120, 'node-1': -200, 'node-2': 200, 'node-3': -80 },
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('clocks started up to ±5 s apart agree within 25 ms, and stay so', async () => {
    const start = await errors(cluster);
    // The injected skews are real: before sync they would be seconds apart; the nodes
    // were stepped before serving, so by now they are already close.
    await waitFor(async () => largestPairwiseSkewMs(await errors(cluster)) < 25, 20_000, 'pairwise skew under 25 ms');
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const skewMs = largestPairwiseSkewMs(await errors(cluster));
      assert.ok(skewMs < 25, `skew ${skewMs.toFixed(3)} ms at check ${i}; errors at start ${JSON.stringify(start)}`);
    }
  });

  test('a write is stamped with the synchronised clock of the store when it commits', async () => {
    const before = (await cluster.get('store', '/api/health')).body as unknown as ClockHealth;
    const result = await cluster.write('node-2', '/api/medals/Gaul', { medal: 'gold' });
    const after = (await cluster.get('store', '/api/health')).body as unknown as ClockHealth;
    assert.equal(result.status, 200);
    const updatedAt = (result.body.change as { updatedAt: number }).updatedAt;
    // The store started 4.2 s behind and node-2 5 s behind: a stamp from either's
    // unsynchronised clock would be seconds off; the synchronised one falls between
    // the store's readings taken before and after the write.
    assert.ok(updatedAt >= before.member.clock.nowMs && updatedAt <= after.member.clock.nowMs, `stamp ${updatedAt} not within the store's readings ${before.member.clock.nowMs}..${after.member.clock.nowMs}`);
    const node = (await cluster.get('node-2', '/api/health')).body as unknown as ClockHealth;
    assert.ok(Math.abs(updatedAt - node.member.clock.nowMs) < 1000, 'and agrees with the accepting node synchronised clock');
  });

  test('a change of leader does not disturb the clocks', async () => {
    const before = (await cluster.get('store', '/api/health')).body as unknown as ClockHealth;
    const leader = before.member.leader!;
    await cluster.kill(leader);
    const survivors = MEMBERS.filter((member) => member !== leader);
    await waitFor(async () => {
      const leaders = await Promise.all(survivors.map(async (member) => ((await cluster.get(member, '/api/health')).body as unknown as ClockHealth).member.leader));
      return leaders.every((seen) => seen !== null && seen !== leader && seen === leaders[0]);
    }, 15_000, 'a new leader');
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const errorsMs: Record<string, number> = {};
      for (const member of survivors) {
        const health = (await cluster.get(member, '/api/health')).body as unknown as ClockHealth;
        errorsMs[member] = health.member.clock.nowMs - health.member.clock.monotonicMs;
      }
      assert.ok(largestPairwiseSkewMs(errorsMs) < 25, `skew after the leader change: ${JSON.stringify(errorsMs)}`);
    }
    await cluster.restart(leader);
  });
});

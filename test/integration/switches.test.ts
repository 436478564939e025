import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClusterHarness } from '../support/cluster-harness.js';

// The seed's switches, on a real cluster started with all three off:
// --no-leader-election (a fixed leader, the store, in term 1), --no-clock-sync (clocks
// keep their injected errors) and --no-raffle (no tickets, no raffle routes).

interface Health {
  member: { leader: string | null; term: number; clock: { nowMs: number; monotonicMs: number; enabled: boolean; offsetMs: number } };
}

describe('a cluster with election, clock sync and raffle switched off', () => {
  let cluster: ClusterHarness;

  before(async () => {
    cluster = await ClusterHarness.start({
      nodes: 3,
      leaderElection: false,
      clockSync: false,
      raffle: false,
      clockSkewMs: { 'node-2': 2000 },
    });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('--no-leader-election: every member follows the store in term 1, even after it dies', async () => {
    for (const member of ['store', 'node-1', 'node-2', 'node-3']) {
      const health = (await cluster.get(member, '/api/health')).body as unknown as Health;
      assert.equal(health.member.leader, 'store', member);
      assert.equal(health.member.term, 1, member);
    }
    await cluster.kill('store');
    await new Promise((resolve) => setTimeout(resolve, 600));
    const health = (await cluster.get('node-1', '/api/health')).body as unknown as Health;
    assert.equal(health.member.leader, 'store');
    assert.equal(health.member.term, 1);
    await cluster.restart('store');
  });

  test('--no-clock-sync: a member keeps its injected error', async () => {
    const one = (await cluster.get('node-1', '/api/health')).body as unknown as Health;
    const two = (await cluster.get('node-2', '/api/health')).body as unknown as Health;
    assert.equal(two.member.clock.enabled, false);
    assert.equal(two.member.clock.offsetMs, 0);
    const skewMs = two.member.clock.nowMs - two.member.clock.monotonicMs - (one.member.clock.nowMs - one.member.clock.monotonicMs);
    assert.ok(Math.abs(skewMs - 2000) < 50, `node-2 is still ~2 s ahead: ${skewMs}`);
  });

  test('--no-raffle: requests are not tickets and the raffle cannot be closed', async () => {
    for (let i = 0; i < 20; i++) await cluster.get('node-1', '/api/medals/Gaul');
    const multicast = (await cluster.get('node-1', '/api/multicast')).body;
    assert.equal(multicast.enabled, false);
    const close = await cluster.write('node-1', '/api/raffle/close', {});
    assert.equal(close.status, 409);
    assert.equal(close.body.code, 'OLX_RAFFLE_DISABLED');
    const raffle = (await cluster.get('node-1', '/api/raffle')).body;
    assert.equal(raffle.enabled, false);
  });
});

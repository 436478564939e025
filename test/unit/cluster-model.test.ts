// Checks the cluster view's pure computations on hand-made cluster states: the leader
// at the highest term among fresh members, clock offsets and the largest pairwise
// skew from (nowMs - monotonicMs), link states from both ends, deliveries aligned by
// index (and a disagreement found), Berkeley rounds noticed once each, and formatting.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterState, MemberStatus } from '../../shared/cluster.js';
import {
  alignDeliveries,
  ClockHistory,
  clockReadings,
  edgeState,
  formatMs,
  knownMemberIds,
  leaderOf,
  niceCeiling,
  orderMembers,
} from '../../web/src/cluster-model.js';

type Link = MemberStatus['links'][string];
const up: Link = { state: 'up', cut: false, reconnects: 0, rttMs: 0.5 };

function member(id: string, overrides: Partial<MemberStatus> & { baseMs?: number } = {}): MemberStatus {
  const { baseMs = 0, ...rest } = overrides;
  return {
    id,
    role: id === 'store' ? 'store' : 'node',
    incarnation: 'x',
    atMs: 1_000_000,
    leader: 'store',
    term: 3,
    electionRole: id === 'store' ? 'leader' : 'follower',
    holdsMajority: true,
    clock: {
      nowMs: 1_700_000_000_000 + 5_000 + baseMs,
      monotonicMs: 5_000,
      offsetMs: 0,
      pendingMs: 0,
      lastAdjustmentMs: null,
      estimatedErrorMs: null,
      frequencyPpm: 0,
      rounds: 0,
      synced: true,
      enabled: true,
      injectedSkewMs: 0,
    },
    lastRound: null,
    links: {},
    multicast: null,
    push: null,
    store: null,
    ...rest,
  };
}

function cluster(members: MemberStatus[], stale: string[] = []): ClusterState {
  return { via: 'node-1', atMs: 0, members: Object.fromEntries(members.map((status) => [status.id, status])), stale };
}

function deliveries(node: string, from: number, to: number, change?: { index: number; client: string }) {
  const recentDeliveries = [];
  for (let index = from; index <= to; index += 1) {
    recentDeliveries.push({ index, sender: `node-${(index % 3) + 1}`, kind: 'read', client: change?.index === index ? change.client : `c${index}` });
  }
  return member(node, {
    multicast: {
      lamport: to,
      holdBack: 0,
      delivered: to + 1,
      viewId: 1,
      viewMembers: ['node-1', 'node-2', 'node-3'],
      pending: 0,
      ready: true,
      recentDeliveries,
      raffle: { round: 0, tickets: to + 1, entries: 0, closed: false, winner: null, recentEntries: [] },
    },
  });
}

describe('cluster model', () => {
  test('orders the store first, then nodes naturally, and finds members named only in links', () => {
    assert.deepEqual(orderMembers(['node-10', 'node-2', 'store', 'node-1']), ['store', 'node-1', 'node-2', 'node-10']);
    const state = cluster([member('node-1', { links: { store: up, 'node-3': up } })]);
    assert.deepEqual(knownMemberIds(state, ['node-2']), ['store', 'node-1', 'node-2', 'node-3']);
  });

  test('the leader is the one fresh members name at the highest term; stale members do not count', () => {
    const state = cluster(
      [member('store', { term: 3, leader: 'store' }), member('node-1', { term: 4, leader: 'node-2' }), member('node-2', { term: 4, leader: 'node-2' })],
      [],
    );
    assert.deepEqual(leaderOf(state), { leader: 'node-2', term: 4, votes: 2 });
    const withOldLeaderStale = cluster([member('store', { term: 9, leader: 'store' }), member('node-1', { term: 4, leader: 'node-1' })], ['store']);
    assert.deepEqual(leaderOf(withOldLeaderStale), { leader: 'node-1', term: 4, votes: 1 });
    assert.deepEqual(leaderOf(null), { leader: null, term: 0, votes: 0 });
  });

  test('offsets are from the mean of fresh members, and the skew is max minus min', () => {
    const state = cluster([member('store', { baseMs: 0 }), member('node-1', { baseMs: 3 }), member('node-2', { baseMs: -3 }), member('node-3', { baseMs: 500 })], ['node-3']);
    const readings = clockReadings(state);
    assert.deepEqual(readings.offsets, { store: 0, 'node-1': 3, 'node-2': -3 });
    assert.equal(readings.maxSkewMs, 6);
    assert.deepEqual(readings.extremes, ['node-1', 'node-2']);
    assert.equal(clockReadings(cluster([member('store')])).maxSkewMs, null);
  });

  test('a link is cut if either end says so, up if every fresh end says up, and a stale end is not believed', () => {
    const cut: Link = { state: 'down', cut: true, reconnects: 1 };
    const down: Link = { state: 'down', cut: false, reconnects: 1 };
    const connecting: Link = { state: 'connecting', cut: false, reconnects: 2 };
    assert.equal(edgeState(cluster([member('a', { links: { b: up } }), member('b', { links: { a: up } })]), 'a', 'b'), 'up');
    assert.equal(edgeState(cluster([member('a', { links: { b: up } }), member('b', { links: { a: cut } })]), 'a', 'b'), 'cut');
    assert.equal(edgeState(cluster([member('a', { links: { b: connecting } }), member('b', { links: { a: down } })]), 'a', 'b'), 'connecting');
    // b is stale: its frozen "up" is not believed; a says down.
    assert.equal(edgeState(cluster([member('a', { links: { b: down } }), member('b', { links: { a: up } })], ['b']), 'a', 'b'), 'down');
    assert.equal(edgeState(cluster([member('a'), member('b')], ['a', 'b']), 'a', 'b'), 'unknown');
  });

  test('deliveries are aligned by index and end where the fresh nodes overlap', () => {
    const state = cluster([deliveries('node-1', 80, 99), deliveries('node-2', 75, 94), deliveries('node-3', 82, 101)]);
    const table = alignDeliveries(state, ['node-1', 'node-2', 'node-3'], 5);
    assert.deepEqual(table.rows.map((row) => row.index), [90, 91, 92, 93, 94]);
    assert.ok(table.rows.every((row) => row.agree && row.complete));
    assert.equal(table.agree, true);
    assert.deepEqual(table.columns.map((column) => [column.node, column.lastIndex, column.newer]), [
      ['node-1', 99, 5],
      ['node-2', 94, 0],
      ['node-3', 101, 7],
    ]);
  });

  test('a node that delivered another ticket at some index is a disagreement, named by index', () => {
    const state = cluster([deliveries('node-1', 0, 9), deliveries('node-2', 0, 9, { index: 6, client: 'intruder' })]);
    const table = alignDeliveries(state, ['node-1', 'node-2'], 10);
    assert.equal(table.agree, false);
    assert.equal(table.firstDisagreement, 6);
  });

  test("windows that do not all overlap: the rows end where most nodes do, and the stale node's column is kept", () => {
    const state = cluster([deliveries('node-1', 200, 219), deliveries('node-2', 100, 119), deliveries('node-3', 105, 124)]);
    const table = alignDeliveries(state, ['node-1', 'node-2', 'node-3'], 4);
    assert.deepEqual(table.rows.map((row) => row.index), [116, 117, 118, 119]);
    assert.equal(table.rows.at(-1)!.complete, false);
    assert.equal(table.agree, false);
    assert.equal(table.firstDisagreement, null);
    const staleOne = alignDeliveries(cluster([deliveries('node-1', 0, 9), deliveries('node-2', 0, 5)], ['node-2']), ['node-1', 'node-2'], 3);
    assert.deepEqual(staleOne.rows.map((row) => row.index), [7, 8, 9]);
    assert.equal(staleOne.agree, true);
  });

  test('the history notices each Berkeley round once, placed when it happened, and forgets what left the window', () => {
    const history = new ClockHistory(10_000);
    const round = (n: number, atMs: number) => member('store', { lastRound: { round: n, term: 3, atMs, members: 4, maxAdjustmentMs: 1.5 } });
    const nowMs = 1_700_000_000_000 + 5_000;
    history.add(100_000, cluster([round(7, nowMs - 100), member('node-1', { baseMs: 1 })]));
    assert.equal(history.rounds.length, 0, 'the round already done when the page looked is not new');
    history.add(100_500, cluster([round(8, nowMs - 200), member('node-1', { baseMs: 1 })]));
    history.add(101_000, cluster([round(8, nowMs - 200), member('node-1', { baseMs: 1 })]));
    assert.deepEqual(history.rounds.map((mark) => [mark.round, mark.atMs]), [[8, 100_300]]);
    assert.equal(history.samples.length, 3);
    assert.equal(history.samples[0]!.maxSkewMs, 1);
    history.add(120_000, cluster([round(9, nowMs), member('node-1')]));
    assert.deepEqual(history.samples.map((sample) => sample.atMs), [120_000]);
    assert.deepEqual(history.rounds.map((mark) => mark.round), [9]);
  });

  test('formats milliseconds and picks round axis ends', () => {
    assert.equal(formatMs(1.234, { signed: true }), '+1.23 ms');
    assert.equal(formatMs(-0.4, { signed: true }), '−0.40 ms');
    assert.equal(formatMs(0.001, { signed: true }), '±0.00 ms');
    assert.equal(formatMs(123.4), '123 ms');
    assert.equal(formatMs(null), '—');
    assert.equal(niceCeiling(0.3, 2), 2);
    assert.equal(niceCeiling(3.1, 2), 5);
    assert.equal(niceCeiling(101, 2), 200);
    assert.equal(niceCeiling(7, 2), 10);
  });
});

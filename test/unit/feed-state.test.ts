// Checks the browser's pure board reducer: snapshots replace the topics they cover
// and set the position, changes apply once in seq order, duplicates and changes of
// another epoch are ignored, and the resume point is what was applied.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyTally, type BoardData, type Change } from '../../shared/board.js';
import type { ChangeMessage, SnapshotMessage, WelcomeMessage } from '../../shared/client-protocol.js';
import {
  ChangeOutcome,
  initialBoardState,
  reduceChange,
  reduceSnapshot,
  reduceWelcome,
  resumePointOf,
  teamsOfEvent,
  topicsForCatalog,
  type BoardState,
} from '../../web/src/feed-state.js';

const catalog = { teams: ['Gaul', 'Rome'], events: ['Luge', 'Stone Curling'] };

function welcome(): WelcomeMessage {
  return {
    type: 'welcome',
    protocol: 1,
    node: 'node-1',
    client: 'v-1',
    epoch: 'e1',
    seq: 3,
    catalog,
    raffle: { enabled: false, everyN: 100 },
    serverTime: 1_700_000_000_000,
  };
}

function snapshot(epoch: string, seq: number, data: BoardData): SnapshotMessage {
  return { type: 'snapshot', epoch, seq, data };
}

function scoreChange(epoch: string, seq: number, event: string, scores: Record<string, number>): ChangeMessage {
  const change: Change = { kind: 'score', seq, event, scores, updatedAt: 1000 + seq, node: 'node-1' };
  return { type: 'change', epoch, change };
}

function medalChange(epoch: string, seq: number, team: string, count: number): ChangeMessage {
  const change: Change = { kind: 'medal', seq, team, medal: 'gold', count, delta: 1, updatedAt: 2000 + seq, node: 'node-2' };
  return { type: 'change', epoch, change };
}

function synced(): BoardState {
  const tally = emptyTally();
  tally.gold = { value: 1, updatedAt: 500 };
  return reduceSnapshot(
    reduceWelcome(initialBoardState(), welcome()),
    snapshot('e1', 3, { medals: { Gaul: tally, Rome: emptyTally() }, scores: { Luge: { Gaul: { value: 7, updatedAt: 400 } } } }),
  );
}

describe('feed-state', () => {
  it('has no resume point before the first snapshot, and the snapshot position after it', () => {
    assert.equal(resumePointOf(initialBoardState()), undefined);
    assert.deepEqual(resumePointOf(synced()), { epoch: 'e1', seq: 3 });
  });

  it('takes the catalog from the welcome but keeps its own position', () => {
    const state = reduceWelcome(initialBoardState(), welcome());
    assert.deepEqual(state.catalog, catalog);
    assert.equal(state.epoch, null);
    assert.equal(state.seq, 0);
  });

  it('lists a topic per team and per event, and the raffle only when asked', () => {
    assert.deepEqual(topicsForCatalog(catalog, { raffle: false }), ['medals:Gaul', 'medals:Rome', 'score:Luge', 'score:Stone Curling']);
    assert.equal(topicsForCatalog(catalog, { raffle: true }).at(-1), 'raffle');
  });

  const cases: Array<{ name: string; message: ChangeMessage; outcome: ChangeOutcome; seq: number }> = [
    { name: 'the next change is applied', message: scoreChange('e1', 4, 'Luge', { Rome: 2 }), outcome: ChangeOutcome.applied, seq: 4 },
    { name: 'a gap is applied too (other topics take seqs)', message: medalChange('e1', 9, 'Rome', 1), outcome: ChangeOutcome.applied, seq: 9 },
    { name: 'the same seq is a duplicate', message: scoreChange('e1', 3, 'Luge', { Rome: 99 }), outcome: ChangeOutcome.duplicate, seq: 3 },
    { name: 'an older seq is a duplicate', message: scoreChange('e1', 1, 'Luge', { Rome: 99 }), outcome: ChangeOutcome.duplicate, seq: 3 },
    { name: 'another epoch is a mismatch', message: scoreChange('e2', 10, 'Luge', { Rome: 99 }), outcome: ChangeOutcome.epochMismatch, seq: 3 },
  ];
  for (const { name, message, outcome, seq } of cases) {
    it(name, () => {
      const before = synced();
      const result = reduceChange(before, message);
      assert.equal(result.outcome, outcome);
      assert.equal(result.state.seq, seq);
      if (outcome !== ChangeOutcome.applied) assert.deepEqual(result.state.data, before.data);
    });
  }

  it('applies a change without touching the previous state, and marks it as the last change', () => {
    const before = synced();
    const { state } = reduceChange(before, scoreChange('e1', 4, 'Luge', { Rome: 2 }));
    assert.deepEqual(state.data.scores.Luge, { Gaul: { value: 7, updatedAt: 400 }, Rome: { value: 2, updatedAt: 1004 } });
    assert.equal(before.data.scores.Luge?.Rome, undefined);
    assert.equal(state.lastChange?.seq, 4);
    const medal = reduceChange(state, medalChange('e1', 5, 'Gaul', 2)).state;
    assert.deepEqual(medal.data.medals.Gaul?.gold, { value: 2, updatedAt: 2005 });
    assert.equal(state.data.medals.Gaul?.gold.value, 1);
  });

  it('ignores every change before a snapshot gave it an epoch', () => {
    const state = reduceWelcome(initialBoardState(), welcome());
    assert.equal(reduceChange(state, scoreChange('e1', 1, 'Luge', { Gaul: 1 })).outcome, ChangeOutcome.epochMismatch);
  });

  it('replaces only the topics a snapshot answers, and takes its position even when lower', () => {
    const before = reduceChange(synced(), scoreChange('e1', 8, 'Stone Curling', { Rome: 4 })).state;
    const after = reduceSnapshot(before, snapshot('e2', 2, { medals: {}, scores: { Luge: { Rome: { value: 1, updatedAt: 10 } } } }), [
      'score:Luge',
      'medals:Gaul',
    ]);
    assert.equal(after.epoch, 'e2');
    assert.equal(after.seq, 2);
    assert.deepEqual(after.data.scores.Luge, { Rome: { value: 1, updatedAt: 10 } });
    assert.equal(after.data.medals.Gaul, undefined, 'a covered topic missing from the snapshot is emptied');
    assert.deepEqual(after.data.scores['Stone Curling'], { Rome: { value: 4, updatedAt: 1008 } }, 'an uncovered topic is kept');
    assert.ok(after.data.medals.Rome, 'an uncovered team is kept');
  });

  it('replaces everything with a snapshot of no stated topics (a refresh)', () => {
    const after = reduceSnapshot(synced(), snapshot('e1', 5, { medals: {}, scores: {} }));
    assert.deepEqual(after.data, { medals: {}, scores: {} });
    assert.equal(after.seq, 5);
  });

  it('shows the catalog teams of an event first, then teams only the data names', () => {
    const state = reduceChange(synced(), scoreChange('e1', 4, 'Luge', { Iberia: 5 })).state;
    assert.deepEqual(teamsOfEvent(state, 'Luge'), ['Gaul', 'Rome', 'Iberia']);
  });
});

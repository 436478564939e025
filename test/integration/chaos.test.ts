import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from '../../bench/lib/chaos-run.js';

// A short chaos run (the long one is `npm run chaos`): subscribers, villagers and a
// writer on the embedded cluster while each kind of fault happens once: a node and the
// store SIGKILLed and restarted, the dispatcher SIGKILLed and restarted, a node paused
// with SIGSTOP, a node's and the store's peer links cut and healed. Nothing may be
// lost, duplicated or reordered, and there may never be two leaders in one term.

test('chaos: each kind of fault once under load, nothing lost or diverged', { timeout: 240_000 }, async () => {
  const report = await runChaos({
    seed: 7,
    faults: 6,
    schedule: ['kill-node', 'kill-store', 'pause-node', 'cut-node', 'kill-dispatcher', 'cut-store'],
    faultIntervalMs: 2500,
    subscribers: 60,
    villagers: 8,
    writesPerS: 15,
  });
  const summary = JSON.stringify({ ...report, faultLog: undefined });
  assert.ok(report.writesAcked > 50, summary);
  assert.equal(report.writesLost, 0, summary);
  assert.equal(report.clientDivergence, 0, summary);
  assert.equal(report.gaps, 0, summary);
  assert.equal(report.duplicatesApplied, 0, summary);
  assert.equal(report.orderDivergence, 0, summary);
  assert.equal(report.raffleDivergence, 0, summary);
  assert.equal(report.dualLeaders, 0, summary);
  assert.ok(report.finalClockSkewMs < 25, summary);
  assert.ok(report.reconnects > 0, `subscribers of the killed node reconnected: ${summary}`);
});

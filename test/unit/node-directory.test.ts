import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeDirectory } from '../../server/dispatcher/node-directory.js';

const NONE: ReadonlySet<string> = new Set();

function directory(ids: string[]): NodeDirectory {
  return new NodeDirectory(ids.map((id, index) => ({ id, url: `http://127.0.0.1:${4011 + index}` })));
}

/** A directory whose nodes all reported (asked at t=0, answered at t=1) with the given client counts. */
function reported(loads: Record<string, number>): NodeDirectory {
  const nodes = directory(Object.keys(loads));
  for (const [id, clients] of Object.entries(loads)) nodes.report(id, { clients, ready: true }, 0, 1);
  return nodes;
}

const chosen = (nodes: NodeDirectory, exclude: ReadonlySet<string>, nowMs: number): string | null => nodes.choose(exclude, nowMs)?.id ?? null;

describe('NodeDirectory entries', () => {
  test('derives the WebSocket URL from the base URL and starts unhealthy and not ready', () => {
    // Checks the initial entry of an http and an https node.
    const nodes = new NodeDirectory([
      { id: 'node-1', url: 'http://127.0.0.1:4011' },
      { id: 'node-2', url: 'https://example.org' },
    ]);
    assert.equal(nodes.get('node-1')!.ws, 'ws://127.0.0.1:4011/ws');
    assert.equal(nodes.get('node-2')!.ws, 'wss://example.org/ws');
    assert.equal(nodes.get('node-1')!.healthy, false);
    assert.equal(nodes.get('node-1')!.ready, false);
    assert.equal(nodes.get('nope'), undefined);
    assert.equal(chosen(nodes, NONE, 0), null, 'no report yet: no node to give');
  });
});

describe('NodeDirectory.choose', () => {
  test('picks the least-loaded healthy, ready node', () => {
    // Checks a table of reported client counts against the node chosen first.
    const table: Array<[loads: Record<string, number>, expected: string]> = [
      [{ 'node-1': 5, 'node-2': 2, 'node-3': 9 }, 'node-2'],
      [{ 'node-1': 0, 'node-2': 2, 'node-3': 9 }, 'node-1'],
      [{ 'node-1': 7, 'node-2': 7, 'node-3': 6 }, 'node-3'],
      [{ 'node-b': 3, 'node-a': 3 }, 'node-a'],
    ];
    for (const [loads, expected] of table) assert.equal(chosen(reported(loads), NONE, 10), expected, JSON.stringify(loads));
  });

  test('honours exclude unless no other node is available', () => {
    // Checks that the excluded emptiest node is skipped, and chosen anyway when it is the only healthy one.
    const nodes = reported({ 'node-1': 0, 'node-2': 50, 'node-3': 60 });
    assert.equal(chosen(nodes, new Set(['node-1']), 10), 'node-2');
    assert.equal(chosen(nodes, new Set(['node-1', 'node-2']), 11), 'node-3');
    assert.equal(chosen(nodes, new Set(['node-1', 'node-2', 'node-3']), 12), 'node-1', 'everything excluded: fall back to all candidates');
    nodes.failed('node-2');
    nodes.failed('node-3');
    assert.equal(chosen(nodes, new Set(['node-1']), 13), 'node-1', 'the only healthy node, even if excluded');
  });

  test('skips unhealthy and not-ready nodes, and returns null when none is left', () => {
    // Checks failed() and a not-ready report take nodes out of the rotation, and a new report puts them back.
    const nodes = reported({ 'node-1': 0, 'node-2': 5, 'node-3': 9 });
    nodes.failed('node-1');
    assert.equal(chosen(nodes, NONE, 10), 'node-2');
    nodes.report('node-2', { clients: 0, ready: false }, 11, 12);
    assert.equal(chosen(nodes, NONE, 13), 'node-3');
    nodes.failed('node-3');
    assert.equal(chosen(nodes, NONE, 14), null);
    nodes.report('node-1', { clients: 0, ready: true }, 15, 16);
    assert.equal(chosen(nodes, NONE, 17), 'node-1');
  });

  test('counts pending assignments until a report asked for after them arrives', () => {
    // Checks load() = reported clients + assignments not yet seen, and which report clears them.
    const nodes = reported({ 'node-1': 0 });
    const entry = nodes.get('node-1')!;
    nodes.choose(NONE, 100);
    nodes.choose(NONE, 200);
    nodes.choose(NONE, 300);
    assert.equal(nodes.load(entry), 3);
    // A report asked for at 150 saw the assignment at 100 (now counted in clients), not those at 200 and 300.
    nodes.report('node-1', { clients: 1, ready: true }, 150, 400);
    assert.equal(nodes.load(entry), 1 + 2);
    // A report asked for exactly at an assignment's time keeps it pending: the report may not have seen it.
    nodes.report('node-1', { clients: 2, ready: true }, 300, 450);
    assert.equal(nodes.load(entry), 2 + 1);
    nodes.report('node-1', { clients: 3, ready: true }, 301, 500);
    assert.equal(nodes.load(entry), 3);
    assert.equal(entry.assignedTotal, 3);
  });

  test('30 choices in a burst over 3 empty nodes give each node 10', () => {
    // Checks the spread when no report arrives during the burst, all at the same instant.
    const nodes = reported({ 'node-1': 0, 'node-2': 0, 'node-3': 0 });
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const id = chosen(nodes, NONE, 1000)!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { 'node-1': 10, 'node-2': 10, 'node-3': 10 });
  });

  test('30 choices spread over time also give each node 10, round robin', () => {
    // Checks the order of a burst at increasing times: the least recently assigned wins each tie.
    const nodes = reported({ 'node-1': 0, 'node-2': 0, 'node-3': 0 });
    const order: string[] = [];
    for (let i = 0; i < 30; i++) order.push(chosen(nodes, NONE, 1000 + i)!);
    for (let i = 0; i < 30; i++) assert.equal(order[i], `node-${(i % 3) + 1}`, `choice ${i}`);
  });

  test('the tie-break is deterministic: least recently assigned, then id', () => {
    // Checks two directories fed the same inputs choose the same sequence, and the id order decides first.
    const run = (): string[] => {
      const nodes = reported({ 'node-c': 0, 'node-a': 0, 'node-b': 0 });
      return [0, 0, 0, 1, 1, 1].map((nowMs) => chosen(nodes, NONE, nowMs)!);
    };
    const first = run();
    assert.deepEqual(first, run());
    assert.deepEqual(first, ['node-a', 'node-b', 'node-c', 'node-a', 'node-b', 'node-c']);
  });
});

describe('NodeDirectory.report and failed', () => {
  test('failed() returns whether the node was healthy, and counts failures until the next report', () => {
    // Checks the return value over repeated failures and a recovery.
    const nodes = reported({ 'node-1': 0 });
    assert.equal(nodes.failed('node-1'), true);
    assert.equal(nodes.failed('node-1'), false);
    assert.equal(nodes.get('node-1')!.failures, 2);
    nodes.report('node-1', { clients: 0, ready: true }, 10, 11);
    assert.equal(nodes.get('node-1')!.failures, 0);
    assert.equal(nodes.failed('node-1'), true);
    assert.equal(nodes.failed('unknown'), false);
    assert.equal(directory(['node-9']).failed('node-9'), false, 'never healthy');
  });

  test('a report asked for before the last accepted one is ignored', () => {
    // Checks that a late answer to an older request changes neither clients, readiness nor health.
    const nodes = directory(['node-1']);
    nodes.report('node-1', { clients: 4, ready: true }, 200, 210);
    nodes.report('node-1', { clients: 99, ready: false }, 100, 220);
    const entry = nodes.get('node-1')!;
    assert.equal(entry.clients, 4);
    assert.equal(entry.ready, true);
    assert.equal(entry.reportRequestedMs, 200);
    assert.equal(entry.lastReportMs, 210);
    // A stale success does not revive a node that has since failed.
    nodes.failed('node-1');
    nodes.report('node-1', { clients: 0, ready: true }, 150, 230);
    assert.equal(entry.healthy, false);
    // A newer one does.
    nodes.report('node-1', { clients: 1, ready: true }, 240, 250);
    assert.equal(entry.healthy, true);
    assert.equal(entry.clients, 1);
  });

  test('a report for an unknown node is ignored', () => {
    // Checks that no entry appears for an id the directory was not given.
    const nodes = directory(['node-1']);
    nodes.report('node-x', { clients: 1, ready: true }, 1, 2);
    assert.deepEqual(nodes.entries().map((entry) => entry.id), ['node-1']);
  });
});

import { seededRandom } from '../../server/algorithms/random.js';
import { runVillagers } from '../../server/tablets.js';
import type { BoardData, Change } from '../../shared/board.js';
import { ClusterHarness, waitFor } from '../../test/support/cluster-harness.js';
import { ResilientSubscriber } from '../../test/support/resilient-subscriber.js';

// The chaos run: the embedded cluster under steady load (WebSocket subscribers that
// reconnect and resume, villagers pulling, a writer sending authenticated writes)
// while a seeded schedule of faults SIGKILLs and restarts nodes, the store and the
// dispatcher, SIGSTOPs a node for a long pause, and cuts and heals a member's peer
// links. Afterwards it checks that nothing was lost, duplicated or reordered anywhere.
// Bounded in time and count, loopback only, and it stops by itself.

export interface ChaosOptions {
  seed: number;
  /** How many faults to inject. */
  faults: number;
  /** A fixed list of faults instead of seeded picks (the short run in npm test covers each kind once). */
  schedule?: Fault[];
  /** Time between two faults (the fault lasts part of it). */
  faultIntervalMs: number;
  subscribers: number;
  villagers: number;
  writesPerS: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  faults: number;
  faultLog: string[];
  writesAcked: number;
  writesRefused: number;
  writesLost: number;
  updatesDelivered: number;
  reconnects: number;
  clientDivergence: number;
  gaps: number;
  duplicatesApplied: number;
  orderDivergence: number;
  raffleDivergence: number;
  blocksCompared: number;
  dualLeaders: number;
  terms: number;
  clockSkewAfterFaultsMaxMs: number;
  finalClockSkewMs: number;
  ticketsRequested: number;
}

const MEMBERS = ['store', 'node-1', 'node-2', 'node-3'];
const NODES = ['node-1', 'node-2', 'node-3'];

export type Fault = 'kill-node' | 'kill-store' | 'kill-dispatcher' | 'pause-node' | 'cut-node' | 'cut-store';
const FAULTS: Fault[] = ['kill-node', 'kill-store', 'kill-dispatcher', 'pause-node', 'cut-node', 'cut-store'];

interface Health {
  member?: { leader: string | null; term: number; election: { role: string }; clock: { nowMs: number; monotonicMs: number } };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const random = seededRandom(options.seed);
  const cluster = await ClusterHarness.start({ nodes: 3, raffleEveryN: 10 });
  const faultLog: string[] = [];
  let stopped = false;
  try {
    // ---- load ----
    const subscribers = Array.from({ length: options.subscribers }, (_, i) => new ResilientSubscriber(cluster.dispatcherUrl, `chaos-${i}`));
    for (const subscriber of subscribers) subscriber.start();
    await waitFor(() => subscribers.every((subscriber) => subscriber.epoch !== null), 30_000, 'every subscriber to get a snapshot');
    const acked: Change[] = [];
    let refused = 0;
    const writer = (async () => {
      let i = 0;
      while (!stopped) {
        const node = NODES[i % NODES.length]!;
        i++;
        const body = i % 3 === 0 ? { medal: (['gold', 'silver', 'bronze'] as const)[i % 3] } : { scores: { Gaul: i, Rome: i * 2 } };
        const path = 'medal' in body ? `/api/medals/${i % 2 ? 'Gaul' : 'Rome'}` : `/api/scores/${encodeURIComponent(['Luge', 'Stone Curling', 'Stone Skating'][i % 3]!)}`;
        try {
          const result = await cluster.write(node, path, body);
          if (result.status === 200) acked.push(result.body.change as Change);
          else refused++;
        } catch {
          refused++;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000 / options.writesPerS));
      }
    })();
    const villagerAbort = new AbortController();
    const villagers = runVillagers({ dispatcher: cluster.dispatcherUrl, count: options.villagers, ratePerS: 5, durationS: 0, quiet: true }, () => {}, villagerAbort.signal);

    // ---- leader watch: never two leaders in one term ----
    const leadersByTerm = new Map<number, Set<string>>();
    let dualLeaders = 0;
    const watch = (async () => {
      while (!stopped) {
        await Promise.all(
          MEMBERS.map(async (member) => {
            try {
              const health = (await cluster.get(member, '/api/health')).body as Health;
              if (health.member?.election.role === 'leader') {
                let set = leadersByTerm.get(health.member.term);
                if (!set) leadersByTerm.set(health.member.term, (set = new Set()));
                set.add(member);
                if (set.size > 1) dualLeaders = Math.max(dualLeaders, set.size - 1);
              }
            } catch {
              // down or paused: nothing to say
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const skew = async (): Promise<number | null> => {
      const readings: number[] = [];
      for (const member of MEMBERS) {
        try {
          const health = (await cluster.get(member, '/api/health')).body as Health;
          if (health.member) readings.push(health.member.clock.nowMs - health.member.clock.monotonicMs);
        } catch {
          return null;
        }
      }
      return Math.max(...readings) - Math.min(...readings);
    };

    // ---- faults ----
    // Every kind of fault equally often: rounds of a seeded shuffle of all kinds.
    const schedule: Fault[] = options.schedule ? [...options.schedule] : [];
    while (schedule.length < options.faults) {
      const round = [...FAULTS];
      for (let i = round.length - 1; i > 0; i--) {
        const j = random.int(i + 1);
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
      schedule.push(...round);
    }
    let skewAfterFaultsMaxMs = 0;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let n = 0; n < options.faults; n++) {
      const fault = schedule[n]!;
      const node = NODES[random.int(NODES.length)]!;
      const holdMs = options.faultIntervalMs * 0.4;
      const line = `${(n + 1).toString().padStart(2)}. ${fault}${fault.endsWith('node') ? ` ${node}` : ''}`;
      faultLog.push(line);
      log(line);
      switch (fault) {
        case 'kill-node':
          await cluster.kill(node);
          await new Promise((resolve) => setTimeout(resolve, holdMs));
          await cluster.restart(node);
          break;
        case 'kill-store':
          await cluster.kill('store');
          await new Promise((resolve) => setTimeout(resolve, holdMs));
          await cluster.restart('store');
          break;
        case 'kill-dispatcher':
          await cluster.kill('dispatcher');
          await new Promise((resolve) => setTimeout(resolve, holdMs));
          await cluster.restart('dispatcher');
          break;
        case 'pause-node':
          cluster.pause(node);
          await new Promise((resolve) => setTimeout(resolve, Math.max(holdMs, 2000)));
          cluster.resume(node);
          break;
        case 'cut-node':
        case 'cut-store': {
          const member = fault === 'cut-store' ? 'store' : node;
          await cluster.write(member, '/api/control/partition', { cut: true });
          await new Promise((resolve) => setTimeout(resolve, holdMs));
          await cluster.write(member, '/api/control/partition', { cut: false });
          break;
        }
      }
      // Recovery: every node serving again, then the clocks measured before the next fault.
      await cluster.waitUntilServing(60_000);
      await new Promise((resolve) => setTimeout(resolve, options.faultIntervalMs * 0.6));
      const skewMs = await skew();
      if (skewMs !== null) skewAfterFaultsMaxMs = Math.max(skewAfterFaultsMaxMs, skewMs);
    }

    // ---- quiesce and check ----
    stopped = true;
    await writer;
    await watch;
    await cluster.waitUntilServing(60_000);
    const store = (await cluster.get('store', '/api/state')).body as unknown as { seq: number; epoch: string; data: BoardData };
    await waitFor(() => subscribers.every((subscriber) => subscriber.seq === store.seq), 30_000, 'every subscriber to reach the store seq');
    // Every acknowledged write is in the store's log, as it was acknowledged.
    const logged = new Map<number, Change>();
    for (let after = 0; ; ) {
      const page = (await cluster.get('store', `/api/changes?after=${after}&limit=10000`)).body as unknown as { changes: Change[] };
      for (const change of page.changes) logged.set(change.seq, change);
      if (page.changes.length < 10_000) break;
      after = page.changes.at(-1)!.seq;
    }
    const writesLost = acked.filter((change) => JSON.stringify(logged.get(change.seq)) !== JSON.stringify(change)).length;
    const clientDivergence = subscribers.filter((subscriber) => subscriber.epoch !== store.epoch || JSON.stringify(subscriber.board) !== JSON.stringify(store.data)).length;
    // The same tickets in the same order on every node: compare every block digest that two nodes both have.
    const statuses = await Promise.all(NODES.map(async (node) => (await cluster.get(node, '/api/multicast')).body as unknown as { checkpoints: Array<{ delivered: number; digest: string }> }));
    let orderDivergence = 0;
    let blocksCompared = 0;
    const byBlock = new Map<number, Set<string>>();
    for (const status of statuses) for (const { delivered, digest } of status.checkpoints) (byBlock.get(delivered) ?? byBlock.set(delivered, new Set()).get(delivered)!).add(digest);
    for (const digests of byBlock.values()) {
      blocksCompared++;
      if (digests.size > 1) orderDivergence++;
    }
    const raffleDivergence = (cluster.logs.get('store') ?? []).filter((line) => line.event === 'raffle.divergence').length;
    const finalSkew = await waitFor(async () => {
      const value = await skew();
      return value !== null && value < 25 ? { value } : null;
    }, 30_000, 'the clocks to converge').catch(() => ({ value: Number.NaN }));
    for (const subscriber of subscribers) subscriber.stop();
    villagerAbort.abort();
    const villagerSummary = await villagers;
    return {
      seed: options.seed,
      faults: options.faults,
      faultLog,
      writesAcked: acked.length,
      writesRefused: refused,
      writesLost,
      updatesDelivered: subscribers.reduce((sum, subscriber) => sum + subscriber.stats.applied, 0),
      reconnects: subscribers.reduce((sum, subscriber) => sum + subscriber.stats.reconnects, 0),
      clientDivergence,
      gaps: subscribers.reduce((sum, subscriber) => sum + subscriber.stats.gaps, 0),
      duplicatesApplied: subscribers.reduce((sum, subscriber) => sum + subscriber.duplicatesApplied, 0),
      orderDivergence,
      raffleDivergence,
      blocksCompared,
      dualLeaders,
      terms: leadersByTerm.size,
      clockSkewAfterFaultsMaxMs: skewAfterFaultsMaxMs,
      finalClockSkewMs: finalSkew.value,
      ticketsRequested: villagerSummary.requests,
    };
  } finally {
    stopped = true;
    await cluster.stop();
  }
}

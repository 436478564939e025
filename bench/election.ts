import { ClusterHarness, waitFor, type LogLine } from '../test/support/cluster-harness.js';
import { percentileOfSorted } from './lib/stats.js';
import { renderTable } from './lib/table.js';

// npm run bench -- election [--kills N]: on the embedded cluster (store and three
// nodes), SIGKILL the leader N times (default 20); each time measure from the kill
// until every live member has reported the same new leader. A member reports a leader
// with an `election.leader` log line; the harness timestamps each line as it reads it
// from the member's pipe, so the figure is the time until the last survivor knew. The
// killed member is restarted, and the cluster given 2 s to settle, before the next kill.

const MEMBERS = ['store', 'node-1', 'node-2', 'node-3'];
const SETTLE_MS = 2000;

function leaderLines(cluster: ClusterHarness, member: string, afterMs: number): LogLine[] {
  return (cluster.logs.get(member) ?? []).filter((line) => line.event === 'election.leader' && line.receivedMs >= afterMs);
}

export async function run(args: string[]): Promise<void> {
  const killsIndex = args.indexOf('--kills');
  const kills = killsIndex >= 0 ? Number(args[killsIndex + 1]) : 20;
  if (!Number.isInteger(kills) || kills < 1 || kills > 1000) throw new Error('--kills must be a whole number from 1 to 1000');
  const cluster = await ClusterHarness.start({ nodes: 3 });
  const rows: Array<[string, string, string, string, number]> = [];
  const times: number[] = [];
  try {
    const current = async () =>
      waitFor(async () => {
        const views = await Promise.all(MEMBERS.map(async (member) => (await cluster.get(member, '/api/health')).body as { member: { leader: string | null; term: number } }));
        const first = views[0]!.member;
        return first.leader !== null && views.every((view) => view.member.leader === first.leader && view.member.term === first.term) ? first : null;
      }, 20_000, 'an agreed leader');
    let { leader } = await current();
    for (let kill = 1; kill <= kills; kill++) {
      const killedAt = performance.now();
      await cluster.kill(leader!);
      const survivors = MEMBERS.filter((member) => member !== leader);
      // Every survivor's latest leader line since the kill names the same, other leader.
      const agreed = await waitFor(() => {
        const latest = survivors.map((member) => leaderLines(cluster, member, killedAt).at(-1));
        if (latest.some((line) => !line || line.leader === null || line.leader === leader)) return null;
        if (latest.some((line) => line!.leader !== latest[0]!.leader || line!.term !== latest[0]!.term)) return null;
        return { leader: latest[0]!.leader as string, term: latest[0]!.term as number, atMs: Math.max(...latest.map((line) => line!.receivedMs)) };
      }, 20_000, 'survivors to agree on a new leader');
      const elapsedMs = agreed.atMs - killedAt;
      times.push(elapsedMs);
      rows.push([String(kill), leader!, agreed.leader, String(agreed.term), elapsedMs]);
      await cluster.restart(leader!);
      ({ leader } = await current());
      // Let the restarted process finish starting (tsx compiles it; it joins the view
      // and syncs its clock) before the next kill, so that each kill meets a settled
      // cluster rather than one still busy with the last restart.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    }
  } finally {
    await cluster.stop();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const p50 = percentileOfSorted(sorted, 50);
  const p99 = percentileOfSorted(sorted, 99);
  process.stdout.write(renderTable(['kill', 'killed leader', 'new leader', 'term', 'ms to agreement'], rows) + '\n\n');
  process.stdout.write(`p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms over ${kills} kills (target: p99 under 500 ms)\n`);
  process.stdout.write(JSON.stringify({ bench: 'election', kills, p50_ms: Number(p50.toFixed(1)), p99_ms: Number(p99.toFixed(1)) }) + '\n');
}

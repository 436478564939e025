// What the cluster view computes from the `cluster` topic, as pure functions: which
// members exist, who leads at which term, each clock's offset from the ensemble and
// the largest pairwise skew, the state of each peer link seen from both ends, the
// delivered tickets of every node aligned by their place in the total order, and a
// bounded history of clock samples with the Berkeley rounds. No DOM, no timers: the
// same code runs in Node's test runner (test/unit/cluster-model.test.ts).

import type { ClusterState, MemberStatus } from '../../shared/cluster.js';

export const STORE_ID = 'store';

/** The store first, then nodes in natural order (node-2 before node-10). */
export function orderMembers(ids: Iterable<string>): string[] {
  const collator = new Intl.Collator('en', { numeric: true });
  return [...new Set(ids)].sort((a, b) => (a === STORE_ID ? -1 : b === STORE_ID ? 1 : collator.compare(a, b)));
}

/**
 * Every member the page knows of: those with a status, every peer named in anyone's
 * links (a member stopped before the relaying node started has no status, but its
 * peers still list it), and `extra` (e.g. the supervisor's process list).
 */
export function knownMemberIds(state: ClusterState | null, extra: readonly string[] = []): string[] {
  const ids = new Set<string>(extra);
  for (const [id, status] of Object.entries(state?.members ?? {})) {
    ids.add(id);
    for (const peer of Object.keys(status.links)) ids.add(peer);
  }
  return orderMembers(ids);
}

/** A member whose status is missing or older than the relaying node's bound. */
export function isStale(state: ClusterState | null, id: string): boolean {
  if (!state || !(id in state.members)) return true;
  return state.stale.includes(id);
}

/** The members with a fresh status. */
export function liveStatuses(state: ClusterState | null): MemberStatus[] {
  if (!state) return [];
  return Object.values(state.members).filter((status) => !state.stale.includes(status.id));
}

export interface LeaderView {
  leader: string | null;
  term: number;
  /** How many live members name that leader at that term. */
  votes: number;
}

/** The leader that the live members name at the highest term they know (the most named, if they differ). */
export function leaderOf(state: ClusterState | null): LeaderView {
  const live = liveStatuses(state);
  if (live.length === 0) return { leader: null, term: 0, votes: 0 };
  const term = Math.max(...live.map((status) => status.term));
  const counts = new Map<string, number>();
  for (const status of live) {
    if (status.term === term && status.leader !== null) counts.set(status.leader, (counts.get(status.leader) ?? 0) + 1);
  }
  let leader: string | null = null;
  let votes = 0;
  for (const [candidate, count] of counts) {
    if (count > votes || (count === votes && leader !== null && candidate < leader)) {
      leader = candidate;
      votes = count;
    }
  }
  return { leader, term, votes };
}

/**
 * A member's synchronised clock minus the host's CLOCK_MONOTONIC, read together. For
 * processes on one host the difference of two of these is their exact skew, whenever
 * each was published (it changes only as fast as the clocks are slewed).
 */
export function clockBaseMs(status: MemberStatus): number {
  return status.clock.nowMs - status.clock.monotonicMs;
}

export interface ClockReadings {
  /** Each live member's distance from the mean of the live members, ms (positive: ahead). */
  offsets: Record<string, number>;
  /** The largest difference between two live members' clocks, ms; null with fewer than two. */
  maxSkewMs: number | null;
  /** The two members furthest apart (ahead, behind), when there are two. */
  extremes: [ahead: string, behind: string] | null;
}

export function clockReadings(state: ClusterState | null): ClockReadings {
  const live = liveStatuses(state);
  const offsets: Record<string, number> = {};
  if (live.length === 0) return { offsets, maxSkewMs: null, extremes: null };
  const bases = live.map((status) => [status.id, clockBaseMs(status)] as const);
  const mean = bases.reduce((sum, [, base]) => sum + base, 0) / bases.length;
  let ahead = bases[0]!;
  let behind = bases[0]!;
  for (const entry of bases) {
    offsets[entry[0]] = entry[1] - mean;
    if (entry[1] > ahead[1]) ahead = entry;
    if (entry[1] < behind[1]) behind = entry;
  }
  if (bases.length < 2) return { offsets, maxSkewMs: null, extremes: null };
  return { offsets, maxSkewMs: ahead[1] - behind[1], extremes: [ahead[0], behind[0]] };
}

export type EdgeState = 'up' | 'connecting' | 'down' | 'cut' | 'unknown';

/**
 * The link between a and b, from what both ends say; a stale end's word is old and
 * left out. A cut at either end wins; then up only when every fresh end says up.
 */
export function edgeState(state: ClusterState | null, a: string, b: string): EdgeState {
  const ends = [
    isStale(state, a) ? undefined : state!.members[a]!.links[b],
    isStale(state, b) ? undefined : state!.members[b]!.links[a],
  ].filter((link) => link !== undefined);
  if (ends.length === 0) return 'unknown';
  if (ends.some((link) => link.cut)) return 'cut';
  if (ends.every((link) => link.state === 'up')) return 'up';
  if (ends.some((link) => link.state === 'connecting')) return 'connecting';
  return 'down';
}

/** A member cut off by the partition control: every link it reports is cut. */
export function isCut(status: MemberStatus | undefined): boolean {
  const links = Object.values(status?.links ?? {});
  return links.length > 0 && links.every((link) => link.cut);
}

// ---- delivered tickets, side by side ----

export interface DeliveredTicket {
  index: number;
  sender: string;
  kind: string;
  client: string;
}

/** What must be equal for two nodes to agree on a delivery. */
export function ticketKey(ticket: DeliveredTicket): string {
  return `${ticket.sender}|${ticket.kind}|${ticket.client}`;
}

export interface DeliveryColumn {
  node: string;
  stale: boolean;
  /** The highest delivery index this node reported, or null. */
  lastIndex: number | null;
  /** Deliveries past the shown rows (this node is ahead of the slowest). */
  newer: number;
}

export interface DeliveryRow {
  index: number;
  /** One cell per column, null where that node did not report this index. */
  cells: Array<DeliveredTicket | null>;
  /** Every fresh node that reported this index has the same ticket there. */
  agree: boolean;
  /** Every fresh node reported it. */
  complete: boolean;
}

export interface DeliveryTable {
  columns: DeliveryColumn[];
  rows: DeliveryRow[];
  /** Rows shown, all agreeing, every fresh node present in the last one. */
  agree: boolean;
  /** The first index where fresh nodes differ, if any. */
  firstDisagreement: number | null;
}

/**
 * The recent deliveries of `nodes`, aligned by index. The rows end at the newest index
 * that the most fresh nodes have reported (so that, with statuses published at
 * different instants, the rows compare like with like), and go back at most `rowsMax`.
 */
export function alignDeliveries(state: ClusterState | null, nodes: readonly string[], rowsMax = 12): DeliveryTable {
  const perNode = nodes.map((node) => {
    const deliveries = state?.members[node]?.multicast?.recentDeliveries ?? [];
    const byIndex = new Map<number, DeliveredTicket>();
    for (const ticket of deliveries) byIndex.set(ticket.index, ticket);
    const lastIndex = deliveries.length === 0 ? null : Math.max(...deliveries.map((ticket) => ticket.index));
    return { node, stale: isStale(state, node), byIndex, lastIndex };
  });
  const fresh = perNode.filter((column) => !column.stale && column.lastIndex !== null);
  const reported = perNode.filter((column) => column.lastIndex !== null);
  // The rows end where the most fresh nodes overlap (the newest such index): with every
  // window overlapping, that is the slowest node's last delivery.
  const counted = fresh.length > 0 ? fresh : reported;
  const coverage = new Map<number, number>();
  for (const column of counted) for (const index of column.byIndex.keys()) coverage.set(index, (coverage.get(index) ?? 0) + 1);
  let top: number | null = null;
  let best = 0;
  for (const [index, count] of coverage) {
    if (count > best || (count === best && top !== null && index > top)) {
      top = index;
      best = count;
    }
  }
  const indexes = new Set<number>();
  if (top !== null) for (const column of perNode) for (const index of column.byIndex.keys()) if (index <= top) indexes.add(index);
  const shown = [...indexes].sort((a, b) => a - b).slice(-rowsMax);
  const rows = shown.map((index) => {
    const cells = perNode.map((column) => column.byIndex.get(index) ?? null);
    const freshCells = perNode.filter((column) => !column.stale).map((column) => column.byIndex.get(index) ?? null);
    const keys = new Set(freshCells.filter((cell) => cell !== null).map((cell) => ticketKey(cell!)));
    return { index, cells, agree: keys.size <= 1, complete: freshCells.every((cell) => cell !== null) };
  });
  const columns = perNode.map((column) => ({
    node: column.node,
    stale: column.stale,
    lastIndex: column.lastIndex,
    newer: top === null ? 0 : [...column.byIndex.keys()].filter((index) => index > top).length,
  }));
  const firstDisagreement = rows.find((row) => !row.agree)?.index ?? null;
  const agree = rows.length > 0 && firstDisagreement === null && rows.at(-1)!.complete;
  return { columns, rows, agree, firstDisagreement };
}

// ---- the clocks over time ----

export interface ClockSample {
  /** The page's clock when the state arrived, ms. */
  atMs: number;
  offsets: Record<string, number>;
  maxSkewMs: number | null;
}

export interface RoundMark {
  /** When the round happened, on the page's time axis. */
  atMs: number;
  leader: string;
  term: number;
  round: number;
  members: number;
  maxAdjustmentMs: number;
}

/** The last `windowMs` of clock samples and Berkeley rounds, bounded in count too. */
export class ClockHistory {
  readonly samples: ClockSample[] = [];
  readonly rounds: RoundMark[] = [];
  private readonly lastRoundSeen = new Map<string, string>();

  constructor(
    readonly windowMs = 60_000,
    private readonly samplesMax = 1_000,
  ) {}

  /** Records a state that arrived at `atMs` (page time); returns the readings it made. */
  add(atMs: number, state: ClusterState): ClockReadings {
    const readings = clockReadings(state);
    this.samples.push({ atMs, offsets: readings.offsets, maxSkewMs: readings.maxSkewMs });
    for (const status of liveStatuses(state)) {
      const round = status.lastRound;
      if (!round) continue;
      const key = `${round.term}:${round.round}`;
      const seen = this.lastRoundSeen.get(status.id);
      this.lastRoundSeen.set(status.id, key);
      // The first sight of a member's last round is history from before the page looked.
      if (seen === undefined || seen === key) continue;
      // The round's time on the member's clock, moved onto the page's axis by how long ago it was then.
      const agoMs = Math.max(0, status.clock.nowMs - round.atMs);
      this.rounds.push({ atMs: atMs - agoMs, leader: status.id, term: round.term, round: round.round, members: round.members, maxAdjustmentMs: round.maxAdjustmentMs });
    }
    this.prune(atMs);
    return readings;
  }

  private prune(nowMs: number): void {
    const oldest = nowMs - this.windowMs;
    while (this.samples.length > 0 && (this.samples[0]!.atMs < oldest || this.samples.length > this.samplesMax)) this.samples.shift();
    while (this.rounds.length > 0 && (this.rounds[0]!.atMs < oldest || this.rounds.length > this.samplesMax)) this.rounds.shift();
  }
}

// ---- numbers as shown ----

/** "+1.25 ms", "−0.40 ms", "12.3 ms"; signed for offsets. */
export function formatMs(value: number | null | undefined, options: { signed?: boolean } = {}): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  const text = magnitude.toFixed(digits);
  if (!options.signed) return `${value < 0 ? '−' : ''}${text} ms`;
  if (Number(text) === 0) return `±${text} ms`;
  return `${value < 0 ? '−' : '+'}${text} ms`;
}

/** A round number above `value` on the 1-2-5 ladder, at least `minimum`: a chart's axis end. */
export function niceCeiling(value: number, minimum: number): number {
  const target = Math.max(Math.abs(value), minimum);
  const exponent = Math.floor(Math.log10(target));
  for (const step of [1, 2, 5, 10]) {
    const candidate = step * 10 ** exponent;
    if (candidate >= target) return candidate;
  }
  return 10 ** (exponent + 1);
}

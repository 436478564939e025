// The dispatcher's knowledge of the nodes: their addresses, their last reported load
// and health. Pure: time is passed in. Choosing is least-loaded first, where the load
// is the node's last report plus the pages assigned to it since that report was
// asked for, so that a burst of new pages spreads out instead of all going to the
// node that looked emptiest a moment ago.

export interface NodeEntry {
  id: string;
  http: string;
  ws: string;
  /** Live clients in the node's last report. */
  clients: number;
  ready: boolean;
  /** The node's link to the store is up: its board is current and it accepts writes. */
  storeUp: boolean;
  healthy: boolean;
  /** When the last successful report was asked for (ms). */
  reportRequestedMs: number;
  lastReportMs: number;
  /** Times of assignments not yet visible in a report. */
  pendingAssignmentsMs: number[];
  assignedTotal: number;
  lastAssignedMs: number;
  failures: number;
}

export interface NodeReport {
  clients: number;
  ready: boolean;
  storeUp?: boolean;
}

export class NodeDirectory {
  private readonly nodes = new Map<string, NodeEntry>();

  constructor(nodes: Array<{ id: string; url: string }>) {
    for (const node of nodes) {
      this.nodes.set(node.id, {
        id: node.id,
        http: node.url,
        ws: node.url.replace(/^http/, 'ws') + '/ws',
        clients: 0,
        ready: false,
        storeUp: false,
        healthy: false,
        reportRequestedMs: -Infinity,
        lastReportMs: -Infinity,
        pendingAssignmentsMs: [],
        assignedTotal: 0,
        lastAssignedMs: -Infinity,
        failures: 0,
      });
    }
  }

  entries(): NodeEntry[] {
    return [...this.nodes.values()];
  }

  get(id: string): NodeEntry | undefined {
    return this.nodes.get(id);
  }

  /** A successful health report, asked for at requestedMs. */
  report(id: string, report: NodeReport, requestedMs: number, nowMs: number): void {
    const node = this.nodes.get(id);
    if (!node || requestedMs < node.reportRequestedMs) return; // unknown, or older than the last one
    node.clients = report.clients;
    node.ready = report.ready;
    node.storeUp = report.storeUp ?? true;
    node.healthy = true;
    node.failures = 0;
    node.reportRequestedMs = requestedMs;
    node.lastReportMs = nowMs;
    node.pendingAssignmentsMs = node.pendingAssignmentsMs.filter((at) => at >= requestedMs);
  }

  /** A failed health check: the node is out of the rotation until it answers again. */
  failed(id: string): boolean {
    const node = this.nodes.get(id);
    if (!node) return false;
    const wasHealthy = node.healthy;
    node.healthy = false;
    node.failures++;
    return wasHealthy;
  }

  load(node: NodeEntry): number {
    return node.clients + node.pendingAssignmentsMs.length;
  }

  /**
   * The healthy, ready node with the least load, not in `exclude` (the node a page
   * just lost) unless no other is available, and with its store link up unless none
   * has one (during a store outage every node still serves its last board). Ties go to
   * the node assigned least recently, then by id, so that the choice is deterministic.
   */
  choose(exclude: ReadonlySet<string>, nowMs: number): NodeEntry | null {
    const candidates = this.entries().filter((node) => node.healthy && node.ready);
    const notExcluded = candidates.filter((node) => !exclude.has(node.id));
    const fresh = notExcluded.filter((node) => node.storeUp);
    const pool = fresh.length > 0 ? fresh : notExcluded.length > 0 ? notExcluded : candidates;
    let best: NodeEntry | null = null;
    for (const node of pool) {
      if (
        best === null ||
        this.load(node) < this.load(best) ||
        (this.load(node) === this.load(best) &&
          (node.lastAssignedMs < best.lastAssignedMs || (node.lastAssignedMs === best.lastAssignedMs && node.id < best.id)))
      ) {
        best = node;
      }
    }
    if (best) {
      best.pendingAssignmentsMs.push(nowMs);
      best.assignedTotal++;
      best.lastAssignedMs = nowMs;
    }
    return best;
  }
}

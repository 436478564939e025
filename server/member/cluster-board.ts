import type { ClusterState, MemberStatus } from '../../shared/cluster.js';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import type { MemberId } from '../algorithms/machine.js';
import type { PeerMesh } from '../mesh/peer-mesh.js';

// Every member's latest published status, for the cluster view: each member
// broadcasts its own twice a second over the peer links and keeps the others'; a node
// relays the whole board to the pages subscribed to the `cluster` topic.

export interface ClusterBoardOptions {
  selfId: MemberId;
  mesh: PeerMesh<PeerMessage>;
  ownStatus: () => MemberStatus;
  /** The synchronised clock. */
  now: () => number;
  /** Nodes pass the board to their pages here. */
  publish?: (state: ClusterState) => void;
  intervalMs?: number;
  /** A status older than this is shown as stale. */
  staleAfterMs?: number;
}

export class ClusterBoard {
  private readonly statuses = new Map<MemberId, { status: MemberStatus; receivedMs: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ClusterBoardOptions) {}

  start(): void {
    this.timer = setInterval(() => this.round(), this.options.intervalMs ?? 500);
    this.timer.unref();
  }

  private round(): void {
    const own = this.options.ownStatus();
    this.statuses.set(own.id, { status: own, receivedMs: performance.now() });
    this.options.mesh.broadcast({ type: 'cluster.status', status: own });
    this.options.publish?.(this.state());
  }

  receive(from: MemberId, status: MemberStatus): void {
    // A member speaks for itself only.
    if (status.id !== from) return;
    this.statuses.set(from, { status, receivedMs: performance.now() });
  }

  state(): ClusterState {
    const staleAfterMs = this.options.staleAfterMs ?? 3000;
    const nowMs = performance.now();
    const members: Record<string, MemberStatus> = {};
    const stale: string[] = [];
    for (const [id, { status, receivedMs }] of this.statuses) {
      members[id] = status;
      if (id !== this.options.selfId && nowMs - receivedMs > staleAfterMs) stale.push(id);
    }
    return { via: this.options.selfId, atMs: this.options.now(), members, stale };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

import WebSocket from 'ws';
import { applyChange, type BoardData, type Change } from '../../shared/board.js';
import type { ServerMessage } from '../../shared/client-protocol.js';

// A scripted page for chaos and load runs: asks the dispatcher for a node, subscribes
// to every topic, keeps its own copy of the board, and on any drop asks again
// (excluding the node it lost) and resumes from its position, exactly as the browser
// client does. It counts what a checker needs: reconnects, snapshots, changes applied,
// changes received at or below its position (harmless, ignored), and any change that
// skipped over one it never got (a gap, which must never happen within a stream).

export interface SubscriberStats {
  reconnects: number;
  snapshots: number;
  resumed: number;
  applied: number;
  ignored: number;
  gaps: number;
}

export class ResilientSubscriber {
  epoch: string | null = null;
  seq = 0;
  board: BoardData = { medals: {}, scores: {} };
  node: string | null = null;
  readonly stats: SubscriberStats = { reconnects: 0, snapshots: 0, resumed: 0, applied: 0, ignored: 0, gaps: 0 };
  private socket: WebSocket | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failed: string[] = [];
  /** Seqs applied, to check that no change was applied twice. */
  private readonly appliedSeqs = new Set<number>();
  duplicatesApplied = 0;

  constructor(
    private readonly dispatcherUrl: string,
    private readonly client: string,
    private readonly localAddress?: string,
  ) {}

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let assignment: { node: string; ws: string };
    try {
      const exclude = this.failed.length > 0 ? `?exclude=${this.failed.join(',')}` : '';
      const response = await fetch(`${this.dispatcherUrl}/api/assign${exclude}`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`assign: ${response.status}`);
      assignment = (await response.json()) as { node: string; ws: string };
    } catch {
      return this.retry();
    }
    if (this.stopped) return;
    const socket = new WebSocket(assignment.ws, { perMessageDeflate: false, ...(this.localAddress ? { localAddress: this.localAddress } : {}) });
    this.socket = socket;
    this.node = assignment.node;
    socket.on('message', (data) => this.receive(JSON.parse(String(data)) as ServerMessage, socket));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.failed.includes(assignment.node)) this.failed.push(assignment.node);
      this.retry();
    });
    socket.on('error', () => socket.terminate());
  }

  private retry(): void {
    if (this.stopped || this.retryTimer) return;
    this.stats.reconnects++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, 100 + Math.random() * 200);
  }

  private receive(message: ServerMessage, socket: WebSocket): void {
    switch (message.type) {
      case 'welcome': {
        if (message.client !== this.client) {
          socket.send(JSON.stringify({ type: 'hello', protocol: 1, client: this.client, page: 'chaos' }));
          return;
        }
        const topics = [...message.catalog.teams.map((team) => `medals:${team}`), ...message.catalog.events.map((event) => `score:${event}`)];
        const resume = this.epoch === null ? {} : { resume: { epoch: this.epoch, seq: this.seq } };
        socket.send(JSON.stringify({ type: 'subscribe', topics, ...resume }));
        return;
      }
      case 'subscribed':
        if (message.mode === 'resumed') this.stats.resumed++;
        // A live subscription: earlier failures no longer matter for the choice of node.
        this.failed = [];
        return;
      case 'snapshot':
        this.stats.snapshots++;
        this.epoch = message.epoch;
        this.board = message.data;
        this.seq = message.seq;
        return;
      case 'change':
        this.apply(message.epoch, message.change);
        return;
      default:
        return;
    }
  }

  private apply(epoch: string, change: Change): void {
    if (epoch !== this.epoch || change.seq <= this.seq) {
      this.stats.ignored++;
      return;
    }
    // Subscribed to every board topic, the stream has every change: one past the next is a gap.
    if (change.seq !== this.seq + 1) this.stats.gaps++;
    if (this.appliedSeqs.has(change.seq)) this.duplicatesApplied++;
    this.appliedSeqs.add(change.seq);
    applyChange(this.board, change);
    this.seq = change.seq;
    this.stats.applied++;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.close();
  }
}

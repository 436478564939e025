// Paces the store's commits by the nodes' pushes: a write is committed (and stamped
// with its "last updated at") only once every node has pushed the changes committed
// before it to its pages. Writes that arrive meanwhile wait in the store and are then
// committed together and sent in one message, so that a node pushes them to each page
// in one write.
//
// Why: a change's push to N pages costs the machine about the same whatever the
// change, so changes that come faster than the nodes can push them pile up behind the
// push in flight, and a page sees each one later than the one before, without bound.
// Held here, the wait is the writer's (its answer comes later) and not the pages':
// what a page receives is never more than about one push older than its stamp, and a
// backlog leaves in one push instead of one push per change. A single-threaded server
// gets the same effect by not reading the next request while it broadcasts.
//
// A node that does not keep up must not hold every write: a write waits at most
// holdMaxMs; the nodes still behind then stop pacing the store until they report
// that they caught up. Pure: the caller passes the time and runs the timer.

export interface CommitPacerOptions {
  /** The longest a write waits for the nodes' pushes; default 500. */
  holdMaxMs?: number;
}

export class CommitPacer {
  readonly holdMaxMs: number;
  /** The latest seq each pacing node reported pushed. Only nodes that reported since their link came up pace. */
  private readonly pushedSeq = new Map<string, number>();
  /** Nodes that let a write's hold run out: they do not pace until they catch up. */
  private readonly lagging = new Set<string>();
  private committedSeq = 0;

  constructor(options: CommitPacerOptions = {}) {
    this.holdMaxMs = options.holdMaxMs ?? 500;
    if (!(this.holdMaxMs >= 0)) throw new RangeError(`holdMaxMs must be >= 0, got ${this.holdMaxMs}`);
  }

  /** The store committed up to seq (and sent it to the nodes). */
  committed(seq: number): void {
    this.committedSeq = Math.max(this.committedSeq, seq);
  }

  /** A node says it has pushed every change up to seq. */
  pushed(node: string, seq: number): void {
    const seen = Math.max(this.pushedSeq.get(node) ?? 0, seq);
    this.pushedSeq.set(node, seen);
    if (seen >= this.committedSeq) this.lagging.delete(node);
  }

  /** A node's link went down: it paces again once it reports after reconnecting. */
  linkDown(node: string): void {
    this.pushedSeq.delete(node);
    this.lagging.delete(node);
  }

  /** Nodes that have not pushed everything committed, leaving out the lagging ones. */
  behind(): string[] {
    const nodes: string[] = [];
    for (const [node, seq] of this.pushedSeq) if (seq < this.committedSeq && !this.lagging.has(node)) nodes.push(node);
    return nodes;
  }

  /** Whether writes may be committed now: every pacing node has pushed everything committed. */
  open(): boolean {
    return this.behind().length === 0;
  }

  /** The oldest waiting write waited holdMaxMs: the nodes still behind stop pacing; returns them. */
  holdExpired(): string[] {
    const late = this.behind();
    for (const node of late) this.lagging.add(node);
    return late;
  }

  /** For /api/health: who paces and who lags. */
  status(): { committedSeq: number; pushedSeq: Record<string, number>; lagging: string[] } {
    return { committedSeq: this.committedSeq, pushedSeq: Object.fromEntries(this.pushedSeq), lagging: [...this.lagging] };
  }
}

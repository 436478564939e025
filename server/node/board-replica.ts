import {
  applyChange,
  medalTopic,
  scoreTopic,
  topicOfChange,
  type BoardData,
  type Catalog,
  type Change,
} from '../../shared/board.js';

// A node's copy of the board: the store's snapshot plus every later change, applied
// strictly in sequence order, and a bounded history of recent changes so that a
// reconnecting client can be sent exactly what it missed.

export type ApplyResult = 'applied' | 'duplicate' | 'gap';

export class BoardReplica {
  private epochValue: string | null = null;
  private seqValue = 0;
  private catalogValue: Catalog = { teams: [], events: [] };
  private data: BoardData = { medals: {}, scores: {} };
  /** Ring buffer of the most recent changes, oldest first from `historyStart`. */
  private readonly history: (Change | undefined)[];
  private historyStart = 0;
  private historyLength = 0;

  constructor(readonly historyLimit: number) {
    if (!Number.isInteger(historyLimit) || historyLimit < 1) throw new RangeError('historyLimit must be a positive integer');
    this.history = new Array(historyLimit);
  }

  get epoch(): string | null {
    return this.epochValue;
  }
  get seq(): number {
    return this.seqValue;
  }
  get catalog(): Catalog {
    return this.catalogValue;
  }
  get ready(): boolean {
    return this.epochValue !== null;
  }

  /** Replaces everything with the store's snapshot; history restarts empty (older positions get a snapshot). */
  load(epoch: string, seq: number, catalog: Catalog, data: BoardData): void {
    this.epochValue = epoch;
    this.seqValue = seq;
    this.catalogValue = catalog;
    this.data = data;
    this.historyStart = 0;
    this.historyLength = 0;
    this.history.fill(undefined);
  }

  /** Applies the next change; a change already applied is a duplicate, one past the next is a gap (the caller resyncs). */
  apply(change: Change): ApplyResult {
    if (change.seq <= this.seqValue) return 'duplicate';
    if (change.seq !== this.seqValue + 1) return 'gap';
    applyChange(this.data, change);
    this.seqValue = change.seq;
    const end = (this.historyStart + this.historyLength) % this.historyLimit;
    this.history[end] = change;
    if (this.historyLength < this.historyLimit) this.historyLength++;
    else this.historyStart = (this.historyStart + 1) % this.historyLimit;
    return 'applied';
  }

  /**
   * The changes after `seq` on the given topics, in order; null when some of them
   * are older than the kept history (the client then needs a snapshot). A position
   * ahead of this replica (a client that came from a node further along) is valid:
   * nothing is sent now, and later changes pass the client's own duplicate check.
   */
  changesAfter(seq: number, topics: ReadonlySet<string>): Change[] | null {
    if (seq >= this.seqValue) return [];
    const oldestKept = this.historyLength === 0 ? this.seqValue + 1 : this.history[this.historyStart]!.seq;
    if (seq + 1 < oldestKept) return null;
    const missed: Change[] = [];
    for (let i = 0; i < this.historyLength; i++) {
      const change = this.history[(this.historyStart + i) % this.historyLimit]!;
      if (change.seq > seq && topics.has(topicOfChange(change))) missed.push(change);
    }
    return missed;
  }

  /** The part of the board that the given topics cover. */
  slice(topics: ReadonlySet<string>): BoardData {
    const slice: BoardData = { medals: {}, scores: {} };
    for (const team of this.catalogValue.teams) {
      if (topics.has(medalTopic(team)) && this.data.medals[team]) slice.medals[team] = this.data.medals[team];
    }
    for (const event of this.catalogValue.events) {
      if (topics.has(scoreTopic(event)) && this.data.scores[event]) slice.scores[event] = this.data.scores[event];
    }
    return slice;
  }

  /** The whole board, for pull reads. */
  board(): BoardData {
    return this.data;
  }

  /** Every topic this board has: one per team's medals and one per event's scores. */
  topics(): string[] {
    return [...this.catalogValue.teams.map(medalTopic), ...this.catalogValue.events.map(scoreTopic)];
  }
}

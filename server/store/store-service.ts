import type { Change } from '../../shared/board.js';
import type { StoreMessage, StoreWriteMessage } from '../../shared/peer/store.js';
import { CHANGES_PER_MESSAGE_MAX } from '../../shared/peer/store.js';
import { OlympixError } from '../errors.js';
import type { Log } from '../log.js';
import { CommitPacer } from './commit-pacer.js';
import type { SqliteStore } from './sqlite-store.js';

// The store's side of its links to the nodes: commits writes, answers each with its
// result, and streams every committed change to every node in sequence order. The
// database calls are synchronous, so a catch-up and the live stream never interleave.
// Commits are paced by the nodes' pushes (CommitPacer): writes that arrive while a
// push is in flight wait here, then are committed one after the other and sent to the
// nodes in one message.

export interface StoreServiceOptions {
  store: SqliteStore;
  log: Log;
  /** Sends to one node; false when its link is down. */
  send: (node: string, message: StoreMessage) => boolean;
  /** Sends to every node whose link is up. */
  broadcast: (message: StoreMessage) => void;
  /** Past this many missed changes a node gets a snapshot instead of the changes. */
  catchUpLimit?: number;
  /** The store's synchronised clock, ms since the Unix epoch: every change's "last updated at", stamped at its commit. */
  now: () => number;
  /** Paces the commits by the nodes' pushes; default a CommitPacer with its defaults. */
  pacer?: CommitPacer;
}

interface QueuedWrite {
  node: string;
  message: StoreWriteMessage;
  queuedAtMs: number;
}

export class StoreService {
  private readonly catchUpLimit: number;
  readonly pacer: CommitPacer;
  private readonly queue: QueuedWrite[] = [];
  private holdTimer: NodeJS.Timeout | undefined;
  /** Writes wait until the store's clock is synchronised (at most a few seconds after start): it stamps them. */
  private clockSynchronised = false;
  writesCommitted = 0;
  writesRefused = 0;

  constructor(private readonly options: StoreServiceOptions) {
    this.catchUpLimit = options.catchUpLimit ?? 5000;
    this.pacer = options.pacer ?? new CommitPacer();
    this.pacer.committed(options.store.seq);
  }

  /** Writes waiting for the nodes' pushes. */
  get queuedWrites(): number {
    return this.queue.length;
  }

  /** The store's clock has been synchronised (or given up on): writes may be stamped. */
  clockReady(): void {
    this.clockSynchronised = true;
    this.drain();
  }

  /** A node's link went down: it no longer paces the commits (until it reports again). */
  linkDown(node: string): void {
    this.pacer.linkDown(node);
    this.drain();
  }

  close(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  receive(node: string, message: StoreMessage): void {
    switch (message.type) {
      case 'store.write':
        this.queue.push({ node, message, queuedAtMs: performance.now() });
        return this.drain();
      case 'store.pushed':
        this.pacer.pushed(node, message.seq);
        return this.drain();
      case 'store.sync':
        return this.sync(node, message.epoch, message.seq);
      case 'store.raffle-entry': {
        const result = this.options.store.recordRaffle('raffle_entries', { generation: message.generation, round: message.round, ordinal: message.entry.ordinal }, message.entry, node);
        if (result === 'kept') this.options.log('raffle.entry-kept', { round: message.round, ordinal: message.entry.ordinal, client: message.entry.client });
        if (result === 'conflict') this.options.log('raffle.divergence', { round: message.round, ordinal: message.entry.ordinal, from: node });
        return;
      }
      case 'store.raffle-draw': {
        const result = this.options.store.recordRaffle('raffle_draws', { generation: message.generation, round: message.winner.round }, message.winner, node);
        if (result === 'kept') this.options.log('raffle.draw-kept', { round: message.winner.round, winner: message.winner.entry?.client ?? null });
        if (result === 'conflict') this.options.log('raffle.divergence', { round: message.winner.round, draw: true, from: node });
        return;
      }
      default:
        this.options.log('store.unexpected', { from: node, type: message.type });
    }
  }

  /** Commits the waiting writes if the nodes have pushed everything before them; else waits, at most the pacer's hold. */
  private drain(): void {
    while (this.queue.length > 0 && this.clockSynchronised) {
      if (!this.pacer.open()) {
        this.holdTimer ??= setTimeout(() => this.holdExpired(), this.pacer.holdMaxMs);
        return;
      }
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
      // At most one message's worth at a time: the rest waits for this batch's push.
      const writes = this.queue.splice(0, CHANGES_PER_MESSAGE_MAX);
      const committed: Change[] = [];
      const results = writes.map((queued) => this.commit(queued, committed));
      const { store, broadcast, send } = this.options;
      // One message for the lot (pages if it is large): each node pushes them to a page in
      // one write. A single change needs no measuring: it is a page of its own anyway.
      for (const page of committed.length <= 1 ? [committed] : pagesOf(committed, CATCH_UP_PAGE_BYTES_MAX)) {
        if (page.length > 0) broadcast({ type: 'store.changes', epoch: store.epoch, changes: page, live: true });
      }
      this.pacer.committed(store.seq);
      writes.forEach((queued, i) => send(queued.node, results[i]!));
    }
  }

  private holdExpired(): void {
    this.holdTimer = undefined;
    const late = this.pacer.holdExpired();
    if (late.length > 0) this.options.log('store.push-lagging', { nodes: late, heldMs: this.pacer.holdMaxMs, writes: this.queue.length });
    this.drain();
  }

  /** Commits one write, stamped with the store's synchronised clock; returns its answer. */
  private commit(queued: QueuedWrite, committed: Change[]): StoreMessage {
    const { store, log } = this.options;
    const { node, message } = queued;
    let result;
    try {
      result = store.write(message.writeId, message.write, this.options.now(), node);
    } catch (error) {
      this.writesRefused++;
      const known = error instanceof OlympixError;
      if (!known) log('store.write-failed', { from: node, error: String(error) });
      return {
        type: 'store.write-result',
        requestId: message.requestId,
        ok: false,
        code: known ? error.code : 'OLX_STORE_FAILED',
        message: known ? error.message : 'the store could not commit the write',
      };
    }
    const { change, duplicate } = result;
    const heldMs = Math.round(performance.now() - queued.queuedAtMs);
    if (!duplicate) {
      this.writesCommitted++;
      committed.push(change);
      log('store.write-committed', { seq: change.seq, kind: change.kind, from: node, heldMs });
    } else {
      log('store.write-duplicate', { seq: change.seq, from: node, writeId: message.writeId });
    }
    return { type: 'store.write-result', requestId: message.requestId, ok: true, change };
  }

  private sync(node: string, epoch: string | null, seq: number): void {
    const { store, log } = this.options;
    const resumable = epoch === store.epoch && seq <= store.seq && store.seq - seq <= this.catchUpLimit;
    if (!resumable) return this.sendSnapshot(node, 'snapshot');
    let position = seq;
    let sent = 0;
    for (;;) {
      const changes = store.changesAfter(position, CHANGES_PER_MESSAGE_MAX);
      const last = changes.length < CHANGES_PER_MESSAGE_MAX;
      // Pages are bounded by bytes as well as count, so that none exceeds the peer
      // link's frame limit; a page the link refuses (over its limit, or its buffer
      // full) would leave a gap, so the node gets a snapshot instead.
      const pages = pagesOf(changes, CATCH_UP_PAGE_BYTES_MAX);
      for (const [index, page] of pages.entries()) {
        const live = last && index === pages.length - 1;
        if (!this.options.send(node, { type: 'store.changes', epoch: store.epoch, changes: page, live })) {
          log('store.sync-fallback', { node, reason: 'catch-up page not accepted by the link', from: seq, sent });
          return this.sendSnapshot(node, 'snapshot after a refused page');
        }
        sent += page.length;
      }
      if (last) break;
      position = changes[changes.length - 1]!.seq;
    }
    log('store.sync', { node, mode: 'changes', from: seq, count: sent });
  }

  private sendSnapshot(node: string, mode: string): void {
    const { store, log, send } = this.options;
    const snapshot = store.snapshot();
    const ok = send(node, { type: 'store.snapshot', ...snapshot }) && send(node, { type: 'store.changes', epoch: store.epoch, changes: [], live: true });
    log(ok ? 'store.sync' : 'store.sync-failed', { node, mode, seq: snapshot.seq });
  }
}

/** Half the peer link's 4 MiB frame limit: room for the envelope and any catalog. */
const CATCH_UP_PAGE_BYTES_MAX = 2 * 1024 * 1024;

/** Splits changes into pages of at most maxBytes of JSON (a single larger change is a page of its own). */
function pagesOf(changes: Change[], maxBytes: number): Change[][] {
  const pages: Change[][] = [[]];
  let bytes = 0;
  for (const change of changes) {
    const size = JSON.stringify(change).length;
    if (bytes + size > maxBytes && pages.at(-1)!.length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages.at(-1)!.push(change);
    bytes += size;
  }
  return pages;
}

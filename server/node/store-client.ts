import type { Change } from '../../shared/board.js';
import type { StoreMessage, Write } from '../../shared/peer/store.js';
import { Errors, OlympixError } from '../errors.js';
import type { Log } from '../log.js';
import type { BoardReplica } from './board-replica.js';

// The node's side of its link to the store: sends writes and waits for their results,
// keeps the replica in step with the store's ordered change stream, and resyncs from
// its position whenever the link comes back or a gap shows.

export interface StoreChannel {
  /** Sends to the store; false when the link is down (the message is not queued). */
  send(message: StoreMessage): boolean;
}

export interface StoreClientOptions {
  nodeId: string;
  /** Distinguishes this run of the node from earlier ones, so write ids never repeat. */
  incarnation: string;
  replica: BoardReplica;
  channel: StoreChannel;
  log: Log;
  /** Called for every change applied to the replica, in sequence order. */
  onChange: (change: Change) => void;
  /** Called after the replica was replaced by a snapshot. */
  onSnapshot: () => void;
  /** Called after each message of the change stream was applied (its changes were passed to onChange). */
  onChangesApplied?: () => void;
  writeTimeoutMs?: number;
  /** How long a write waits for a link that is down before 503. */
  linkDownWaitMs?: number;
  maxPendingWrites?: number;
}

interface PendingWrite {
  message: Extract<StoreMessage, { type: 'store.write' }>;
  resolve: (change: Change) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class StoreClient {
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingWrite>();
  private linkUp = false;
  private syncing = false;
  private readonly writeTimeoutMs: number;
  private readonly maxPendingWrites: number;
  private readonly linkDownWaitMs: number;

  constructor(private readonly options: StoreClientOptions) {
    this.writeTimeoutMs = options.writeTimeoutMs ?? 5000;
    this.linkDownWaitMs = options.linkDownWaitMs ?? 3000;
    this.maxPendingWrites = options.maxPendingWrites ?? 10_000;
  }

  get connected(): boolean {
    return this.linkUp;
  }

  get pendingWrites(): number {
    return this.pending.size;
  }

  /** The link to the store is up: catch up from our position, then resend writes that have no result yet. */
  linkOpened(): void {
    this.linkUp = true;
    this.requestSync();
    for (const write of this.pending.values()) this.options.channel.send(write.message);
  }

  linkClosed(): void {
    this.linkUp = false;
    this.syncing = false;
  }

  private requestSync(): void {
    const { replica } = this.options;
    this.syncing = true;
    this.options.channel.send({ type: 'store.sync', epoch: replica.epoch, seq: replica.seq });
  }

  /**
   * Sends a write; resolves with the committed change, which the store stamped with its
   * synchronised clock when it committed it. Pending writes survive a
   * store restart: they are resent with the same write id when the link is back,
   * and the store answers a write id it has seen with the change it already made.
   */
  write(write: Write): Promise<Change> {
    if (this.pending.size >= this.maxPendingWrites) {
      return Promise.reject(Errors.storeUnavailable('too many writes waiting for the store'));
    }
    const requestId = this.nextRequestId++;
    const message = {
      type: 'store.write' as const,
      requestId,
      writeId: `${this.options.nodeId}:${this.options.incarnation}:${requestId}`,
      write,
    };
    // With the link down (the store restarting, or the link reconnecting), the write
    // waits a little for it: it is sent as soon as the link is back. A store that stays
    // away gets a clear 503 sooner than a lost answer would.
    const linkUp = this.linkUp;
    const timeoutMs = linkUp ? this.writeTimeoutMs : this.linkDownWaitMs;
    return new Promise<Change>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          Errors.storeUnavailable(
            linkUp || this.linkUp
              ? `no answer within ${timeoutMs} ms; the write may or may not be committed (see the change stream)`
              : `no link to the store for ${timeoutMs} ms; the write was not sent`,
          ),
        );
      }, timeoutMs);
      this.pending.set(requestId, { message, resolve, reject, timer });
      if (linkUp) this.options.channel.send(message);
    });
  }

  /** A validated message from the store. */
  receive(message: StoreMessage): void {
    const { replica, log } = this.options;
    switch (message.type) {
      case 'store.snapshot':
        replica.load(message.epoch, message.seq, message.catalog, message.data);
        log('store.snapshot', { epoch: message.epoch, seq: message.seq });
        this.options.onSnapshot();
        return;
      case 'store.changes': {
        if (replica.epoch !== message.epoch) {
          // Another database (a new epoch): our position means nothing there.
          log('store.epoch-changed', { from: replica.epoch, to: message.epoch });
          this.requestSync();
          return;
        }
        for (const change of message.changes) {
          const result = replica.apply(change);
          if (result === 'applied') this.options.onChange(change);
          else if (result === 'gap') {
            log('store.gap', { have: replica.seq, got: change.seq });
            this.requestSync();
            return;
          }
        }
        if (message.live && this.syncing) {
          this.syncing = false;
          log('store.live', { seq: replica.seq });
        }
        this.options.onChangesApplied?.();
        return;
      }
      case 'store.write-result': {
        const pending = this.pending.get(message.requestId);
        if (!pending) return; // timed out already
        this.pending.delete(message.requestId);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.change);
        else pending.reject(new OlympixError(message.code, statusOfStoreError(message.code), message.message));
        return;
      }
      case 'store.write':
      case 'store.sync':
      case 'store.pushed':
        log('store.unexpected', { type: message.type });
        return;
    }
  }

  close(): void {
    for (const [requestId, write] of this.pending) {
      clearTimeout(write.timer);
      write.reject(Errors.storeUnavailable('node shutting down'));
      this.pending.delete(requestId);
    }
  }
}

function statusOfStoreError(code: string): number {
  switch (code) {
    case 'OLX_UNKNOWN_TEAM':
    case 'OLX_UNKNOWN_EVENT':
      return 404;
    case 'OLX_BAD_BODY':
      return 400;
    case 'OLX_CONFLICT':
      return 409;
    default:
      return 503;
  }
}

import { randomBytes, randomInt } from 'node:crypto';
import { RAFFLE_TOPIC } from '../../shared/board.js';
import type { MemberStatus } from '../../shared/cluster.js';
import type { RaffleEntry as ClientRaffleEntry, RaffleState as ClientRaffleState } from '../../shared/client-protocol.js';
import type { MulticastPayload, RaffleEntry, RaffleState, RaffleWinner, TicketKind } from '../../shared/peer/multicast.js';
import type { StoreMessage } from '../../shared/peer/store.js';
import type { MemberId } from '../algorithms/machine.js';
import { Raffle, type RaffleEvent } from '../algorithms/raffle.js';
import { TotalOrderMulticast, type MulticastEvent } from '../algorithms/total-order-multicast.js';
import { Errors } from '../errors.js';
import type { Log } from '../log.js';
import type { HostedMachine } from '../member/member-runtime.js';
import { BenchTicketSource } from './bench-ticket-source.js';
import type { ClientHub } from './client-hub.js';

// The sponsor's raffle on a node: every client request this node serves is a ticket,
// multicast to the other nodes in Lamport total order; every Nth delivered ticket is
// an entry, the same on every node; closing multicasts a random seed through the same
// order, so that every node draws the same winner. Entries and draws go to the store.

export interface RaffleServiceOptions {
  nodeId: MemberId;
  /** Every frontend node (the multicast group). */
  group: MemberId[];
  everyN: number;
  log: Log;
  hub: ClientHub;
  sendToStore: (message: StoreMessage) => boolean;
  /** Drains the machines now, so that tickets leave in this event-loop turn, not the next tick. */
  pump: () => void;
}

/**
 * A digest of each block of 1,000 consecutive deliveries (positions k*1000 up to
 * (k+1)*1000), compared between nodes by tests and the cluster view: equal digests of
 * a block mean the same tickets in the same order. A node that joined in the middle of
 * a block has no digest for that block.
 */
interface OrderCheckpoint {
  delivered: number;
  digest: string;
}

type MulticastStatus = NonNullable<MemberStatus['multicast']>;

const CHECKPOINT_EVERY = 1000;
const FNV_OFFSET = 0x811c9dc5;
const CHECKPOINTS_KEPT = 200;
const RECENT_KEPT = 50;
const PUBLISH_INTERVAL_MS = 250;

export class RaffleService {
  readonly multicast: TotalOrderMulticast<MulticastPayload, RaffleState>;
  readonly raffle: Raffle;
  ticketsOffered = 0;
  ticketsRefused = 0;
  private digest = FNV_OFFSET;
  /** The current block's digest covers only part of it (this node joined inside it). */
  private partialBlock = false;
  private deliveredCount = 0;
  readonly checkpoints: OrderCheckpoint[] = [];
  readonly recentDeliveries: Array<{ index: number; sender: MemberId; kind: string; client: string }> = [];
  private pumpScheduled = false;
  private publishTimer: NodeJS.Timeout | null = null;
  /** Entries delivered before the run's generation was known; sent to the store once it is. */
  private unreported: Array<{ round: number; entry: RaffleEntry }> = [];
  private waitingForWinner: Array<(winner: RaffleWinner) => void> = [];
  private waitingForReopen: Array<() => void> = [];
  private startProposed = false;
  /** The multicast benchmark's ticket source (its routes exist only with OLYMPIX_BENCH_HOOKS=1). */
  readonly bench: BenchTicketSource;

  constructor(private readonly options: RaffleServiceOptions) {
    this.raffle = new Raffle({ every: options.everyN });
    this.multicast = new TotalOrderMulticast<MulticastPayload, RaffleState>({
      id: options.nodeId,
      group: [...options.group].sort(),
      // Always join: a node that (re)starts waits to be added to a view with a state
      // transfer; when every node is new, the coordinator starts the first view.
      joining: true,
    });
    this.bench = new BenchTicketSource(options.nodeId, (ticket) => {
      this.ticketsOffered++;
      const accepted = this.multicast.multicast(ticket);
      if (accepted) this.schedulePump();
      else this.ticketsRefused++;
      return accepted;
    });
  }

  hosted(): HostedMachine {
    return {
      prefix: 'multicast.',
      machine: this.multicast as never,
      onEvents: (events) => this.onEvents(events as MulticastEvent<MulticastPayload, RaffleState>[]),
      setLeader: (leader, term) => this.multicast.setLeader(leader, term),
    };
  }

  /** A client request this node served. */
  ticket(client: string, kind: TicketKind): void {
    this.ticketsOffered++;
    if (!this.multicast.multicast({ kind, client })) {
      // Backpressure: the multicast's queues are full (no view, or peers far behind).
      this.ticketsRefused++;
      return;
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.multicast.flush();
      this.options.pump();
    });
  }

  private propose(payload: MulticastPayload): boolean {
    const accepted = this.multicast.multicast(payload);
    if (accepted) this.schedulePump();
    return accepted;
  }

  /** Closes the raffle: resolves with the draw, the same on every node. */
  async closeRaffle(timeoutMs = 10_000): Promise<RaffleWinner> {
    if (this.raffle.status().closed && this.raffle.winner) return this.raffle.winner;
    const seed = randomInt(0, 0xffff_ffff);
    if (!this.propose({ kind: 'close', seed, by: this.options.nodeId })) {
      throw Errors.storeUnavailable('the multicast is not accepting messages (no view yet, or a view change)');
    }
    return this.await(this.waitingForWinner, timeoutMs, 'the draw');
  }

  /** Starts a new round after a draw. */
  async reopenRaffle(timeoutMs = 10_000): Promise<void> {
    if (!this.raffle.status().closed) throw Errors.conflict('the raffle is open already');
    if (!this.propose({ kind: 'reopen', by: this.options.nodeId })) {
      throw Errors.storeUnavailable('the multicast is not accepting messages (no view yet, or a view change)');
    }
    await this.await(this.waitingForReopen, timeoutMs, 'the new round');
  }

  private await<T>(waiters: Array<(value: T) => void>, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = waiters.indexOf(done);
        if (index >= 0) waiters.splice(index, 1);
        reject(Errors.storeUnavailable(`${what} was not delivered within ${timeoutMs} ms; it will still happen if the message is delivered`));
      }, timeoutMs);
      const done = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      waiters.push(done);
    });
  }

  private onEvents(events: MulticastEvent<MulticastPayload, RaffleState>[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'deliver':
          this.recordDelivery(event.index, event.sender, event.timestamp, event.payload);
          if ('detail' in event.payload) this.bench.delivered(event.index, event.payload.detail);
          this.onRaffleEvent(this.raffle.apply(event.payload, event.index, event.sender));
          break;
        case 'view':
          if (event.joined && event.appState) this.raffle.restore(event.appState);
          if (event.transferTo.length > 0) this.multicast.transferState(event.viewId, this.raffle.snapshot());
          if (event.joined) {
            this.digest = FNV_OFFSET;
            this.partialBlock = event.delivered % CHECKPOINT_EVERY !== 0;
          }
          this.deliveredCount = event.delivered;
          this.options.log('multicast.view', { viewId: event.viewId, members: event.members, joined: event.joined, delivered: event.delivered, transferTo: event.transferTo });
          // A fresh group (or a run whose start was never delivered) proposes a generation; the first delivered wins.
          if (this.raffle.generation === null && !this.startProposed) {
            this.startProposed = this.propose({ kind: 'start', generation: randomBytes(8).toString('hex'), by: this.options.nodeId });
          }
          this.schedulePublish();
          break;
        case 'blocked':
          this.options.log('multicast.blocked', { viewId: event.viewId, reason: event.reason });
          break;
        case 'view-change':
          this.options.log('multicast.view-change', { term: event.term, attempt: event.attempt, candidates: event.candidates });
          break;
        case 'view-installing':
          this.options.log('multicast.view-installing', { viewId: event.viewId, members: event.members, joiners: event.joiners });
          break;
        case 'view-stalled':
          this.options.log('multicast.view-stalled', { reason: event.reason });
          break;
      }
    }
  }

  /** FNV-1a over each delivery of the current block of 1,000; a full block's digest is a checkpoint. */
  private recordDelivery(index: number, sender: MemberId, timestamp: number, payload: MulticastPayload): void {
    const client = 'client' in payload ? payload.client : payload.kind;
    const text = `${index}|${sender}|${timestamp}|${payload.kind}|${client}`;
    let hash = this.digest;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    this.digest = hash;
    this.deliveredCount = index + 1;
    if (this.deliveredCount % CHECKPOINT_EVERY === 0) {
      if (!this.partialBlock) {
        this.checkpoints.push({ delivered: this.deliveredCount, digest: hash.toString(16).padStart(8, '0') });
        if (this.checkpoints.length > CHECKPOINTS_KEPT) this.checkpoints.shift();
      }
      this.digest = FNV_OFFSET;
      this.partialBlock = false;
    }
    this.recentDeliveries.push({ index, sender, kind: payload.kind, client });
    if (this.recentDeliveries.length > RECENT_KEPT) this.recentDeliveries.shift();
  }

  private onRaffleEvent(event: RaffleEvent | null): void {
    if (!event) return;
    const { log, hub } = this.options;
    switch (event.type) {
      case 'entered': {
        const round = this.raffle.status().round;
        log('raffle.entry', { round, ordinal: event.entry.ordinal, index: event.entry.index, client: event.entry.client, node: event.entry.node });
        this.unreported.push({ round, entry: event.entry });
        this.reportToStore();
        hub.sendToClient(event.entry.client, { type: 'raffle-notice', notice: 'entered', entry: toClientEntry(event.entry) });
        this.schedulePublish();
        break;
      }
      case 'winner': {
        const { winner } = event;
        log('raffle.winner', { round: winner.round, entries: winner.entries, winner: winner.entry?.client ?? null, ordinal: winner.entry?.ordinal ?? null, seed: winner.seed });
        if (this.raffle.generation) this.options.sendToStore({ type: 'store.raffle-draw', generation: this.raffle.generation, winner });
        if (winner.entry) hub.sendToClient(winner.entry.client, { type: 'raffle-notice', notice: 'won', entry: toClientEntry(winner.entry) });
        this.publishNow();
        for (const resolve of this.waitingForWinner.splice(0)) resolve(winner);
        break;
      }
      case 'reopened':
        log('raffle.reopened', { round: event.round, by: event.by });
        this.publishNow();
        for (const resolve of this.waitingForReopen.splice(0)) resolve();
        break;
      case 'started':
        log('raffle.started', { generation: event.generation, by: event.by });
        this.reportToStore();
        break;
    }
  }

  private reportToStore(): void {
    const generation = this.raffle.generation;
    if (generation === null) return;
    for (const { round, entry } of this.unreported.splice(0)) {
      this.options.sendToStore({ type: 'store.raffle-entry', generation, round, entry });
    }
  }

  private schedulePublish(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = null;
      this.publishNow();
    }, PUBLISH_INTERVAL_MS);
  }

  private publishNow(): void {
    this.options.hub.publishTo(RAFFLE_TOPIC, { type: 'raffle', state: this.clientState() });
  }

  /** The raffle as pages show it. */
  clientState(): ClientRaffleState {
    const status = this.raffle.status();
    const entries = this.raffle.entries;
    return {
      enabled: true,
      everyN: this.raffle.every,
      delivered: this.deliveredCount,
      entries: status.entries,
      recentEntries: entries.slice(-10).map(toClientEntry),
      closed: status.closed,
      winner: status.winner?.entry ? toClientEntry(status.winner.entry) : null,
    };
  }

  /** For the cluster view and tests: the multicast's state and the order's checkpoints. */
  status() {
    const raffle = this.raffle.status();
    return {
      multicast: this.multicast.status(),
      delivered: this.deliveredCount,
      /** The digest of the deliveries since the last checkpoint (null when this node joined inside the block). */
      digest: this.partialBlock ? null : this.digest.toString(16).padStart(8, '0'),
      checkpoints: this.checkpoints.slice(-20),
      recentDeliveries: this.recentDeliveries,
      ticketsOffered: this.ticketsOffered,
      ticketsRefused: this.ticketsRefused,
      raffle: { generation: this.raffle.generation, round: raffle.round, tickets: raffle.tickets, entries: raffle.entries, closed: raffle.closed, winner: raffle.winner },
    };
  }

  /** The multicast and raffle part of this node's published status (shared/cluster.ts), for the cluster view. */
  publishedStatus(): MulticastStatus {
    const multicast = this.multicast.status();
    const raffle = this.raffle.status();
    return {
      lamport: multicast.lamport,
      holdBack: multicast.holdBack,
      delivered: this.deliveredCount,
      viewId: multicast.viewId,
      viewMembers: multicast.viewMembers,
      pending: multicast.pending,
      ready: multicast.ready,
      recentDeliveries: this.recentDeliveries,
      raffle: {
        round: raffle.round,
        tickets: raffle.tickets,
        entries: raffle.entries,
        closed: raffle.closed,
        winner: raffle.winner?.entry?.client ?? null,
        recentEntries: this.raffle.entries.slice(-10).map((entry) => ({ ordinal: entry.ordinal, client: entry.client, node: entry.node, index: entry.index })),
      },
    };
  }

  stop(): void {
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.bench.stop();
  }
}

function toClientEntry(entry: RaffleEntry): ClientRaffleEntry {
  return { ordinal: entry.ordinal, index: entry.index, client: entry.client, node: entry.node, kind: entry.kind };
}

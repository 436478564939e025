import type { MemberId } from './machine.js';
import { seededRandom } from './random.js';
import type {
  MulticastPayload,
  RaffleEntry,
  RaffleState,
  RaffleWinner,
} from '../../shared/peer/multicast.js';

// The sponsor's raffle, as a pure function of the totally-ordered stream of payloads:
// every node feeds it the same payloads in the same order, so every node enters the
// same tickets and draws the same winner, with no message of its own. Every `every`-th
// ticket of a round is an entry; a close payload carries the random seed (chosen by the
// node that accepted the score-keeper's close) and the draw mixes it with the close's
// position in the total order, which the closing node cannot predict under load.

export type { RaffleEntry, RaffleState, RaffleWinner } from '../../shared/peer/multicast.js';

export interface RaffleOptions {
  /** Every Nth ticket of a round is entered. Default 100. */
  every?: number;
  /** Entries kept per round; later ones are counted in `overflow` and not entered. Default 10,000. */
  maxEntries?: number;
}

export type RaffleEvent =
  | { type: 'entered'; entry: RaffleEntry }
  | { type: 'winner'; winner: RaffleWinner }
  | { type: 'reopened'; round: number; by: MemberId }
  | { type: 'started'; generation: string; by: MemberId };

/** A 32-bit seed for the draw from the close's seed and its position in the total order. */
export function drawSeed(seed: number, closeIndex: number): number {
  const low = closeIndex % 0x1_0000_0000;
  const high = Math.floor(closeIndex / 0x1_0000_0000);
  let h = (seed ^ Math.imul(low + 1, 0x9e3779b1) ^ Math.imul(high + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class Raffle {
  readonly every: number;
  readonly maxEntries: number;
  private round = 0;
  private tickets = 0;
  private closed = false;
  private entryList: RaffleEntry[] = [];
  private overflow = 0;
  private drawn: RaffleWinner | null = null;
  private generationValue: string | null = null;

  constructor(options: RaffleOptions = {}) {
    this.every = options.every ?? 100;
    this.maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isInteger(this.every) || this.every < 1) throw new RangeError(`every must be a positive integer, got ${this.every}`);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 0) {
      throw new RangeError(`maxEntries must be a non-negative integer, got ${this.maxEntries}`);
    }
  }

  /**
   * Feeds one delivered payload: its position in the total order and the node that
   * multicast it. Returns what it caused, if anything.
   */
  apply(payload: MulticastPayload, index: number, sender: MemberId): RaffleEvent | null {
    switch (payload.kind) {
      case 'start': {
        // The first start delivered names the run; later ones (other nodes' proposals) change nothing.
        if (this.generationValue !== null) return null;
        this.generationValue = payload.generation;
        return { type: 'started', generation: payload.generation, by: payload.by };
      }
      case 'close': {
        if (this.closed) return null;
        this.closed = true;
        let entry: RaffleEntry | null = null;
        if (this.entryList.length > 0) {
          const random = seededRandom(drawSeed(payload.seed, index));
          entry = this.entryList[random.int(this.entryList.length)]!;
        }
        this.drawn = {
          round: this.round,
          entry,
          seed: payload.seed,
          closeIndex: index,
          entries: this.entryList.length,
          by: payload.by,
        };
        return { type: 'winner', winner: this.drawn };
      }
      case 'reopen': {
        if (!this.closed) return null;
        this.round++;
        this.tickets = 0;
        this.closed = false;
        this.entryList = [];
        this.overflow = 0;
        this.drawn = null;
        return { type: 'reopened', round: this.round, by: payload.by };
      }
      default: {
        if (this.closed) return null;
        this.tickets++;
        if (this.tickets % this.every !== 0) return null;
        if (this.entryList.length >= this.maxEntries) {
          this.overflow++;
          return null;
        }
        const entry: RaffleEntry = {
          ordinal: this.entryList.length + 1,
          index,
          ticket: this.tickets,
          client: payload.client,
          kind: payload.kind,
          node: sender,
        };
        this.entryList.push(entry);
        return { type: 'entered', entry };
      }
    }
  }

  get entries(): readonly RaffleEntry[] {
    return this.entryList;
  }

  get winner(): RaffleWinner | null {
    return this.drawn;
  }

  get generation(): string | null {
    return this.generationValue;
  }

  status(): { round: number; tickets: number; entries: number; overflow: number; closed: boolean; winner: RaffleWinner | null } {
    return {
      round: this.round,
      tickets: this.tickets,
      entries: this.entryList.length,
      overflow: this.overflow,
      closed: this.closed,
      winner: this.drawn,
    };
  }

  /** The state a joining node starts from (entries are immutable, so they are shared). */
  snapshot(): RaffleState {
    return {
      every: this.every,
      generation: this.generationValue,
      round: this.round,
      tickets: this.tickets,
      closed: this.closed,
      entries: this.entryList.slice(),
      overflow: this.overflow,
      winner: this.drawn,
    };
  }

  /** Replaces the state with a snapshot taken at the same point of the total order by another node. */
  restore(state: RaffleState): void {
    if (state.every !== this.every) {
      throw new RangeError(`raffle state is for every=${state.every}, this node enters every ${this.every}: configure the nodes alike`);
    }
    if (state.entries.length > this.maxEntries) {
      throw new RangeError(`raffle state holds ${state.entries.length} entries, more than maxEntries=${this.maxEntries}`);
    }
    this.generationValue = state.generation;
    this.round = state.round;
    this.tickets = state.tickets;
    this.closed = state.closed;
    this.entryList = state.entries.slice();
    this.overflow = state.overflow;
    this.drawn = state.winner;
  }
}

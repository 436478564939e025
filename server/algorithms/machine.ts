// The contract every distributed algorithm in olympix follows (election, Berkeley
// clock, total-order multicast): a deterministic state machine with no I/O.
// Input is a message from a peer, a tick, or a peer going up or down; output is
// collected in an outbox that the shell drains and carries out. Time and randomness
// are injected, so that the same code runs in the seeded simulator and in a process.

/** A member of the cluster: "store", "node-1", ... Ordered by string comparison where order matters. */
export type MemberId = string;

export interface Outgoing<M> {
  readonly to: MemberId;
  readonly message: M;
}

export interface Output<M, E> {
  readonly messages: Outgoing<M>[];
  readonly events: E[];
}

export interface StateMachine<M, E> {
  /** A message from a peer (already validated against its schema by the shell). */
  step(from: MemberId, message: M): void;
  /** One unit of logical time passed. Machines that need real durations read their injected clock. */
  tick(): void;
  /** The link to this peer came up (or came back). */
  peerUp(peer: MemberId): void;
  /** The link to this peer went down: closed, or silent past the heartbeat bound. */
  peerDown(peer: MemberId): void;
  /** Take everything produced since the last drain. */
  drain(): Output<M, E>;
}

/** A monotonic time source in milliseconds; in a process it is performance.now(), in the simulator a member's own drifting clock. */
export interface MonotonicClock {
  nowMs(): number;
}

/** A source of randomness; seeded in tests so that any run replays. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** A small outbox that machines use to collect their output. */
export class Outbox<M, E> {
  private messages: Outgoing<M>[] = [];
  private events: E[] = [];

  send(to: MemberId, message: M): void {
    this.messages.push({ to, message });
  }

  emit(event: E): void {
    this.events.push(event);
  }

  drain(): Output<M, E> {
    const output = { messages: this.messages, events: this.events };
    this.messages = [];
    this.events = [];
    return output;
  }
}

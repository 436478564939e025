import type { MemberStatus as PublishedStatus } from '../../shared/cluster.js';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import { BerkeleyClock, type ClockEvent } from '../algorithms/berkeley-clock.js';
import { ElectionMachine, type ElectionEvent } from '../algorithms/election.js';
import type { MemberId, MonotonicClock, StateMachine } from '../algorithms/machine.js';
import { seededRandom } from '../algorithms/random.js';
import type { SlewingClock } from '../algorithms/slewing-clock.js';
import type { Log } from '../log.js';
import type { PeerMesh } from '../mesh/peer-mesh.js';
import { readVote, voteFilePath, writeVote } from './vote-file.js';

// The thin shell around the pure algorithms of one cluster member (a node or the
// store): it ticks them on a timer, feeds them the peer links' messages and up/down
// events, sends what they produce, and turns their events into actions and log lines.
// The election's vote is made durable before any message that depends on it leaves.

export interface HostedMachine<M = unknown, E = unknown> {
  /** Messages whose type starts with this go to the machine, e.g. "multicast.". */
  readonly prefix: string;
  readonly machine: StateMachine<M, E>;
  onEvents(events: E[]): void;
  /** Told of every change of leader (null: none known). */
  setLeader?(leader: MemberId | null, term: number): void;
}

export interface MemberRuntimeOptions {
  id: MemberId;
  /** The members of the election and of clock synchronisation: the nodes and the store. */
  members: MemberId[];
  mesh: PeerMesh<PeerMessage>;
  /** This member's synchronised clock, and its base (the process's system clock). */
  clock: SlewingClock;
  base: MonotonicClock;
  log: Log;
  dataDir: string;
  leaderElection: boolean;
  clockSync: boolean;
  tickMs?: number;
  /** Seeds the election's randomised timeouts. */
  seed?: number;
}

export interface MemberStatus {
  id: MemberId;
  leader: MemberId | null;
  term: number;
  election: ReturnType<ElectionMachine['status']>;
  /**
   * nowMs is the synchronised clock; monotonicMs the host's CLOCK_MONOTONIC (the same
   * for every process on one machine), read at the same instant. For two members on one
   * host, (nowMs - monotonicMs) of one minus that of the other is their exact skew.
   */
  clock: ReturnType<BerkeleyClock['status']> & { nowMs: number; monotonicMs: number };
}

export class MemberRuntime {
  readonly election: ElectionMachine;
  readonly clockSync: BerkeleyClock;
  private readonly hosted: HostedMachine[] = [];
  private readonly votePath: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly peers: Set<MemberId>;
  private readonly leaderListeners: Array<(leader: MemberId | null, term: number) => void> = [];
  private leaderValue: MemberId | null = null;
  private termValue = 0;
  private syncedWaiters: Array<() => void> = [];
  /** Times of the last leader changes, for the cluster view. */
  readonly leaderHistory: Array<{ atMs: number; leader: MemberId | null; term: number }> = [];
  lastRound: (Extract<ClockEvent, { type: 'round' }> & { atMs: number }) | null = null;

  constructor(private readonly options: MemberRuntimeOptions) {
    const { id, members, log } = options;
    this.peers = new Set(options.mesh.peerIds);
    this.votePath = voteFilePath(options.dataDir, id);
    const persisted = readVote(this.votePath);
    const fixedLeader = options.leaderElection ? undefined : [...members].sort().at(-1)!;
    this.election = new ElectionMachine({
      id,
      members,
      random: seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31)),
      persisted,
      ...(fixedLeader === undefined ? {} : { fixedLeader }),
    });
    this.clockSync = new BerkeleyClock({ id, members, clock: options.clock, monotonic: options.base, enabled: options.clockSync });
    log('member.started', { members, persistedTerm: persisted?.term ?? 0, leaderElection: options.leaderElection, clockSync: options.clockSync });
  }

  /** Adds a machine (multicast, view coordinator) driven like the built-in ones. */
  host(hosted: HostedMachine): void {
    this.hosted.push(hosted);
    if (this.leaderValue !== null || this.termValue > 0) hosted.setLeader?.(this.leaderValue, this.termValue);
  }

  onLeader(listener: (leader: MemberId | null, term: number) => void): void {
    this.leaderListeners.push(listener);
  }

  get leader(): MemberId | null {
    return this.leaderValue;
  }

  get term(): number {
    return this.termValue;
  }

  start(): void {
    const { mesh } = this.options;
    mesh.on('up', (peer) => this.each((machine) => machine.peerUp(peer)));
    mesh.on('down', (peer) => this.each((machine) => machine.peerDown(peer)));
    for (const peer of mesh.peerIds) if (mesh.isUp(peer)) this.each((machine) => machine.peerUp(peer));
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 10);
    this.flush();
  }

  /** A message from a peer; false when it is not for the algorithms. */
  receive(from: MemberId, message: PeerMessage): boolean {
    const type = message.type;
    if (type.startsWith('election.')) {
      this.election.step(from, message as never);
    } else if (type.startsWith('clock.')) {
      this.clockSync.step(from, message as never);
    } else {
      const hosted = this.hosted.find((candidate) => type.startsWith(candidate.prefix));
      if (!hosted) return false;
      hosted.machine.step(from, message);
    }
    this.flush();
    return true;
  }

  private each(action: (machine: StateMachine<unknown, unknown>) => void): void {
    action(this.election as StateMachine<unknown, unknown>);
    action(this.clockSync as StateMachine<unknown, unknown>);
    for (const hosted of this.hosted) action(hosted.machine);
    this.flush();
  }

  private tick(): void {
    this.election.tick();
    this.clockSync.tick();
    for (const hosted of this.hosted) hosted.machine.tick();
    this.flush();
  }

  private send(to: MemberId, message: unknown): void {
    if (this.peers.has(to)) this.options.mesh.send(to, message as PeerMessage);
  }

  /** Drains every machine and carries out its output now (e.g. after a hosted machine was given work outside a tick). */
  pump(): void {
    this.flush();
  }

  /** Drains every machine and carries out its output; the election's vote is written before its messages go. */
  private flush(): void {
    const election = this.election.drain();
    const persist = election.events.filter((event): event is Extract<ElectionEvent, { type: 'persist' }> => event.type === 'persist').at(-1);
    if (persist) writeVote(this.votePath, { term: persist.term, votedFor: persist.votedFor });
    for (const { to, message } of election.messages) this.send(to, message);
    this.handleElectionEvents(election.events);
    const clock = this.clockSync.drain();
    for (const { to, message } of clock.messages) this.send(to, message);
    this.handleClockEvents(clock.events);
    for (const hosted of this.hosted) {
      const output = hosted.machine.drain();
      for (const { to, message } of output.messages) this.send(to, message);
      if (output.events.length > 0) hosted.onEvents(output.events);
    }
  }

  private handleElectionEvents(events: ElectionEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'leader':
          this.leaderValue = event.leader;
          this.termValue = event.term;
          this.leaderHistory.push({ atMs: this.options.clock.nowMs(), leader: event.leader, term: event.term });
          if (this.leaderHistory.length > 50) this.leaderHistory.shift();
          this.options.log('election.leader', { leader: event.leader, term: event.term });
          this.clockSync.setLeader(event.leader, event.term);
          for (const hosted of this.hosted) hosted.setLeader?.(event.leader, event.term);
          for (const listener of this.leaderListeners) listener(event.leader, event.term);
          break;
        case 'role':
          this.options.log('election.role', { state: event.role, term: event.term });
          break;
        case 'refused':
        case 'persist':
          break;
      }
    }
  }

  private handleClockEvents(events: ClockEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'round':
          this.lastRound = { ...event, atMs: this.options.clock.nowMs() };
          this.options.log('clock.round', {
            round: event.round,
            term: event.term,
            members: event.members,
            excluded: event.excluded,
            unanswered: event.unanswered,
            maxAdjustmentMs: Math.max(0, ...Object.values(event.adjustments).map(Math.abs)),
          });
          break;
        case 'adjusted':
          // Every round adjusts every member by a little; only steps and large slews are worth a line.
          if (event.stepped || Math.abs(event.deltaMs) >= 5) {
            this.options.log('clock.adjusted', { deltaMs: event.deltaMs, stepped: event.stepped, by: event.by, round: event.round });
          }
          break;
        case 'synced':
          this.options.log('clock.synced', { by: event.by, term: event.term, offsetMs: this.options.clock.offsetMs() });
          for (const wake of this.syncedWaiters.splice(0)) wake();
          break;
      }
    }
  }

  /**
   * Resolves once the clock is synchronised (at once when sync is off), or after
   * timeoutMs: a member must not wait forever for a time daemon that may not come.
   */
  async waitForFirstSync(timeoutMs: number): Promise<boolean> {
    if (!this.options.clockSync || this.clockSync.isSynced()) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.syncedWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  status(): MemberStatus {
    return {
      id: this.options.id,
      leader: this.leaderValue,
      term: this.termValue,
      election: this.election.status(),
      clock: { ...this.clockSync.status(), nowMs: this.options.clock.nowMs(), monotonicMs: Number(process.hrtime.bigint()) / 1e6 },
    };
  }

  /** What this member publishes for the cluster view; the role adds its own parts. */
  published(parts: Pick<PublishedStatus, 'role' | 'incarnation' | 'multicast' | 'push' | 'store'> & { injectedSkewMs: number }): PublishedStatus {
    const election = this.election.status();
    const clock = this.clockSync.status();
    const links: PublishedStatus['links'] = {};
    for (const [peer, link] of Object.entries(this.options.mesh.links())) {
      links[peer] = { state: link.state, cut: link.cut, reconnects: link.reconnects, ...(link.rttMs === undefined ? {} : { rttMs: link.rttMs }) };
    }
    const round = this.lastRound;
    return {
      id: this.options.id,
      role: parts.role,
      incarnation: parts.incarnation,
      atMs: this.options.clock.nowMs(),
      leader: this.leaderValue,
      term: this.termValue,
      electionRole: election.role,
      holdsMajority: election.holdsMajority,
      clock: {
        nowMs: this.options.clock.nowMs(),
        monotonicMs: Number(process.hrtime.bigint()) / 1e6,
        offsetMs: clock.offsetMs,
        pendingMs: clock.pendingMs,
        lastAdjustmentMs: clock.lastAdjustmentMs,
        estimatedErrorMs: clock.estimatedErrorMs,
        frequencyPpm: clock.frequencyPpm,
        rounds: clock.rounds,
        synced: clock.synced,
        enabled: clock.enabled,
        injectedSkewMs: parts.injectedSkewMs,
      },
      lastRound: round
        ? { round: round.round, term: round.term, atMs: round.atMs, members: round.members, maxAdjustmentMs: Math.max(0, ...Object.values(round.adjustments).map(Math.abs)) }
        : null,
      links,
      multicast: parts.multicast,
      push: parts.push,
      store: parts.store,
    };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

import { randomBytes } from 'node:crypto';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import { SlewingClock } from '../algorithms/slewing-clock.js';
import type { CommonConfig } from '../config.js';
import type { Log } from '../log.js';
import type { PeerMesh } from '../mesh/peer-mesh.js';
import { createPeerMesh } from '../peer-mesh-factory.js';
import { systemClock, type SystemClock } from '../process-clock.js';
import { MemberRuntime } from './member-runtime.js';

// What every member process (a node or the store) is made of, besides its role: its
// system clock (with any injected error), the synchronised clock over it, the peer mesh,
// and the runtime that drives the election and the Berkeley clock over that mesh.

export interface Member {
  /** The process's system clock; the fault controls put it off. */
  base: SystemClock;
  /** The synchronised clock: every "last updated at" comes from it. */
  clock: SlewingClock;
  mesh: PeerMesh<PeerMessage>;
  runtime: MemberRuntime;
  /** Distinguishes this run of the process from earlier ones. */
  incarnation: string;
}

export function createMember(id: string, config: CommonConfig & { secret: string }, log: Log): Member {
  const base = systemClock({ skewMs: config.clockSkewMs, driftPpm: config.clockDriftPpm });
  const clock = new SlewingClock({ base });
  const mesh = createPeerMesh(id, config.peers, config.secret, log);
  const runtime = new MemberRuntime({
    id,
    members: [id, ...config.peers.map((peer) => peer.id)],
    mesh,
    clock,
    base,
    log,
    dataDir: config.dataDir,
    leaderElection: config.leaderElection,
    clockSync: config.clockSync,
  });
  return { base, clock, mesh, runtime, incarnation: randomBytes(6).toString('hex') };
}

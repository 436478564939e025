import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { PeerMessage } from '../../shared/peer-protocol.js';
import { Errors } from '../errors.js';
import type { Log } from '../log.js';
import type { PeerMesh } from '../mesh/peer-mesh.js';
import type { SystemClock } from '../process-clock.js';

// Fault controls of a member, for the cluster view, the chaos suite and scripts: cut
// this member off from every peer (a partition) and heal it, or put its system clock
// off. The score-keeper's token is required; the cluster supervisor forwards to these.

export const PartitionBody = Type.Object({ cut: Type.Boolean() }, { additionalProperties: false });
export const ClockSkewBody = Type.Object({ deltaMs: Type.Number({ minimum: -60_000, maximum: 60_000 }) }, { additionalProperties: false });

export interface ControlRoutesOptions {
  requireToken: (request: FastifyRequest) => void;
  mesh: PeerMesh<PeerMessage>;
  clock: SystemClock;
  log: Log;
}

export function registerControlRoutes(app: FastifyInstance, options: ControlRoutesOptions): void {
  // Scripts, the chaos run and the supervisor call these without an Origin; a browser
  // always sends one. The cluster page goes through the dispatcher and the supervisor,
  // so a browser request straight to a member is refused even with the token.
  const guard = async (request: FastifyRequest) => {
    if (request.headers.origin !== undefined) throw Errors.originRefused(request.headers.origin);
    options.requireToken(request);
  };
  app.post('/api/control/partition', { preValidation: guard, schema: { body: PartitionBody } }, async (request) => {
    const { cut } = request.body as Static<typeof PartitionBody>;
    for (const peer of options.mesh.peerIds) {
      if (cut) options.mesh.cut(peer);
      else options.mesh.heal(peer);
    }
    options.log(cut ? 'control.partition-cut' : 'control.partition-healed', { peers: options.mesh.peerIds });
    return { ok: true, cut, links: options.mesh.links() };
  });
  app.post('/api/control/clock-skew', { preValidation: guard, schema: { body: ClockSkewBody } }, async (request) => {
    const { deltaMs } = request.body as Static<typeof ClockSkewBody>;
    options.clock.addSkewMs(deltaMs);
    options.log('control.clock-skew', { deltaMs, injectedSkewMs: options.clock.injectedSkewMs() });
    return { ok: true, deltaMs, injectedSkewMs: options.clock.injectedSkewMs() };
  });
}

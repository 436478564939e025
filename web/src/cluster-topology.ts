// The cluster view's topology drawing: the members (store and nodes) on a ring, every
// peer link between them coloured by its state as both ends report it, the
// dispatcher in the middle with its health checks to the nodes, the leader ringed in
// gold with its term. A plain function of the data: it returns an SVG template.

import { html, svg, type SVGTemplateResult, type TemplateResult } from 'lit';
import type { ClusterState } from '../../shared/cluster.js';
import { edgeState, isStale, STORE_ID, type EdgeState } from './cluster-model.js';
import type { DispatcherNodeInfo, ProcessInfo } from './control-client.js';

export interface TopologyInput {
  state: ClusterState | null;
  members: readonly string[];
  leader: string | null;
  term: number;
  colors: Readonly<Record<string, string>>;
  /** The dispatcher's view of the nodes (GET /api/nodes), when known. */
  dispatcherNodes: readonly DispatcherNodeInfo[] | null;
  /** The supervisor's process list, when the token is known. */
  processes: readonly ProcessInfo[] | null;
  /** The node serving this page. */
  servingNode: string | null;
  /** Members this page cut off with the partition control (and did not heal since). */
  cutMembers: ReadonlySet<string>;
}

const WIDTH = 380;
const HEIGHT = 304;
const RADIUS = 25;
/** How far a link through the middle is pulled aside (its curve passes half as far). */
const BOW_PX = 104;

const EDGE_TEXT: Record<EdgeState, string> = {
  up: 'up',
  connecting: 'reconnecting',
  down: 'down',
  cut: 'cut (partition)',
  unknown: 'unknown (both ends silent)',
};

export function renderTopology(input: TopologyInput): TemplateResult {
  const { state, members, leader, term } = input;
  const centerX = WIDTH / 2;
  // Room above the top member for the leader's label, below the bottom one for two lines.
  const centerY = 150;
  const ringX = WIDTH / 2 - 58;
  const ringY = 98;
  const position = new Map<string, { x: number; y: number }>();
  members.forEach((id, index) => {
    const angle = -Math.PI / 2 + (index * 2 * Math.PI) / Math.max(1, members.length);
    position.set(id, { x: centerX + ringX * Math.cos(angle), y: centerY + ringY * Math.sin(angle) });
  });

  const edges: SVGTemplateResult[] = [];
  for (let i = 0; i < members.length; i += 1) {
    for (let j = i + 1; j < members.length; j += 1) {
      const a = members[i]!;
      const b = members[j]!;
      const from = position.get(a)!;
      const to = position.get(b)!;
      const edge = edgeState(state, a, b);
      // A link whose straight line would cross the dispatcher in the middle bows around it.
      let middleX = (from.x + to.x) / 2;
      let middleY = (from.y + to.y) / 2;
      let controlX = middleX;
      let controlY = middleY;
      if (Math.hypot(middleX - centerX, middleY - centerY) < 30) {
        const length = Math.hypot(to.x - from.x, to.y - from.y) || 1;
        controlX += (-(to.y - from.y) / length) * BOW_PX;
        controlY += ((to.x - from.x) / length) * BOW_PX;
        middleX = (middleX + controlX) / 2;
        middleY = (middleY + controlY) / 2;
      }
      edges.push(svg`<g class="edge ${edge}" data-testid="link-${a}-${b}" data-state=${edge}>
        <path d="M${from.x},${from.y} Q${controlX},${controlY} ${to.x},${to.y}"><title>${a} ↔ ${b}: ${EDGE_TEXT[edge]}</title></path>
        ${edge === 'cut' ? svg`<text class="scissors" x=${middleX} y=${middleY + 5} text-anchor="middle">✂</text>` : null}
      </g>`);
    }
  }

  // The dispatcher checks every node's health several times a second; it has no peer links.
  const spokes = members
    .filter((id) => id !== STORE_ID)
    .map((id) => {
      const to = position.get(id)!;
      const info = input.dispatcherNodes?.find((node) => node.id === id);
      const healthy = info ? info.healthy && info.ready : null;
      return svg`<line class="spoke ${healthy === null ? '' : healthy ? 'healthy' : 'unhealthy'}" x1=${centerX} y1=${centerY} x2=${to.x} y2=${to.y}>
        <title>dispatcher → ${id}: ${healthy === null ? 'not known yet' : healthy ? `healthy, ${info!.clients} clients, ${info!.assigned} assigned` : 'not healthy: out of the rotation'}</title>
      </line>`;
    });

  const dispatcherProcess = input.processes?.find((process) => process.role === 'dispatcher');
  const nodes = members.map((id) => {
    const at = position.get(id)!;
    const stale = isStale(state, id);
    const status = state?.members[id];
    const process = input.processes?.find((candidate) => candidate.name === id);
    const stopped = process?.state === 'stopped';
    const isLeader = id === leader;
    const clients = status?.push?.clients;
    const role = status?.electionRole ?? 'follower';
    const below = stopped ? 'stopped' : stale ? (input.cutMembers.has(id) ? 'cut off' : 'no status') : clients !== undefined ? `${clients} client${clients === 1 ? '' : 's'}` : status?.store ? `seq #${status.store.seq}` : '';
    return svg`<g class="member ${stale ? 'stale' : 'fresh'} ${role} ${isLeader ? 'leader' : ''}" transform="translate(${at.x} ${at.y})">
      <title>${id}: ${stopped ? 'stopped' : stale ? 'no fresh status' : `${role}, term ${status?.term ?? '?'}`}${isLeader ? ' — the leader' : ''}</title>
      ${isLeader ? svg`<circle class="halo" r=${RADIUS + 6}></circle>` : null}
      <circle class="body" r=${RADIUS} style="--member:${input.colors[id] ?? '#888'}"></circle>
      <text class="name" y="4" text-anchor="middle">${shortName(id)}</text>
      ${isLeader ? svg`<text class="crown" y=${-RADIUS - 10} text-anchor="middle">★ leader · term ${term}</text>` : null}
      <text class="below" y=${RADIUS + 15} text-anchor="middle">${below}</text>
      ${id === input.servingNode ? svg`<text class="you" y=${RADIUS + 28} text-anchor="middle">serves this page</text>` : null}
    </g>`;
  });

  return html`<svg class="topology" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Topology: members, peer links and the leader">
    ${edges} ${spokes}
    <g class="dispatcher" transform="translate(${centerX} ${centerY})">
      <title>dispatcher${dispatcherProcess ? ` (pid ${dispatcherProcess.pid ?? '—'})` : ''}: serves the pages and assigns each one the least-loaded node</title>
      <rect x="-38" y="-14" width="76" height="28" rx="8"></rect>
      <text y="4" text-anchor="middle">dispatcher</text>
    </g>
    ${nodes}
  </svg>`;
}

/** "node-12" stays; anything long is cut so that it fits in the circle. */
function shortName(id: string): string {
  return id.length <= 8 ? id : `${id.slice(0, 7)}…`;
}

/** The topology's styles, for the page's stylesheet. */
export const TOPOLOGY_CSS = `
  svg.topology { width: 100%; max-width: 560px; height: auto; display: block; margin: 0 auto; }
  svg.topology .edge path { stroke-width: 2.5; fill: none; }
  svg.topology .edge.up path { stroke: var(--ok); }
  svg.topology .edge.connecting path { stroke: var(--warn); stroke-dasharray: 6 4; }
  svg.topology .edge.down path { stroke: var(--bad); stroke-dasharray: 2 4; stroke-width: 2; }
  svg.topology .edge.cut path { stroke: var(--bad); stroke-dasharray: 8 5; }
  svg.topology .edge.unknown path { stroke: var(--line); stroke-dasharray: 2 4; }
  svg.topology .scissors { fill: var(--bad); font-size: 16px; }
  svg.topology .spoke { stroke: var(--line); stroke-width: 1.2; stroke-dasharray: 1 3; }
  svg.topology .spoke.healthy { stroke: var(--accent); opacity: 0.6; }
  svg.topology .spoke.unhealthy { stroke: var(--bad); }
  svg.topology .dispatcher rect { fill: var(--surface); stroke: var(--accent); stroke-width: 1.5; }
  svg.topology .dispatcher text { fill: var(--ink); font-size: 11px; }
  svg.topology .member .body { fill: var(--surface); stroke: var(--member); stroke-width: 4; }
  svg.topology .member.candidate .body { stroke-dasharray: 5 3; }
  svg.topology .member.stale .body { stroke: var(--muted); stroke-dasharray: 3 3; fill: var(--bg); }
  svg.topology .member .halo { fill: none; stroke: var(--gold); stroke-width: 3; }
  svg.topology .member .name { fill: var(--ink); font-size: 11.5px; font-weight: 650; }
  svg.topology .member.stale .name { fill: var(--muted); }
  svg.topology .member .crown { fill: var(--gold); font-size: 11px; font-weight: 700; }
  svg.topology .member .below { fill: var(--muted); font-size: 10.5px; }
  svg.topology .member .you { fill: var(--accent); font-size: 10px; }
`;

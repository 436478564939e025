// <olympix-cluster>: the cluster view. It follows the `cluster` topic through the same
// live feed as the scoreboard (so it reconnects and resumes like it) and draws the
// running system: the topology with the leader and every peer link, the clocks'
// offsets and the largest pairwise skew over time with the Berkeley rounds marked,
// each node's multicast state and its last delivered tickets side by side, the
// raffle, and the push figures. The score-keeper's token (kept for the browser
// session, as in the cauldron) unlocks the fault controls, which go through the
// dispatcher's same-origin /api/control/* to the cluster supervisor.
//
// Two side reads are polled rather than pushed, both same-origin at the dispatcher:
// GET /api/nodes (the dispatcher's own view: health, clients, assignments; the nodes
// do not know how many pages the dispatcher sent them) and, with the token, the
// supervisor's process list (pids, stopped or running).

import { css, html, LitElement, unsafeCSS, type PropertyValues, type TemplateResult } from 'lit';
import type { ClusterState, MemberStatus } from '../../shared/cluster.js';
import { dropToken, formStyles, loadToken, submitToken, tokenPanel } from './write-token.js';
import './cluster-chart.js';
import type { ChartMarker, ChartSeries } from './cluster-chart.js';
import { createClusterFeed } from './cluster-feed.js';
import {
  alignDeliveries,
  ClockHistory,
  formatMs,
  isCut,
  isStale,
  knownMemberIds,
  leaderOf,
  STORE_ID,
  type ClockReadings,
  type DeliveredTicket,
} from './cluster-model.js';
import { renderTopology, TOPOLOGY_CSS } from './cluster-topology.js';
import {
  describeControl,
  getDispatcherNodes,
  getProcesses,
  postControl,
  type ControlAction,
  type ControlFetch,
  type DispatcherNodeInfo,
  type ProcessInfo,
} from './control-client.js';
import { LiveFeedController } from './live-feed-controller.js';
import { pageHeader, reflectFeedOnHost, themeStyles } from './theme.js';

const POLL_INTERVAL_MS = 2_000;
const SKEW_STEP_MS = 100;
/** Chart colours that read on the light and the dark background alike; the store takes the first. */
const PALETTE = ['#8a5cc2', '#2b7bd6', '#e0703a', '#2f9e5b', '#d2457a', '#1aa3a3', '#b8921c', '#6b7a8f', '#9c5b2e', '#4f6bd8'];
const SKEW_COLOR = '#d14b3f';

interface Outcome {
  readonly kind: 'ok' | 'error' | 'pending';
  readonly text: string;
}

const browserControlFetch: ControlFetch = async (url, init) => globalThis.fetch(url, { ...init, cache: 'no-store' });

export class OlympixCluster extends LitElement {
  static override properties = {
    cluster: { state: true },
    dispatcherNodes: { state: true },
    processes: { state: true },
    token: { state: true },
    tokenError: { state: true },
    pending: { state: true },
    outcome: { state: true },
    cutMembers: { state: true },
  };

  static override styles = [
    themeStyles,
    formStyles,
    unsafeCSS(TOPOLOGY_CSS),
    css`
      main {
        max-width: 1240px;
      }
      section {
        margin-top: 1.25rem;
      }
      h2 {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.25rem 0.75rem;
      }
      h2 .hint {
        font-weight: 400;
      }
      .hint {
        color: var(--muted);
        font-size: 0.85rem;
      }
      .stats {
        display: grid;
        grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
        gap: 0.75rem;
        margin-top: 1rem;
      }
      .stat {
        padding: 0.7rem 0.9rem;
      }
      .stat .label {
        color: var(--muted);
        font-size: 0.78rem;
        text-transform: uppercase;
        letter-spacing: 0.05em;
      }
      .stat .big {
        font-size: 1.45rem;
        font-weight: 700;
        font-variant-numeric: tabular-nums;
        overflow-wrap: anywhere;
      }
      .stat .small {
        color: var(--muted);
        font-size: 0.82rem;
      }
      .stat.good .big {
        color: var(--ok);
      }
      .stat.warn .big {
        color: var(--warn);
      }
      .token-panel {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 0.9rem;
        padding: 0.7rem 0.9rem;
        margin-top: 1rem;
      }
      button {
        font: inherit;
        font-size: 0.85rem;
        padding: 0.3rem 0.65rem;
        border-radius: 6px;
        border: 1px solid var(--accent);
        background: var(--accent);
        color: #fff;
        cursor: pointer;
        white-space: nowrap;
      }
      button.secondary {
        background: transparent;
        color: var(--accent);
      }
      button.danger {
        border-color: var(--bad);
        background: transparent;
        color: var(--bad);
      }
      button:disabled {
        opacity: 0.4;
        cursor: not-allowed;
      }
      button:focus-visible,
      input:focus-visible {
        outline: 2px solid var(--accent);
        outline-offset: 1px;
      }
      .form-error {
        color: var(--bad);
        font-size: 0.85rem;
        margin: 0;
      }
      .notice[hidden] {
        display: none;
      }
      .notice.pending {
        color: var(--muted);
      }
      .topology-layout {
        display: grid;
        grid-template-columns: minmax(0, 5fr) minmax(0, 7fr);
        gap: 0.9rem;
        align-items: start;
      }
      .topology-panel {
        padding: 0.6rem;
      }
      .legend {
        display: flex;
        flex-wrap: wrap;
        gap: 0.3rem 0.9rem;
        justify-content: center;
        color: var(--muted);
        font-size: 0.78rem;
        margin-top: 0.3rem;
      }
      .legend .swatch {
        display: inline-block;
        width: 1.4rem;
        height: 0;
        border-top: 3px solid;
        vertical-align: middle;
        margin-right: 0.3rem;
      }
      .legend .swatch.dashed {
        border-top-style: dashed;
      }
      .members {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
        gap: 0.75rem;
      }
      .member {
        padding: 0.7rem 0.85rem;
        border-left: 5px solid var(--member, var(--line));
      }
      .member[data-stale='true'] {
        opacity: 0.78;
        border-left-style: dashed;
      }
      .member[data-leader='true'] {
        box-shadow: 0 0 0 2px var(--gold);
      }
      .member header {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.3rem 0.5rem;
      }
      .member h3 {
        margin: 0;
        font-size: 1.05rem;
      }
      .chip {
        display: inline-block;
        font-size: 0.72rem;
        padding: 0.05rem 0.45rem;
        border-radius: 999px;
        border: 1px solid var(--line);
        color: var(--muted);
        text-transform: uppercase;
        letter-spacing: 0.04em;
      }
      .chip.leader {
        border-color: var(--gold);
        color: var(--ink);
        background: color-mix(in srgb, var(--gold) 25%, transparent);
      }
      .chip.bad {
        border-color: var(--bad);
        color: var(--bad);
      }
      .chip.ok {
        border-color: var(--ok);
        color: var(--ok);
      }
      .chip.warn {
        border-color: var(--warn);
        color: var(--warn);
      }
      .facts {
        display: flex;
        flex-wrap: wrap;
        gap: 0.15rem 0.8rem;
        margin: 0.4rem 0;
        font-size: 0.85rem;
        color: var(--muted);
      }
      .facts b {
        color: var(--ink);
        font-weight: 600;
        font-variant-numeric: tabular-nums;
      }
      .links {
        list-style: none;
        padding: 0;
        margin: 0.2rem 0 0.5rem;
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
      }
      .links li {
        font-size: 0.75rem;
        padding: 0.05rem 0.4rem;
        border-radius: 4px;
        border: 1px solid var(--line);
        font-variant-numeric: tabular-nums;
      }
      .links.old li {
        opacity: 0.55;
        border-style: dashed;
      }
      .links li.up {
        border-color: color-mix(in srgb, var(--ok) 55%, transparent);
      }
      .links li.connecting {
        border-color: var(--warn);
        color: var(--warn);
      }
      .links li.down,
      .links li.cut {
        border-color: var(--bad);
        color: var(--bad);
      }
      .controls {
        display: flex;
        flex-wrap: wrap;
        gap: 0.35rem;
      }
      .charts {
        display: grid;
        grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
        gap: 0.9rem;
      }
      .chart-panel {
        padding: 0.7rem 0.8rem 0.5rem;
      }
      .chart-panel h3 {
        margin: 0 0 0.3rem;
        font-size: 0.95rem;
      }
      .series-legend {
        display: flex;
        flex-wrap: wrap;
        gap: 0.2rem 0.9rem;
        font-size: 0.8rem;
        color: var(--muted);
      }
      .dot {
        display: inline-block;
        width: 0.65rem;
        height: 0.65rem;
        border-radius: 50%;
        margin-right: 0.3rem;
        vertical-align: -0.05rem;
        background: var(--member, var(--muted));
      }
      .overflow {
        overflow-x: auto;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 0.9rem;
      }
      th,
      td {
        padding: 0.45rem 0.6rem;
        border-bottom: 1px solid var(--line);
        text-align: right;
        white-space: nowrap;
        font-variant-numeric: tabular-nums;
      }
      th {
        font-size: 0.74rem;
        text-transform: uppercase;
        letter-spacing: 0.04em;
        color: var(--muted);
        font-weight: 600;
      }
      th:first-child,
      td:first-child {
        text-align: left;
      }
      td.wrap {
        white-space: normal;
        text-align: left;
        min-width: 9rem;
      }
      tr:last-child > td {
        border-bottom: none;
      }
      tr.stale td {
        color: var(--muted);
      }
      .deliveries {
        display: grid;
        gap: 0 0.4rem;
        padding: 0.6rem 0.7rem;
        font-size: 0.8rem;
      }
      .deliveries .head {
        font-weight: 650;
        padding: 0.2rem 0.3rem;
        border-bottom: 1px solid var(--line);
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
      }
      .deliveries .head.stale {
        color: var(--muted);
        font-weight: 400;
      }
      .deliveries ol {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      .deliveries li,
      .deliveries .index {
        height: 1.7rem;
        line-height: 1.7rem;
        padding: 0 0.3rem;
        border-bottom: 1px dashed var(--line);
        white-space: nowrap;
        overflow: hidden;
        text-overflow: ellipsis;
        font-family: ui-monospace, 'DejaVu Sans Mono', monospace;
        font-size: 0.76rem;
      }
      .deliveries .index {
        color: var(--muted);
        text-align: right;
      }
      .deliveries li.agree {
        background: color-mix(in srgb, var(--ok) 9%, transparent);
      }
      .deliveries li.differ {
        background: color-mix(in srgb, var(--bad) 18%, transparent);
        color: var(--bad);
      }
      .deliveries li.missing {
        color: var(--muted);
      }
      .deliveries .more {
        color: var(--muted);
        font-size: 0.72rem;
        padding: 0.2rem 0.3rem;
      }
      .verdict {
        margin: 0.5rem 0 0;
        font-weight: 600;
      }
      .verdict.agree {
        color: var(--ok);
      }
      .verdict.differ {
        color: var(--bad);
      }
      .two {
        display: grid;
        grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
        gap: 0.9rem;
        align-items: start;
      }
      .raffle {
        padding: 0.7rem 0.9rem;
      }
      .raffle ol {
        margin: 0.3rem 0 0;
        padding-left: 1.3rem;
        font-size: 0.85rem;
      }
      .winner {
        font-weight: 700;
        color: var(--ok);
      }
      footer.relay {
        margin-top: 1.5rem;
        color: var(--muted);
        font-size: 0.8rem;
      }
      @media (max-width: 900px) {
        .topology-layout,
        .charts,
        .two {
          grid-template-columns: minmax(0, 1fr);
        }
      }
      @media (max-width: 560px) {
        .stats {
          grid-template-columns: repeat(2, minmax(0, 1fr));
          gap: 0.5rem;
        }
        .stat .big {
          font-size: 1.15rem;
        }
        .members {
          grid-template-columns: minmax(0, 1fr);
        }
        th,
        td {
          padding: 0.4rem 0.35rem;
        }
        th.opt,
        td.opt,
        .deliveries .kind {
          display: none;
        }
        th {
          white-space: normal;
        }
        td.wrap {
          min-width: 0;
        }
      }
    `,
  ];

  declare private cluster: ClusterState | null;
  declare private dispatcherNodes: DispatcherNodeInfo[] | null;
  declare private processes: ProcessInfo[] | null;
  declare private token: string;
  declare private tokenError: string;
  /** The control in flight ("stop:node-2"), if any: one at a time. */
  declare private pending: string | null;
  declare private outcome: Outcome | null;
  /** Members this page cut off and did not heal since: a cut member's own status cannot reach us, so we remember. */
  declare private cutMembers: ReadonlySet<string>;

  private readonly history = new ClockHistory(60_000);
  private readings: ClockReadings = { offsets: {}, maxSkewMs: null, extremes: null };
  /** Page time of the last cluster state: the charts' right edge. */
  private clusterAtMs = 0;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private readonly controlFetch: ControlFetch = browserControlFetch;
  private readonly live = new LiveFeedController(this, {
    page: 'cluster',
    feed: createClusterFeed((state) => this.handleCluster(state)),
  });

  constructor() {
    super();
    this.cluster = null;
    this.dispatcherNodes = null;
    this.processes = null;
    this.token = loadToken();
    this.tokenError = '';
    this.pending = null;
    this.outcome = null;
    this.cutMembers = new Set();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.poll();
    this.pollTimer = setInterval(() => void this.poll(), POLL_INTERVAL_MS);
  }

  override disconnectedCallback(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    super.disconnectedCallback();
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    reflectFeedOnHost(this, this.live.view);
  }

  private handleCluster(state: ClusterState): void {
    this.clusterAtMs = Date.now();
    this.readings = this.history.add(this.clusterAtMs, state);
    this.cluster = state;
  }

  private async poll(): Promise<void> {
    const nodes = await getDispatcherNodes(this.controlFetch);
    if (nodes !== null) this.dispatcherNodes = nodes;
    await this.refreshProcesses();
  }

  private async refreshProcesses(): Promise<void> {
    if (this.token === '') return;
    const result = await getProcesses(this.controlFetch, this.token);
    if (result.ok) {
      this.processes = result.processes;
      return;
    }
    if (result.status === 401 || result.status === 403) {
      this.forgetToken();
      this.tokenError = `The token was refused: ${result.message}`;
    } else if (this.outcome === null || this.outcome.kind !== 'error') {
      this.outcome = { kind: 'error', text: `Fault controls unavailable (${result.status || 'network'}): ${result.message}` };
    }
  }

  // ---- rendering ----

  override render(): TemplateResult {
    const view = this.live.view;
    const state = this.cluster;
    const extra = (this.processes ?? []).filter((process) => process.role !== 'dispatcher').map((process) => process.name);
    const members = knownMemberIds(state, extra);
    const colors = Object.fromEntries(members.map((id, index) => [id, PALETTE[index % PALETTE.length]!]));
    const leader = leaderOf(state);
    return html`
      ${pageHeader('Olympix', 'cluster view', view)}
      <main>
        ${this.renderStats(state, leader.leader, leader.term)} ${this.renderToken()}
        <div
          class="notice ${this.outcome?.kind ?? ''}"
          role="status"
          aria-live="polite"
          data-testid="control-result"
          data-outcome=${this.outcome?.kind ?? ''}
          ?hidden=${this.outcome === null}
        >
          ${this.outcome?.text ?? ''}
        </div>
        ${state === null
          ? html`<div class="panel notice" data-testid="cluster-waiting">Waiting for the first cluster state from ${view.node ?? 'a node'}…</div>`
          : null}
        <section aria-labelledby="topology-heading">
          <h2 id="topology-heading">Topology <span class="hint">every process, its peer links, the leader and its term</span></h2>
          <div class="topology-layout">
            <div class="panel topology-panel">
              ${renderTopology({
                state,
                members,
                leader: leader.leader,
                term: leader.term,
                colors,
                dispatcherNodes: this.dispatcherNodes,
                processes: this.processes,
                servingNode: view.node,
                cutMembers: this.cutMembers,
              })}
              <div class="legend" aria-hidden="true">
                <span><span class="swatch" style="border-color:var(--ok)"></span>up</span>
                <span><span class="swatch dashed" style="border-color:var(--warn)"></span>reconnecting</span>
                <span><span class="swatch dashed" style="border-color:var(--bad)"></span>down / cut</span>
                <span><span class="swatch" style="border-color:var(--gold)"></span>leader</span>
              </div>
            </div>
            <div class="members">
              ${members.map((id) => this.renderMember(id, state, leader.leader, colors[id]!))} ${this.renderDispatcher()}
            </div>
          </div>
        </section>
        ${this.renderClocks(state, members, colors)} ${this.renderMulticast(state, members)} ${this.renderPush(state, members)}
        <footer class="relay">
          ${state
            ? html`Relayed by <code>${state.via}</code>; every member publishes its status twice a second over the peer links, and
                a member silent for 3 s is shown as stale.`
            : null}
        </footer>
      </main>
    `;
  }

  private renderStats(state: ClusterState | null, leader: string | null, term: number): TemplateResult {
    const skew = this.readings.maxSkewMs;
    const servingView = state?.members[this.live.view.node ?? '']?.multicast ?? null;
    const nodes = Object.values(state?.members ?? {}).filter((status) => status.push !== null && !isStale(state, status.id));
    const updatesPerS = nodes.reduce((sum, status) => sum + (status.push?.updatesPerS ?? 0), 0);
    const p99s = nodes.map((status) => status.push?.writeToPushP99Ms).filter((value): value is number => typeof value === 'number');
    const raffle = mostAdvancedRaffle(state);
    return html`<div class="stats">
      <div class="panel stat ${leader ? 'good' : 'warn'}">
        <div class="label">Leader</div>
        <div class="big"><span data-testid="leader-name">${leader ?? 'none'}</span></div>
        <div class="small">term <b data-testid="leader-term">${term}</b></div>
      </div>
      <div class="panel stat ${skew !== null && skew < 5 ? 'good' : 'warn'}">
        <div class="label">Largest clock skew</div>
        <div class="big" data-testid="skew-max" data-value=${skew === null ? '' : skew.toFixed(3)}>${formatMs(skew)}</div>
        <div class="small">${this.readings.extremes ? `${this.readings.extremes[0]} ahead of ${this.readings.extremes[1]}` : 'between any two members'}</div>
      </div>
      <div class="panel stat">
        <div class="label">Multicast view</div>
        <div class="big">${servingView ? `#${servingView.viewId}` : '—'}</div>
        <div class="small">${servingView ? servingView.viewMembers.join(', ') : 'no node status yet'}</div>
      </div>
      <div class="panel stat">
        <div class="label">Push</div>
        <div class="big">${updatesPerS.toFixed(updatesPerS >= 10 ? 0 : 1)}/s</div>
        <div class="small">write→push p99 ${p99s.length ? formatMs(Math.max(...p99s)) : '—'}</div>
      </div>
      <div class="panel stat">
        <div class="label">Raffle</div>
        <div class="big">${raffle ? `${raffle.raffle.entries} entr${raffle.raffle.entries === 1 ? 'y' : 'ies'}` : '—'}</div>
        <div class="small">${raffle ? (raffle.raffle.winner ? `winner ${raffle.raffle.winner}` : `${raffle.raffle.tickets} tickets, ${raffle.raffle.closed ? 'closed' : 'open'}`) : 'no node status yet'}</div>
      </div>
    </div>`;
  }

  private renderToken(): TemplateResult {
    return tokenPanel(
      this.token,
      this.tokenError,
      {
        set: 'Fault controls unlocked for this browser session.',
        label: html`Write token for the fault controls (printed by <code>npm start</code>)`,
        submit: 'Unlock controls',
      },
      (event) => this.saveToken(event),
      () => this.forgetToken(),
    );
  }

  private renderMember(id: string, state: ClusterState | null, leader: string | null, color: string): TemplateResult {
    const status = state?.members[id];
    const stale = isStale(state, id);
    const process = this.processes?.find((candidate) => candidate.name === id);
    const processState = process?.state ?? 'unknown';
    const role = status?.role ?? process?.role ?? (id === STORE_ID ? 'store' : 'node');
    const isLeader = id === leader;
    const canControl = this.token !== '' && this.pending === null;
    const running = process ? process.running : null;
    const cut = isCut(status) || this.cutMembers.has(id);
    const offset = this.readings.offsets[id];
    const links = Object.entries(status?.links ?? {}).sort(([a], [b]) => (a === STORE_ID ? -1 : b === STORE_ID ? 1 : a.localeCompare(b, 'en', { numeric: true })));
    return html`<article
      class="panel member"
      style="--member:${color}"
      data-testid="member-${id}"
      data-role=${role}
      data-leader=${isLeader ? 'true' : 'false'}
      data-stale=${stale ? 'true' : 'false'}
      data-term=${status?.term ?? ''}
      data-election-role=${status?.electionRole ?? ''}
      data-process=${processState}
      aria-label="${id}, ${role}"
    >
      <header>
        <h3>${id}</h3>
        <span class="chip">${role}</span>
        ${isLeader ? html`<span class="chip leader">★ leader · term ${status?.term ?? ''}</span>` : null}
        ${processState === 'stopped'
          ? html`<span class="chip bad">stopped</span>`
          : processState === 'restarting'
            ? html`<span class="chip warn">restarting</span>`
            : cut
              ? html`<span class="chip bad">cut off</span>`
              : stale
                ? html`<span class="chip bad">no status</span>`
                : html`<span class="chip ok">live</span>`}
      </header>
      <div class="facts">
        ${status
          ? html`<span>${status.electionRole}${status.holdsMajority ? ' · majority' : ''}</span>
              <span>term <b>${status.term}</b></span>
              <span>clock <b>${offset === undefined ? '—' : formatMs(offset, { signed: true })}</b></span>`
          : html`<span>no status yet</span>`}
        ${status?.push ? html`<span>clients <b>${status.push.clients}</b></span>` : null}
        ${status?.store ? html`<span>seq <b>#${status.store.seq}</b></span>` : null}
        ${process ? html`<span>pid <b>${process.pid ?? '—'}</b></span>${process.restarts > 0 ? html`<span>restarts <b>${process.restarts}</b></span>` : null}` : null}
      </div>
      ${links.length > 0
        ? html`<ul class="links ${stale ? 'old' : ''}" aria-label="${stale ? 'last known ' : ''}peer links of ${id}">
            ${links.map(
              ([peer, link]) =>
                html`<li class=${link.cut ? 'cut' : link.state} title="${id} → ${peer}: ${link.cut ? 'cut' : link.state}, ${link.reconnects} reconnects">
                  ${peer} ${link.cut ? '✂ cut' : link.state === 'up' ? (link.rttMs === undefined ? 'up' : `${link.rttMs.toFixed(1)} ms`) : link.state}
                </li>`,
            )}
          </ul>`
        : null}
      <div class="controls" role="group" aria-label="fault controls for ${id}">
        <button
          class="danger"
          type="button"
          data-testid="control-stop-${id}"
          ?disabled=${!canControl || running === false}
          title="SIGKILL ${id}; the supervisor leaves it down until you start it"
          @click=${() => this.runControl('stop', id, { member: id })}
        >
          Stop
        </button>
        <button
          type="button"
          data-testid="control-start-${id}"
          ?disabled=${!canControl || running === true}
          title="Start ${id} again"
          @click=${() => this.runControl('start', id, { member: id })}
        >
          Start
        </button>
        <button
          class="danger"
          type="button"
          data-testid="control-cut-${id}"
          ?disabled=${!canControl || running === false}
          title="Cut all of ${id}'s peer links (a partition)"
          @click=${() => this.runControl('partition', id, { member: id, cut: true })}
        >
          Cut
        </button>
        <button
          class="secondary"
          type="button"
          data-testid="control-heal-${id}"
          ?disabled=${!canControl || running === false}
          title="Heal ${id}'s peer links"
          @click=${() => this.runControl('partition', id, { member: id, cut: false })}
        >
          Heal
        </button>
        <button
          class="secondary"
          type="button"
          data-testid="control-skew-plus-${id}"
          ?disabled=${!canControl || running === false}
          title="Put ${id}'s system clock ${SKEW_STEP_MS} ms ahead"
          @click=${() => this.runControl('clock-skew', id, { member: id, deltaMs: SKEW_STEP_MS })}
        >
          +${SKEW_STEP_MS} ms
        </button>
        <button
          class="secondary"
          type="button"
          data-testid="control-skew-minus-${id}"
          ?disabled=${!canControl || running === false}
          title="Put ${id}'s system clock ${SKEW_STEP_MS} ms behind (absorbed at half speed)"
          @click=${() => this.runControl('clock-skew', id, { member: id, deltaMs: -SKEW_STEP_MS })}
        >
          −${SKEW_STEP_MS} ms
        </button>
      </div>
    </article>`;
  }

  private renderDispatcher(): TemplateResult {
    const process = this.processes?.find((candidate) => candidate.role === 'dispatcher');
    const nodes = this.dispatcherNodes ?? [];
    const healthy = nodes.filter((node) => node.healthy && node.ready).length;
    return html`<article class="panel member" style="--member:var(--accent)" data-testid="member-dispatcher" data-role="dispatcher" data-stale="false">
      <header>
        <h3>dispatcher</h3>
        <span class="chip">dispatcher</span>
        <span class="chip ${healthy === nodes.length && nodes.length > 0 ? 'ok' : 'warn'}">${healthy}/${nodes.length} nodes healthy</span>
      </header>
      <div class="facts">
        <span>serves the pages, assigns the least-loaded node</span>
        ${process ? html`<span>pid <b>${process.pid ?? '—'}</b></span>` : null}
      </div>
      <ul class="links" aria-label="the dispatcher's view of the nodes">
        ${nodes.map(
          (node) =>
            html`<li class=${node.healthy && node.ready ? 'up' : 'down'} title="${node.id}: ${node.clients} clients, ${node.assigned} pages assigned so far">
              ${node.id} ${node.healthy && node.ready ? `${node.clients} clients · ${node.assigned} assigned` : 'out of rotation'}
            </li>`,
        )}
      </ul>
    </article>`;
  }

  private renderClocks(state: ClusterState | null, members: readonly string[], colors: Record<string, string>): TemplateResult {
    const history = this.history;
    const series: ChartSeries[] = members.map((id) => ({
      key: id,
      label: id,
      color: colors[id]!,
      points: history.samples.filter((sample) => sample.offsets[id] !== undefined).map((sample) => [sample.atMs, sample.offsets[id]!] as const),
    }));
    const skewSeries: ChartSeries[] = [
      {
        key: 'skew',
        label: 'largest pairwise skew',
        color: SKEW_COLOR,
        emphasis: true,
        points: history.samples.filter((sample) => sample.maxSkewMs !== null).map((sample) => [sample.atMs, sample.maxSkewMs!] as const),
      },
    ];
    const markers: ChartMarker[] = history.rounds.map((round) => ({
      atMs: round.atMs,
      title: `Berkeley round ${round.round} led by ${round.leader} (term ${round.term}): ${round.members} members, largest adjustment ${formatMs(round.maxAdjustmentMs)}`,
      strength: Math.min(1, 0.3 + Math.log10(1 + Math.abs(round.maxAdjustmentMs)) / 2),
    }));
    const endMs = this.clusterAtMs || Date.now();
    return html`<section aria-labelledby="clocks-heading">
      <h2 id="clocks-heading">
        Clocks <span class="hint">Berkeley synchronisation, the leader as time daemon; ticks along the bottom are its rounds</span>
      </h2>
      <div class="charts">
        <div class="panel chart-panel">
          <h3>Each member's offset from the ensemble mean</h3>
          <olympix-line-chart
            .series=${series}
            .markers=${markers}
            .windowMs=${history.windowMs}
            .endMs=${endMs}
            mode="symmetric"
            .minRange=${2}
            unit="ms"
            label="Each member's clock offset from the mean of all members, over the last minute"
            data-testid="chart-offsets"
          ></olympix-line-chart>
          <div class="series-legend">
            ${members.map((id) => html`<span><span class="dot" style="--member:${colors[id]}"></span>${id}</span>`)}
          </div>
        </div>
        <div class="panel chart-panel">
          <h3>Largest pairwise skew</h3>
          <olympix-line-chart
            .series=${skewSeries}
            .markers=${markers}
            .windowMs=${history.windowMs}
            .endMs=${endMs}
            mode="positive"
            .minRange=${2}
            unit="ms"
            label="The largest difference between any two members' clocks, over the last minute"
            data-testid="chart-skew"
          ></olympix-line-chart>
          <div class="series-legend"><span><span class="dot" style="--member:${SKEW_COLOR}"></span>max − min over live members</span></div>
        </div>
      </div>
      <div class="panel overflow" style="margin-top:0.75rem">
        <table data-testid="clock-table">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Offset from mean</th>
              <th scope="col">Injected</th>
              <th scope="col">Still to slew</th>
              <th scope="col" class="opt">Est. error</th>
              <th scope="col" class="opt">Drift fix</th>
              <th scope="col" class="opt">Rounds</th>
              <th scope="col">Synced</th>
            </tr>
          </thead>
          <tbody>
            ${members.map((id) => {
              const status = state?.members[id];
              const clock = status?.clock;
              const stale = isStale(state, id);
              const offset = this.readings.offsets[id];
              return html`<tr class=${stale ? 'stale' : ''}>
                <td><span class="dot" style="--member:${colors[id]}"></span>${id}</td>
                <td data-testid="member-${id}-offset" data-value=${offset === undefined ? '' : offset.toFixed(3)}>
                  ${offset === undefined ? (stale ? 'stale' : '—') : formatMs(offset, { signed: true })}
                </td>
                <td>${clock ? formatMs(clock.injectedSkewMs, { signed: true }) : '—'}</td>
                <td>${clock ? formatMs(clock.pendingMs, { signed: true }) : '—'}</td>
                <td class="opt">${clock ? formatMs(clock.estimatedErrorMs) : '—'}</td>
                <td class="opt">${clock ? `${clock.frequencyPpm.toFixed(1)} ppm` : '—'}</td>
                <td class="opt">${clock?.rounds ?? '—'}</td>
                <td>${clock ? (clock.enabled ? (clock.synced ? 'yes' : 'not yet') : 'sync off') : '—'}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
    </section>`;
  }

  private renderMulticast(state: ClusterState | null, members: readonly string[]): TemplateResult {
    const nodes = members.filter((id) => id !== STORE_ID && (state?.members[id]?.role ?? 'node') === 'node');
    const table = alignDeliveries(state, nodes, 12);
    const raffle = mostAdvancedRaffle(state);
    return html`<section aria-labelledby="multicast-heading">
      <h2 id="multicast-heading">Multicast and raffle <span class="hint">Lamport totally-ordered multicast among the nodes; every ticket is a client request</span></h2>
      <div class="panel overflow">
        <table data-testid="multicast-table">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Lamport</th>
              <th scope="col">Hold-back</th>
              <th scope="col" class="opt">Queued</th>
              <th scope="col" class="opt">Delivered</th>
              <th scope="col" style="text-align:left">View and its members</th>
            </tr>
          </thead>
          <tbody>
            ${nodes.map((id) => {
              const multicast = state?.members[id]?.multicast ?? null;
              const stale = isStale(state, id);
              return html`<tr class=${stale ? 'stale' : ''} data-testid="multicast-${id}">
                <td>${id}${stale ? html` <span class="chip bad">stale</span>` : null}</td>
                <td data-testid="lamport-${id}">${multicast?.lamport ?? '—'}</td>
                <td data-testid="holdback-${id}">${multicast?.holdBack ?? '—'}</td>
                <td class="opt">${multicast?.pending ?? '—'}</td>
                <td class="opt">${multicast?.delivered ?? '—'}</td>
                <td class="wrap">
                  ${multicast ? html`<b>#${multicast.viewId}</b>${multicast.ready ? '' : html` <span class="chip warn">joining</span>`}: ` : '—'}<span
                    data-testid="view-${id}"
                    data-view-id=${multicast?.viewId ?? ''}
                    data-stale=${stale ? 'true' : 'false'}
                    >${multicast ? multicast.viewMembers.join(', ') : ''}</span
                  >
                </td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
      <div class="two" style="margin-top:0.75rem">
        <div class="panel">
          <div class="deliveries" style="grid-template-columns: auto repeat(${Math.max(1, table.columns.length)}, minmax(0, 1fr))">
            <div>
              <div class="head">#</div>
              ${table.rows.map((row) => html`<div class="index">${row.index}</div>`)}
            </div>
            ${table.columns.map(
              (column, columnIndex) => html`<div>
                <div class="head ${column.stale ? 'stale' : ''}" title=${column.stale ? `${column.node}: no fresh status` : column.node}>
                  ${column.node}${column.stale ? ' (stale)' : ''}
                </div>
                <ol data-testid="deliveries-${column.node}" data-last-index=${column.lastIndex ?? ''} data-stale=${column.stale ? 'true' : 'false'}>
                  ${table.rows.map((row) => this.renderTicket(row.cells[columnIndex] ?? null, row.index, row.agree))}
                </ol>
                ${column.newer > 0 ? html`<div class="more">+${column.newer} newer</div>` : null}
              </div>`,
            )}
          </div>
          <p
            class="verdict ${table.agree ? 'agree' : table.firstDisagreement !== null ? 'differ' : ''}"
            style="padding: 0 0.7rem 0.7rem"
            data-testid="deliveries-agreement"
            data-agree=${table.agree ? 'true' : 'false'}
          >
            ${table.rows.length === 0
              ? html`<span class="hint">No tickets delivered yet: open a scoreboard, or pull a score from any node.</span>`
              : table.firstDisagreement !== null
                ? `✗ The nodes differ at ticket #${table.firstDisagreement}.`
                : table.agree
                  ? `✓ Same tickets in the same order on every live node (#${table.rows[0]!.index}–#${table.rows.at(-1)!.index}).`
                  : 'They agree where they overlap; the nodes publish at different instants, so some are further along. Waiting for every live node to report the same tickets…'}
          </p>
        </div>
        <div class="panel raffle" data-testid="raffle-panel">
          <h3 style="margin:0 0 0.3rem;font-size:1rem">Sponsor's raffle</h3>
          ${raffle
            ? html`<p style="margin:0.2rem 0">
                  Round ${raffle.raffle.round}: <b data-testid="raffle-entries">${raffle.raffle.entries}</b> entries from
                  ${raffle.raffle.tickets} tickets, ${raffle.raffle.closed ? 'closed' : 'open'}.
                </p>
                ${raffle.raffle.winner
                  ? html`<p class="winner" data-testid="raffle-winner">Winner: <code>${raffle.raffle.winner}</code></p>`
                  : null}
                ${raffle.raffle.recentEntries.length > 0
                  ? html`<ol reversed start=${raffle.raffle.recentEntries.at(-1)!.ordinal} class="entries">
                      ${[...raffle.raffle.recentEntries].reverse().map(
                        (entry) => html`<li>
                          <code>${shortClient(entry.client)}</code> · served by ${entry.node} · ticket #${entry.index}
                        </li>`,
                      )}
                    </ol>`
                  : html`<p class="hint">No entries yet: every Nth delivered ticket enters.</p>`}
                <p class="hint">${agreementOfRaffle(state, nodes)}</p>`
            : html`<p class="hint">No node has published its raffle yet.</p>`}
        </div>
      </div>
    </section>`;
  }

  private renderTicket(ticket: DeliveredTicket | null, index: number, rowAgrees: boolean): TemplateResult {
    if (ticket === null) return html`<li class="missing" data-index=${index} data-ticket="">·</li>`;
    const key = `${ticket.sender}|${ticket.kind}|${ticket.client}`;
    return html`<li class=${rowAgrees ? 'agree' : 'differ'} data-index=${index} data-ticket=${key} title="#${index}: ${ticket.kind} from ${ticket.client}, sent by ${ticket.sender}">
      ${ticket.sender.replace(/^node-/, 'n')} <span class="kind">${ticket.kind}</span> ${shortClient(ticket.client)}
    </li>`;
  }

  private renderPush(state: ClusterState | null, members: readonly string[]): TemplateResult {
    return html`<section aria-labelledby="push-heading">
      <h2 id="push-heading">Push <span class="hint">frames pushed to pages, and the time from a write's stamp to its push</span></h2>
      <div class="panel overflow">
        <table data-testid="push-table">
          <thead>
            <tr>
              <th scope="col">Process</th>
              <th scope="col">Clients</th>
              <th scope="col" class="opt">Assigned</th>
              <th scope="col">Updates/s</th>
              <th scope="col" class="opt">Write→push p50</th>
              <th scope="col">p99</th>
              <th scope="col" class="opt">At change</th>
            </tr>
          </thead>
          <tbody>
            ${members.map((id) => {
              const status = state?.members[id];
              const stale = isStale(state, id);
              const dispatcher = this.dispatcherNodes?.find((node) => node.id === id);
              if (status?.store) {
                return html`<tr class=${stale ? 'stale' : ''} data-testid="push-${id}">
                  <td>${id}</td>
                  <td>—</td>
                  <td class="opt">—</td>
                  <td title="writes committed">${status.store.writesCommitted} writes</td>
                  <td class="opt">—</td>
                  <td>—</td>
                  <td class="opt">#${status.store.seq}</td>
                </tr>`;
              }
              const push = status?.push ?? null;
              return html`<tr class=${stale ? 'stale' : ''} data-testid="push-${id}">
                <td>${id}</td>
                <td>${push?.clients ?? '—'}</td>
                <td class="opt">${dispatcher ? dispatcher.assigned : '—'}</td>
                <td>${push ? push.updatesPerS.toFixed(push.updatesPerS >= 10 ? 0 : 1) : '—'}</td>
                <td class="opt">${formatMs(push?.writeToPushP50Ms)}</td>
                <td>${formatMs(push?.writeToPushP99Ms)}</td>
                <td class="opt">${push ? `#${push.seq}` : '—'}</td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
    </section>`;
  }

  // ---- token and controls ----

  private saveToken(event: SubmitEvent): void {
    const result = submitToken(event);
    if (!result.ok) {
      this.tokenError = result.message;
      return;
    }
    this.token = result.token;
    this.tokenError = '';
    void this.refreshProcesses();
  }

  private forgetToken(): void {
    this.token = '';
    this.processes = null;
    dropToken();
  }

  private async runControl(action: ControlAction, member: string, body: Record<string, unknown>): Promise<void> {
    if (this.token === '' || this.pending !== null) return;
    const what = controlLabel(action, member, body);
    this.pending = `${action}:${member}`;
    this.outcome = { kind: 'pending', text: `${what}…` };
    try {
      const result = await postControl(this.controlFetch, action, body, this.token);
      if (result.ok) {
        this.outcome = { kind: 'ok', text: describeControl(action, member, result.body) };
        if (action === 'partition' || action === 'stop' || action === 'start' || action === 'restart') {
          const cut = new Set(this.cutMembers);
          // A restarted process comes back with its links whole.
          if (action === 'partition' && body.cut === true) cut.add(member);
          else cut.delete(member);
          this.cutMembers = cut;
        }
      } else {
        this.outcome = { kind: 'error', text: `${what} refused${result.status ? ` (${result.status})` : ''}: ${result.message}` };
        if (result.status === 401 || result.status === 403) this.forgetToken();
      }
    } finally {
      this.pending = null;
    }
    await this.refreshProcesses();
  }
}

function controlLabel(action: ControlAction, member: string, body: Record<string, unknown>): string {
  switch (action) {
    case 'stop':
      return `Stopping ${member}`;
    case 'start':
      return `Starting ${member}`;
    case 'restart':
      return `Restarting ${member}`;
    case 'partition':
      return body.cut === true ? `Cutting ${member} off` : `Healing ${member}`;
    case 'clock-skew':
      return `Moving ${member}'s clock by ${Number(body.deltaMs) > 0 ? '+' : ''}${String(body.deltaMs)} ms`;
  }
}

/** Client ids are long; the start is enough to tell them apart on screen. */
function shortClient(client: string): string {
  return client.length <= 12 ? client : `${client.slice(0, 11)}…`;
}

/** The raffle as the fresh node furthest along the order knows it. */
function mostAdvancedRaffle(state: ClusterState | null): NonNullable<MemberStatus['multicast']> | null {
  let best: NonNullable<MemberStatus['multicast']> | null = null;
  for (const status of Object.values(state?.members ?? {})) {
    if (!status.multicast || isStale(state, status.id)) continue;
    if (best === null || status.multicast.delivered > best.delivered) best = status.multicast;
  }
  return best;
}

/** "All 3 nodes count 4 entries" or which node differs (one still catching up, usually). */
function agreementOfRaffle(state: ClusterState | null, nodes: readonly string[]): string {
  const fresh = nodes.map((id) => state?.members[id]).filter((status): status is MemberStatus => !!status?.multicast && !isStale(state, status.id));
  if (fresh.length === 0) return '';
  const summaries = new Map<string, string[]>();
  for (const status of fresh) {
    const raffle = status.multicast!.raffle;
    const key = `${raffle.round}:${raffle.entries}:${raffle.winner ?? ''}`;
    summaries.set(key, [...(summaries.get(key) ?? []), status.id]);
  }
  if (summaries.size === 1) return `All ${fresh.length} live nodes hold the same entries${fresh[0]!.multicast!.raffle.winner ? ' and drew the same winner' : ''}.`;
  return `Nodes differ for a moment (${[...summaries.values()].map((ids) => ids.join(', ')).join(' / ')}): the slower ones are catching up.`;
}

customElements.define('olympix-cluster', OlympixCluster);

declare global {
  interface HTMLElementTagNameMap {
    'olympix-cluster': OlympixCluster;
  }
}

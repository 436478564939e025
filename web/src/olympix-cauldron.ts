// <olympix-cauldron>: the score-keeper's page. Asks for the write token once per
// browser session, then offers a score form per event and medal buttons per team.
// Input is checked here first; writes go to the node serving the page, and the
// answer is shown as it came: "accepted as change #<seq>", or the server's own words.

import { css, html, LitElement, type PropertyValues, type TemplateResult } from 'lit';
import { MEDALS, type Medal } from '../../shared/board.js';
import { parseScoreForm } from './cauldron-validation.js';
import { dropToken, formStyles, loadToken, submitToken, tokenPanel } from './write-token.js';
import { teamsOfEvent, type BoardState } from './feed-state.js';
import { formatUpdatedAt, formatValue } from './format.js';
import { LiveFeedController } from './live-feed-controller.js';
import { FeedStatus } from './live-feed.js';
import { pageHeader, reflectFeedOnHost, themeStyles } from './theme.js';
import { medalBody, medalsUrl, postRaffleAction, postWrite, scoreBody, scoresUrl, type WriteFetch, type WriteResult } from './write-client.js';

const MEDAL_LABEL: Record<Medal, string> = { gold: 'Gold', silver: 'Silver', bronze: 'Bronze' };

interface Outcome {
  readonly kind: 'ok' | 'error' | 'pending';
  readonly text: string;
}

const browserWriteFetch: WriteFetch = async (url, init) => globalThis.fetch(url, { ...init, mode: 'cors', cache: 'no-store' });

export class OlympixCauldron extends LitElement {
  static override properties = {
    token: { state: true },
    tokenError: { state: true },
    pending: { state: true },
    outcome: { state: true },
    formErrors: { state: true },
  };

  static override styles = [
    themeStyles,
    formStyles,
    css`
      .token-panel,
      .card {
        padding: 0.9rem 1rem;
      }
      input:focus-visible,
      button:focus-visible {
        outline: 2px solid var(--accent);
        outline-offset: 1px;
      }
      button {
        font: inherit;
        padding: 0.45rem 0.9rem;
        border-radius: 6px;
        border: 1px solid var(--accent);
        background: var(--accent);
        color: #fff;
        cursor: pointer;
      }
      button.secondary {
        background: transparent;
        color: var(--accent);
      }
      button:disabled {
        opacity: 0.5;
        cursor: not-allowed;
      }
      .cards {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
        gap: 0.9rem;
      }
      .card h3 {
        margin: 0 0 0.6rem;
        font-size: 1.05rem;
      }
      .team-row {
        display: grid;
        grid-template-columns: 1fr 7rem;
        gap: 0.5rem;
        align-items: center;
        margin-bottom: 0.5rem;
      }
      .team-row .now {
        font-size: 0.75rem;
        color: var(--muted);
      }
      .form-error {
        color: var(--bad);
        font-size: 0.85rem;
        margin: 0.3rem 0 0.5rem;
      }
      .medal-table {
        width: 100%;
        border-collapse: collapse;
      }
      .medal-table th,
      .medal-table td {
        padding: 0.5rem 0.6rem;
        border-bottom: 1px solid var(--line);
        text-align: left;
      }
      .medal-table tr:last-child > * {
        border-bottom: none;
      }
      .medal-cell {
        display: flex;
        align-items: center;
        gap: 0.35rem;
        flex-wrap: wrap;
      }
      .medal-cell .count {
        min-width: 1.6rem;
        font-weight: 650;
        font-variant-numeric: tabular-nums;
      }
      .medal-cell button {
        padding: 0.25rem 0.55rem;
      }
      .overflow {
        overflow-x: auto;
      }
      .hint {
        color: var(--muted);
        font-size: 0.85rem;
      }
    `,
  ];

  declare private token: string;
  declare private tokenError: string;
  /** The write in flight, if any ("score:Luge", "medal:Gaul:gold"): one at a time. */
  declare private pending: string | null;
  declare private outcome: Outcome | null;
  declare private formErrors: Record<string, { message: string; fields: Record<string, string> }>;

  private readonly live = new LiveFeedController(this, { page: 'cauldron' });
  private readonly writeFetch: WriteFetch = browserWriteFetch;

  constructor() {
    super();
    this.token = loadToken();
    this.tokenError = '';
    this.pending = null;
    this.outcome = null;
    this.formErrors = {};
  }

  override render(): TemplateResult {
    const view = this.live.view;
    return html`
      ${pageHeader('Olympix', 'the cauldron · score entry', view)}
      <main>
        ${this.renderToken()}
        <div
          class="notice ${this.outcome?.kind ?? ''}"
          role="status"
          aria-live="polite"
          data-testid="write-result"
          data-outcome=${this.outcome?.kind ?? ''}
          ?hidden=${this.outcome === null}
        >
          ${this.outcome?.text ?? ''}
        </div>
        ${view.board.catalog === null
          ? html`<p class="hint">Waiting for the first data…</p>`
          : html`
              <section aria-labelledby="scores-heading">
                <h2 id="scores-heading">Scores</h2>
                <p class="hint">Fill in the teams whose score changed; empty fields stay as they are.</p>
                <div class="cards">${view.board.catalog.events.map((event, index) => this.renderScoreForm(view.board, event, index))}</div>
              </section>
              <section aria-labelledby="medals-heading">
                <h2 id="medals-heading">Medals</h2>
                <div class="panel overflow">${this.renderMedals(view.board)}</div>
              </section>
              ${this.renderRaffle(view.board)}
            `}
      </main>
    `;
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    reflectFeedOnHost(this, this.live.view);
  }

  // ---- token ----

  private renderToken(): TemplateResult {
    return tokenPanel(
      this.token,
      this.tokenError,
      { set: 'Write token set for this browser session.', label: html`Write token (printed by <code>npm start</code>)`, submit: 'Use token' },
      (event) => this.saveToken(event),
      () => this.forgetToken(),
    );
  }

  private saveToken(event: SubmitEvent): void {
    const result = submitToken(event);
    if (!result.ok) {
      this.tokenError = result.message;
      return;
    }
    this.token = result.token;
    this.tokenError = '';
  }

  private forgetToken(): void {
    this.token = '';
    dropToken();
  }

  // ---- scores ----

  private renderScoreForm(board: BoardState, event: string, index: number): TemplateResult {
    const scores = board.data.scores[event] ?? {};
    const errors = this.formErrors[event];
    const errorId = `score-error-${index}`;
    return html`
      <form
        class="panel card"
        data-testid="score-form-${event}"
        data-event=${event}
        aria-label="${event} scores"
        novalidate
        @submit=${this.submitScores}
      >
        <h3>${event}</h3>
        ${teamsOfEvent(board, event).map((team) => {
          // A score never set has no value worth showing, whatever number the data holds.
          const current = scores[team]?.updatedAt == null ? undefined : scores[team];
          return html`<label class="team-row"
            ><span
              >${team}
              <span class="now"
                >${current ? `now ${formatValue(current.value)} · ${formatUpdatedAt(current.updatedAt)}` : 'never set'}</span
              ></span
            >
            <input
              name=${team}
              type="text"
              inputmode="decimal"
              autocomplete="off"
              aria-label="${event} score for ${team}"
              aria-invalid=${errors?.fields[team] ? 'true' : 'false'}
              aria-describedby=${errorId}
              data-testid="score-input-${event}-${team}"
              placeholder=${current ? formatValue(current.value) : ''}
          /></label>`;
        })}
        <p class="form-error" id=${errorId} data-testid="score-error-${event}" ?hidden=${!errors}>${errors?.message ?? ''}</p>
        <button type="submit" data-testid="score-submit-${event}" ?disabled=${!this.canWrite()}>Set ${event} scores</button>
      </form>
    `;
  }

  private async submitScores(submit: SubmitEvent): Promise<void> {
    submit.preventDefault();
    const form = submit.currentTarget as HTMLFormElement;
    const event = form.dataset.event ?? '';
    const inputs = [...form.querySelectorAll('input')];
    const parsed = parseScoreForm(inputs.map((input) => [input.name, input.value] as const));
    if (!parsed.ok) {
      this.formErrors = { ...this.formErrors, [event]: { message: parsed.message, fields: parsed.fieldErrors } };
      return;
    }
    const { [event]: _cleared, ...rest } = this.formErrors;
    this.formErrors = rest;
    const assignment = this.live.view.assignment;
    if (!this.canWrite() || assignment === null) return;
    const result = await this.write(`score:${event}`, `${event} scores`, scoresUrl(assignment.http, event), scoreBody(parsed.scores));
    if (result?.ok) form.reset();
  }

  // ---- medals ----

  private renderMedals(board: BoardState): TemplateResult {
    const teams = board.catalog?.teams ?? [];
    return html`<table class="medal-table">
      <caption class="visually-hidden">Award or take back medals</caption>
      <thead>
        <tr>
          <th scope="col">Team</th>
          ${MEDALS.map((medal) => html`<th scope="col"><span class="medal-dot ${medal}"></span>${MEDAL_LABEL[medal]}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${teams.map(
          (team) => html`<tr>
            <th scope="row">${team}</th>
            ${MEDALS.map((medal) => {
              const stamped = board.data.medals[team]?.[medal];
              return html`<td>
                <div class="medal-cell">
                  <span class="count" data-testid="medal-count-${team}-${medal}" title=${`last updated ${formatUpdatedAt(stamped?.updatedAt ?? null)}`}
                    >${stamped?.value ?? 0}</span
                  >
                  <button
                    type="button"
                    data-testid="medal-award-${team}-${medal}"
                    aria-label="Award one ${medal} medal to ${team}"
                    ?disabled=${!this.canWrite()}
                    @click=${() => this.awardMedal(team, medal, 1)}
                  >
                    +1
                  </button>
                  <button
                    type="button"
                    class="secondary"
                    data-testid="medal-revoke-${team}-${medal}"
                    aria-label="Take back one ${medal} medal from ${team}"
                    ?disabled=${!this.canWrite() || (stamped?.value ?? 0) <= 0}
                    @click=${() => this.awardMedal(team, medal, -1)}
                  >
                    −1
                  </button>
                </div>
              </td>`;
            })}
          </tr>`,
        )}
      </tbody>
    </table>`;
  }

  private async awardMedal(team: string, medal: Medal, delta: number): Promise<void> {
    const assignment = this.live.view.assignment;
    if (!this.canWrite() || assignment === null) return;
    const what = delta > 0 ? `${MEDAL_LABEL[medal]} for ${team}` : `${MEDAL_LABEL[medal]} taken back from ${team}`;
    await this.write(`medal:${team}:${medal}`, what, medalsUrl(assignment.http, team), medalBody(medal, delta));
  }

  // ---- the sponsor's raffle ----

  private renderRaffle(board: BoardState): TemplateResult | null {
    const raffle = board.raffle;
    if (!raffle || !raffle.enabled) return null;
    const winner = raffle.winner;
    return html`<section aria-labelledby="raffle-heading">
      <h2 id="raffle-heading">Sponsor's raffle</h2>
      <div class="panel" data-testid="raffle-panel" data-closed=${raffle.closed ? 'true' : 'false'}>
        <p>
          ${raffle.entries} entries from ${raffle.delivered} requests (every ${raffle.everyN}th enters).
          ${winner
            ? html`Winner: villager <code data-testid="raffle-winner">${winner.client}</code> (entry #${winner.ordinal}, served by ${winner.node}).`
            : raffle.closed
              ? 'Closed without entries.'
              : 'Open.'}
        </p>
        ${raffle.closed
          ? html`<button type="button" class="secondary" data-testid="raffle-reopen" ?disabled=${!this.canWrite()} @click=${() => this.raffleAction('reopen')}>
              Start a new round
            </button>`
          : html`<button type="button" data-testid="raffle-close" ?disabled=${!this.canWrite()} @click=${() => this.raffleAction('close')}>
              Close the raffle and draw the winner
            </button>`}
      </div>
    </section>`;
  }

  private async raffleAction(action: 'close' | 'reopen'): Promise<void> {
    const assignment = this.live.view.assignment;
    if (!this.canWrite() || assignment === null) return;
    const node = this.live.view.node ?? 'the node';
    const what = action === 'close' ? 'Closing the raffle' : 'A new raffle round';
    this.pending = `raffle:${action}`;
    this.outcome = { kind: 'pending', text: `${what}: sending to ${node}…` };
    let result;
    try {
      result = await postRaffleAction(this.writeFetch, assignment.http, action, this.token);
    } finally {
      this.pending = null;
    }
    if (result.ok) {
      const entry = (result.body.winner as { entry?: { client: string; ordinal: number } | null } | undefined)?.entry;
      this.outcome = {
        kind: 'ok',
        text: action === 'close' ? (entry ? `The draw: villager ${entry.client} wins with entry #${entry.ordinal}` : 'The raffle closed without entries') : 'A new round started',
      };
    } else {
      this.outcome = { kind: 'error', text: `${what} refused${result.status ? ` (${result.status})` : ''}: ${result.message}` };
      if (result.status === 401 || result.status === 403) this.forgetToken();
    }
  }

  // ---- writing ----

  private canWrite(): boolean {
    return this.token !== '' && this.pending === null && this.live.view.status === FeedStatus.live && this.live.view.assignment !== null;
  }

  private async write(key: string, what: string, url: string, body: Parameters<typeof postWrite>[2]): Promise<WriteResult | null> {
    const node = this.live.view.node ?? 'the node';
    this.pending = key;
    this.outcome = { kind: 'pending', text: `Sending ${what} to ${node}…` };
    let result: WriteResult;
    try {
      result = await postWrite(this.writeFetch, url, body, this.token);
    } finally {
      this.pending = null;
    }
    if (result.ok) {
      this.outcome = { kind: 'ok', text: `${what}: accepted as change #${result.seq} by ${node}` };
    } else {
      this.outcome = { kind: 'error', text: `${what} refused${result.status ? ` (${result.status})` : ''}: ${result.message}` };
      // A missing or wrong token is asked for again; the error above says why.
      if (result.status === 401 || result.status === 403) this.forgetToken();
    }
    return result;
  }
}

customElements.define('olympix-cauldron', OlympixCauldron);

declare global {
  interface HTMLElementTagNameMap {
    'olympix-cauldron': OlympixCauldron;
  }
}

// <olympix-scoreboard>: the public page. A medal table and a card per event, each
// value with the time it was last updated, pushed live from the serving node. The
// teams and events are whatever the node's catalog says.

import { css, html, LitElement, type PropertyValues, type TemplateResult } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { MEDALS, type Change, type Medal, type MedalTally, type Stamped } from '../../shared/board.js';
import type { RaffleState } from '../../shared/client-protocol.js';
import { teamsOfEvent, type BoardState } from './feed-state.js';
import { formatUpdatedAt, formatUpdatedAtTitle, formatValue } from './format.js';
import { LiveFeedController } from './live-feed-controller.js';
import type { RaffleNotice } from './live-feed.js';
import { pageHeader, reflectFeedOnHost, themeStyles } from './theme.js';

const MEDAL_LABEL: Record<Medal, string> = { gold: 'Gold', silver: 'Silver', bronze: 'Bronze' };

/** Olympic order: most golds, then silvers, then bronzes, then by name. */
function rankTeams(teams: readonly string[], medals: Record<string, MedalTally>): string[] {
  const count = (team: string, medal: Medal): number => medals[team]?.[medal].value ?? 0;
  return [...teams].sort(
    (a, b) =>
      count(b, 'gold') - count(a, 'gold') ||
      count(b, 'silver') - count(a, 'silver') ||
      count(b, 'bronze') - count(a, 'bronze') ||
      a.localeCompare(b),
  );
}

function touchesMedal(change: Change | null, team: string, medal: Medal): boolean {
  return change?.kind === 'medal' && change.team === team && change.medal === medal;
}

function touchesScore(change: Change | null, event: string, team: string): boolean {
  return change?.kind === 'score' && change.event === event && Object.hasOwn(change.scores, team);
}

/**
 * A value with its "last updated at"; re-created (so it flashes) when the last change
 * touched it. `emptyText` stands for a value never updated when a bare 0 would mislead
 * (a score never set); null leaves the value as the data says (a medal count of 0).
 */
function stampedValue(stamped: Stamped | undefined, testId: string, fresh: boolean, seq: number, emptyText: string | null): unknown {
  const updatedAt = stamped?.updatedAt ?? null;
  const shown = stamped === undefined || (updatedAt === null && emptyText !== null) ? (emptyText ?? '0') : formatValue(stamped.value);
  const body = html`<span class="value ${fresh ? 'flash' : ''}" data-testid="${testId}-value"
      >${shown}</span
    ><span class="updated"
      ><span class="visually-hidden">last updated </span
      ><time data-testid="${testId}-updated" datetime=${formatUpdatedAtTitle(updatedAt)} title=${formatUpdatedAtTitle(updatedAt)}
        >${formatUpdatedAt(updatedAt)}</time
      ></span
    >`;
  return keyed(fresh ? seq : 0, body);
}

export class OlympixScoreboard extends LitElement {
  static override styles = [
    themeStyles,
    css`
      .medals {
        overflow-x: auto;
      }
      table {
        width: 100%;
        border-collapse: collapse;
      }
      th,
      td {
        padding: 0.55rem 0.75rem;
        text-align: right;
        border-bottom: 1px solid var(--line);
      }
      tr:last-child td {
        border-bottom: none;
      }
      th {
        font-size: 0.8rem;
        text-transform: uppercase;
        letter-spacing: 0.04em;
        color: var(--muted);
        font-weight: 600;
      }
      th:first-child,
      td:first-child {
        text-align: left;
      }
      td .value {
        font-size: 1.25rem;
      }
      td.team {
        font-weight: 600;
      }
      td.total .value {
        color: var(--muted);
      }
      .rank {
        display: inline-block;
        min-width: 1.4rem;
        color: var(--muted);
        font-weight: 400;
      }
      .cards {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
        gap: 0.9rem;
      }
      .card {
        padding: 0.9rem 1rem;
      }
      .card h3 {
        margin: 0 0 0.5rem;
        font-size: 1.05rem;
      }
      .card ul {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      .card li {
        display: flex;
        justify-content: space-between;
        align-items: baseline;
        gap: 0.75rem;
        padding: 0.4rem 0;
        border-top: 1px solid var(--line);
      }
      .card li:first-child {
        border-top: none;
      }
      .card .score {
        text-align: right;
      }
      .card .score .value {
        font-size: 1.3rem;
      }
      .raffle {
        padding: 0.9rem 1rem;
      }
      .raffle p {
        margin: 0.25rem 0;
      }
      .empty {
        color: var(--muted);
        padding: 1rem;
      }
      @media (max-width: 560px) {
        th,
        td {
          padding: 0.45rem 0.4rem;
        }
        td .value {
          font-size: 1.05rem;
        }
      }
    `,
  ];

  private readonly live = new LiveFeedController(this, { page: 'scoreboard' });

  override render(): TemplateResult {
    const view = this.live.view;
    const board = view.board;
    return html`
      ${pageHeader('Olympix', 'live scoreboard', view)}
      <main>
        ${this.renderRaffleNotice(view.raffleNotice)}
        <section aria-labelledby="medals-heading">
          <h2 id="medals-heading">Medal table</h2>
          <div class="panel medals">${this.renderMedalTable(board)}</div>
        </section>
        <section aria-labelledby="events-heading">
          <h2 id="events-heading">Events</h2>
          ${board.catalog === null
            ? html`<div class="panel empty">Waiting for the first data…</div>`
            : html`<div class="cards">${board.catalog.events.map((event) => this.renderEvent(board, event))}</div>`}
        </section>
        ${board.raffle ? this.renderRaffle(board.raffle) : null}
      </main>
    `;
  }

  protected override updated(changed: PropertyValues): void {
    super.updated(changed);
    reflectFeedOnHost(this, this.live.view);
  }

  private renderMedalTable(board: BoardState): TemplateResult {
    if (board.catalog === null) return html`<div class="empty">Waiting for the first data…</div>`;
    const teams = rankTeams(board.catalog.teams, board.data.medals);
    return html`
      <table data-testid="medal-table">
        <caption class="visually-hidden">Medals per team, with the time each count was last updated</caption>
        <thead>
          <tr>
            <th scope="col">Team</th>
            ${MEDALS.map((medal) => html`<th scope="col"><span class="medal-dot ${medal}"></span>${MEDAL_LABEL[medal]}</th>`)}
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          ${teams.map((team, index) => {
            const tally = board.data.medals[team];
            const total = MEDALS.reduce((sum, medal) => sum + (tally?.[medal].value ?? 0), 0);
            return html`<tr data-testid="medal-row-${team}">
              <td class="team"><span class="rank">${index + 1}</span>${team}</td>
              ${MEDALS.map(
                (medal) =>
                  html`<td>
                    ${stampedValue(
                      tally?.[medal] ?? { value: 0, updatedAt: null },
                      `medal-${team}-${medal}`,
                      touchesMedal(board.lastChange, team, medal),
                      board.lastChange?.seq ?? 0,
                      null,
                    )}
                  </td>`,
              )}
              <td class="total"><span class="value" data-testid="medal-${team}-total">${total}</span></td>
            </tr>`;
          })}
        </tbody>
      </table>
    `;
  }

  private renderEvent(board: BoardState, event: string): TemplateResult {
    const scores = board.data.scores[event] ?? {};
    return html`
      <article class="panel card" data-testid="event-card-${event}" aria-label="${event} scores">
        <h3>${event}</h3>
        <ul>
          ${teamsOfEvent(board, event).map(
            (team) =>
              html`<li>
                <span>${team}</span>
                <span class="score"
                  >${stampedValue(scores[team], `score-${event}-${team}`, touchesScore(board.lastChange, event, team), board.lastChange?.seq ?? 0, '—')}</span
                >
              </li>`,
          )}
        </ul>
      </article>
    `;
  }

  private renderRaffle(raffle: RaffleState): TemplateResult {
    return html`
      <section aria-labelledby="raffle-heading">
        <h2 id="raffle-heading">Sponsor's raffle</h2>
        <div class="panel raffle" data-testid="raffle">
          ${raffle.winner
            ? html`<p data-testid="raffle-winner">
                Winner: villager <code>${raffle.winner.client}</code> (ticket #${raffle.winner.ordinal}, served by
                ${raffle.winner.node})
              </p>`
            : html`<p>${raffle.closed ? 'Closed; drawing the winner…' : 'Open'}: every ${raffle.everyN}th request enters.</p>`}
          <p class="updated">${raffle.entries} entries from ${raffle.delivered} requests</p>
        </div>
      </section>
    `;
  }

  private renderRaffleNotice(notice: RaffleNotice | null): TemplateResult | null {
    if (notice === null) return null;
    return notice.notice === 'won'
      ? html`<div class="notice ok" role="alert" data-testid="raffle-notice" data-notice="won">
          You won the sponsor's raffle with ticket #${notice.entry.ordinal}!
        </div>`
      : html`<div class="notice" role="status" data-testid="raffle-notice" data-notice="entered">
          One of your requests (ticket #${notice.entry.ordinal}) was entered into the raffle.
        </div>`;
  }
}

customElements.define('olympix-scoreboard', OlympixScoreboard);

declare global {
  interface HTMLElementTagNameMap {
    'olympix-scoreboard': OlympixScoreboard;
  }
}

// Styles and the page header shared by the scoreboard and the cauldron: colour
// tokens (light and dark), the header with the connection badge and serving node.

import { css, html, type TemplateResult } from 'lit';
import { FeedStatus, type FeedView } from './live-feed.js';

export const themeStyles = css`
  :host {
    --bg: #f6f4ef;
    --surface: #ffffff;
    --ink: #1d232b;
    --muted: #5f6b78;
    --line: #e2ddd3;
    --accent: #1f5fa8;
    --ok: #1d7a46;
    --warn: #a86a00;
    --bad: #b3261e;
    --gold: #c9a227;
    --silver: #8f99a4;
    --bronze: #b0703c;
    --flash: #fff2b3;
    --radius: 10px;
    display: block;
    min-height: 100vh;
    background: var(--bg);
    color: var(--ink);
    font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif;
    line-height: 1.4;
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --bg: #15191e;
      --surface: #1e242b;
      --ink: #e8ebee;
      --muted: #9aa6b2;
      --line: #2e363f;
      --accent: #7fb2ff;
      --ok: #5fd08f;
      --warn: #f0b847;
      --bad: #ff8a80;
      --flash: #4a4320;
    }
  }
  * {
    box-sizing: border-box;
  }
  header.bar {
    position: sticky;
    top: 0;
    z-index: 1;
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem 1rem;
    align-items: center;
    justify-content: space-between;
    padding: 0.75rem 1.25rem;
    background: var(--surface);
    border-bottom: 1px solid var(--line);
  }
  .brand {
    display: flex;
    align-items: baseline;
    gap: 0.6rem;
  }
  .brand h1 {
    margin: 0;
    font-size: 1.35rem;
    letter-spacing: 0.02em;
  }
  .brand .sub {
    color: var(--muted);
    font-size: 0.95rem;
  }
  .connection {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.4rem 0.8rem;
    font-size: 0.9rem;
    color: var(--muted);
  }
  .badge {
    display: inline-flex;
    align-items: center;
    gap: 0.4rem;
    padding: 0.15rem 0.6rem;
    border-radius: 999px;
    border: 1px solid currentColor;
    font-weight: 600;
    text-transform: capitalize;
  }
  .badge::before {
    content: '';
    width: 0.55rem;
    height: 0.55rem;
    border-radius: 50%;
    background: currentColor;
  }
  .badge.live {
    color: var(--ok);
  }
  .badge.connecting,
  .badge.reconnecting {
    color: var(--warn);
  }
  .badge.reconnecting::before,
  .badge.connecting::before {
    animation: pulse 1s ease-in-out infinite;
  }
  .badge.offline {
    color: var(--bad);
  }
  @keyframes pulse {
    50% {
      opacity: 0.25;
    }
  }
  code {
    font-family: ui-monospace, 'DejaVu Sans Mono', monospace;
    font-size: 0.9em;
    color: var(--ink);
  }
  main {
    max-width: 1100px;
    margin: 0 auto;
    padding: 1rem 1.25rem 3rem;
  }
  h2 {
    font-size: 1.1rem;
    margin: 1.5rem 0 0.75rem;
  }
  .panel {
    background: var(--surface);
    border: 1px solid var(--line);
    border-radius: var(--radius);
  }
  .updated {
    display: block;
    font-size: 0.72rem;
    color: var(--muted);
    font-variant-numeric: tabular-nums;
  }
  .value {
    font-variant-numeric: tabular-nums;
    font-weight: 650;
  }
  .flash {
    animation: flash 1.2s ease-out;
    border-radius: 4px;
  }
  @keyframes flash {
    from {
      background: var(--flash);
    }
    to {
      background: transparent;
    }
  }
  .notice {
    margin: 0.75rem 0;
    padding: 0.6rem 0.9rem;
    border-radius: var(--radius);
    border: 1px solid var(--line);
    background: var(--surface);
  }
  .notice.error {
    border-color: var(--bad);
    color: var(--bad);
  }
  .notice.ok {
    border-color: var(--ok);
    color: var(--ok);
  }
  .medal-dot {
    display: inline-block;
    width: 0.7rem;
    height: 0.7rem;
    border-radius: 50%;
    margin-right: 0.35rem;
    vertical-align: -0.05rem;
  }
  .medal-dot.gold {
    background: var(--gold);
  }
  .medal-dot.silver {
    background: var(--silver);
  }
  .medal-dot.bronze {
    background: var(--bronze);
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
  @media (max-width: 560px) {
    header.bar {
      padding: 0.6rem 0.8rem;
    }
    main {
      padding: 0.75rem 0.8rem 2rem;
    }
  }
`;

const STATUS_TEXT: Record<FeedStatus, string> = {
  [FeedStatus.connecting]: 'connecting',
  [FeedStatus.live]: 'live',
  [FeedStatus.reconnecting]: 'reconnecting',
  [FeedStatus.offline]: 'offline',
};

/** The connection badge and the serving node, as the header's right-hand side. */
export function connectionInfo(view: FeedView): TemplateResult {
  const seq = view.board.seq;
  return html`
    <div class="connection" title=${view.error ?? ''}>
      <span class="badge ${view.status}" role="status" aria-live="polite" data-testid="connection-status" data-status=${view.status}
        >${STATUS_TEXT[view.status]}</span
      >
      <span>served by <code data-testid="serving-node" data-node=${view.node ?? ''}>${view.node ?? '—'}</code></span>
      <span data-testid="position">${view.board.epoch === null ? 'no data yet' : html`at change <code>#${seq}</code>`}</span>
    </div>
  `;
}

export function pageHeader(title: string, subtitle: string, view: FeedView): TemplateResult {
  return html`
    <header class="bar">
      <div class="brand">
        <h1>${title}</h1>
        <span class="sub">${subtitle}</span>
      </div>
      ${connectionInfo(view)}
    </header>
    ${view.status !== FeedStatus.live && view.error
      ? html`<div class="notice error" data-testid="connection-error" role="alert" style="margin: 0.5rem 1.25rem">
          ${view.error}${view.retryAt !== null ? ' — retrying' : ''}
        </div>`
      : null}
  `;
}

/** Mirrors the status and the serving node on the host element, for tests and CSS. */
export function reflectFeedOnHost(host: HTMLElement, view: FeedView): void {
  if (host.dataset.status !== view.status) host.dataset.status = view.status;
  const node = view.node ?? '';
  if (host.dataset.node !== node) host.dataset.node = node;
}

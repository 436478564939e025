import { css, html, type TemplateResult } from 'lit';
import { sessionStore } from './browser-feed.js';
import { checkToken } from './cauldron-validation.js';

// The score-keeper's write token in a page: asked once, kept in sessionStorage for the
// browser session (so it leaves with the tab), shared by the cauldron and the cluster
// view's fault controls.

const TOKEN_KEY = 'olympix.token';

export function loadToken(): string {
  try {
    return sessionStore()?.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function keepToken(token: string): void {
  try {
    sessionStore()?.setItem(TOKEN_KEY, token);
  } catch {
    // Without storage the token lasts as long as the page; still usable.
  }
}

export function dropToken(): void {
  try {
    sessionStore()?.removeItem(TOKEN_KEY);
  } catch {
    // Nothing kept, nothing to forget.
  }
}

/** Reads and checks the token form's input; on success the token is kept. */
export function submitToken(event: SubmitEvent): { ok: true; token: string } | { ok: false; message: string } {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const input = form.elements.namedItem('token') as HTMLInputElement;
  const checked = checkToken(input.value);
  if (!checked.ok) return { ok: false, message: checked.message };
  keepToken(checked.token);
  return { ok: true, token: checked.token };
}

export interface TokenPanelText {
  /** Shown once the token is set. */
  set: string;
  /** The input's label. */
  label: TemplateResult;
  /** The submit button. */
  submit: string;
}

/** The panel that asks for the token, or says it is set and offers to change it. */
export function tokenPanel(
  token: string,
  error: string,
  text: TokenPanelText,
  onSubmit: (event: SubmitEvent) => void,
  onForget: () => void,
): TemplateResult {
  if (token !== '') {
    return html`<div class="panel token-panel" data-testid="token-panel" data-token="set">
      <span>${text.set}</span>
      <button class="secondary" type="button" data-testid="token-change" @click=${onForget}>Change token</button>
    </div>`;
  }
  return html`<div class="panel token-panel" data-testid="token-panel" data-token="missing">
    <form @submit=${onSubmit} novalidate>
      <label
        ><span>${text.label}</span>
        <input
          name="token"
          type="password"
          autocomplete="off"
          required
          data-testid="token-input"
          aria-invalid=${error ? 'true' : 'false'}
          aria-describedby="token-error"
      /></label>
      <button type="submit" data-testid="token-save">${text.submit}</button>
    </form>
    <p class="form-error" id="token-error" data-testid="token-error" ?hidden=${!error}>${error}</p>
  </div>`;
}

/** Styles of the token panel and of the forms' labels and inputs. */
export const formStyles = css`
  .token-panel form {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: end;
  }
  label {
    display: flex;
    flex-direction: column;
    gap: 0.2rem;
    font-size: 0.9rem;
  }
  input {
    font: inherit;
    padding: 0.45rem 0.6rem;
    border: 1px solid var(--line);
    border-radius: 6px;
    background: var(--bg);
    color: var(--ink);
    min-width: 0;
  }
  input[aria-invalid='true'] {
    border-color: var(--bad);
  }
`;

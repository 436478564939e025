// The browser's side of LiveFeed's injected dependencies: a real WebSocket, fetch,
// timers and Math.random, and the villager's client id kept in sessionStorage.

import {
  LiveFeed,
  type FeedSocketFactory,
  type FeedTimers,
  type LiveFeedOptions,
} from './live-feed.js';

const CLIENT_ID_KEY = 'olympix.client';

/** Wraps the browser's WebSocket in the small interface LiveFeed uses. */
export const browserSocketFactory: FeedSocketFactory = (url, handlers) => {
  const socket = new WebSocket(url);
  socket.onopen = () => handlers.onOpen();
  socket.onmessage = (event) => handlers.onMessage(event.data);
  socket.onclose = (event) => handlers.onClose(event.code, event.reason);
  socket.onerror = () => handlers.onError();
  return {
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
  };
};

/** Calls go through arrow functions: the browser refuses setTimeout or fetch called on another object. */
export const browserTimers: FeedTimers = {
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
  now: () => Date.now(),
};

/** A random id of 20 characters from [a-z0-9]; crypto's when there is one. */
export function randomClientId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(20);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let index = 0; index < bytes.length; index += 1) bytes[index] = Math.floor(Math.random() * 256);
  let id = 'v-';
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}

/** Session storage, or null where the browser refuses it (some privacy modes throw on access). */
export function sessionStore(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

/** The same villager across reloads of this tab: the id lives in sessionStorage. */
export function sessionClientId(storage: Storage | null = sessionStore()): string {
  try {
    const kept = storage?.getItem(CLIENT_ID_KEY);
    if (kept && /^[A-Za-z0-9_-]{1,64}$/.test(kept)) return kept;
    const id = randomClientId();
    storage?.setItem(CLIENT_ID_KEY, id);
    return id;
  } catch {
    return randomClientId();
  }
}

export type BrowserFeedOptions = Pick<LiveFeedOptions, 'page'> & Partial<LiveFeedOptions>;

export function createBrowserFeed(options: BrowserFeedOptions): LiveFeed {
  const debug = new URLSearchParams(globalThis.location?.search ?? '').has('debug');
  return new LiveFeed({
    clientId: sessionClientId(),
    assignUrl: '/api/assign',
    createSocket: browserSocketFactory,
    fetch: (url, init) => globalThis.fetch(url, { ...init, cache: 'no-store' }),
    timers: browserTimers,
    random: () => Math.random(),
    log: debug ? (message) => console.debug(message) : undefined,
    ...options,
  });
}

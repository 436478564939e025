// A Lit reactive controller that owns one LiveFeed: it starts the feed when its host
// joins the document, stops it when the host leaves, and asks the host to render
// after every change of the feed's view. Components only read `controller.view`.

import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { createBrowserFeed } from './browser-feed.js';
import type { FeedView, LiveFeed } from './live-feed.js';

export interface LiveFeedControllerOptions {
  /** Which page this is, sent in hello. */
  page: string;
  /** A feed to use instead of the browser's own (tests, or a page that shares one). */
  feed?: LiveFeed;
}

export class LiveFeedController implements ReactiveController {
  readonly feed: LiveFeed;
  private readonly host: ReactiveControllerHost;
  private stopListening: (() => void) | null = null;
  private readonly handleOnline = (): void => this.feed.reconnectNow();

  constructor(host: ReactiveControllerHost, options: LiveFeedControllerOptions) {
    this.host = host;
    this.feed = options.feed ?? createBrowserFeed({ page: options.page });
    host.addController(this);
  }

  /** The feed's current view: status, serving node, board, last error. */
  get view(): FeedView {
    return this.feed.current;
  }

  hostConnected(): void {
    this.stopListening = this.feed.addListener(() => this.host.requestUpdate());
    globalThis.addEventListener?.('online', this.handleOnline);
    this.feed.start();
  }

  hostDisconnected(): void {
    globalThis.removeEventListener?.('online', this.handleOnline);
    this.stopListening?.();
    this.stopListening = null;
    this.feed.stop();
  }
}

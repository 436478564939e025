// The cluster page's live feed: the same LiveFeed as the scoreboard (assign, connect,
// subscribe, reconnect and resume), subscribed to the `cluster` topic only. LiveFeed
// keeps the board and passes no cluster frames on, so the socket is tapped: every
// frame still goes to the feed, and the `cluster` ones are also checked against the
// shared schema and handed to the page.

import { Check } from '@sinclair/typebox/value';
import { CLUSTER_TOPIC } from '../../shared/board.js';
import { ClusterMessage } from '../../shared/client-protocol.js';
import type { ClusterState } from '../../shared/cluster.js';
import { browserSocketFactory, createBrowserFeed } from './browser-feed.js';
import type { FeedSocketFactory, LiveFeed } from './live-feed.js';

/** JSON.stringify writes `type` first, so most frames are told apart without parsing. */
const CLUSTER_FRAME_PREFIX = '{"type":"cluster"';

/** Wraps a socket factory so that `onCluster` sees every valid `cluster` frame as well. */
export function tapClusterFrames(factory: FeedSocketFactory, onCluster: (state: ClusterState) => void): FeedSocketFactory {
  return (url, handlers) =>
    factory(url, {
      ...handlers,
      onMessage: (data) => {
        handlers.onMessage(data);
        if (typeof data !== 'string' || !data.startsWith(CLUSTER_FRAME_PREFIX)) return;
        let parsed: unknown;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        if (Check(ClusterMessage, parsed)) onCluster(parsed.state);
      },
    });
}

export function createClusterFeed(onCluster: (state: ClusterState) => void): LiveFeed {
  return createBrowserFeed({
    page: 'cluster',
    topics: () => [CLUSTER_TOPIC],
    createSocket: tapClusterFrames(browserSocketFactory, onCluster),
  });
}

import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

// One port serves both the browsers' WebSockets (through @fastify/websocket, with a
// small maxPayload) and the peer links (through the mesh's own ws server, with a
// larger one). Each library listens for 'upgrade' on the emitter it is given; this
// router hands every upgrade to exactly one of them by path, so that they never both
// answer the same socket.

export interface UpgradeRouter {
  /** Give this to a library that listens for upgrades on a "server". */
  emitterFor(path: string): EventEmitter;
  /** Upgrades on any other path go here (e.g. @fastify/websocket's `options.server`). */
  readonly fallback: EventEmitter;
}

export function routeUpgrades(server: HttpServer): UpgradeRouter {
  const byPath = new Map<string, EventEmitter>();
  const fallback = new EventEmitter();
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = (request.url ?? '').split('?', 1)[0]!;
    (byPath.get(pathname) ?? fallback).emit('upgrade', request, socket, head);
  });
  return {
    emitterFor(path: string) {
      let emitter = byPath.get(path);
      if (!emitter) byPath.set(path, (emitter = new EventEmitter()));
      return emitter;
    },
    fallback,
  };
}

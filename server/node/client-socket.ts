import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { BucketState } from './rate-limiter.js';

// A page's WebSocket together with what the node knows of that page: the socket class
// the node's WebSocket server creates (ws's `WebSocket` option). One object per
// connection, not a socket plus a session plus a bucket, and no closures: the hub's
// listeners are shared by every socket and find their state on `this`. A node holds
// tens of thousands of these; each field here is paid that many times.

/** What the hub needs of its sockets' events; ClientHub implements it. */
export interface ClientSocketOwner {
  receive(socket: ClientSocket, data: unknown, isBinary: boolean): void;
  socketClosed(socket: ClientSocket): void;
  socketFailed(socket: ClientSocket): void;
}

export class ClientSocket extends WebSocket implements BucketState {
  /** The client id: random until the page says hello with its own (a page keeps it across reconnects). */
  client = 'c' + randomBytes(8).toString('hex');
  page = 'unknown';
  /** The remote address, for connection limits and log lines. */
  address = '';
  readonly topics = new Set<string>();
  invalidMessages = 0;
  /** False once a heartbeat ping went out; the pong sets it again. */
  alive = true;
  tokens = 0;
  tokensAtMs = 0;
  /** Destroys the socket if a close we started is not answered in time (set once). */
  terminateTimer: NodeJS.Timeout | undefined = undefined;
  owner: ClientSocketOwner | undefined = undefined;

  /** Hands the socket's events to its owner. */
  adopt(owner: ClientSocketOwner, address: string): void {
    this.owner = owner;
    this.address = address;
    this.on('message', onMessage);
    this.on('pong', onPong);
    this.on('close', onClose);
    this.on('error', onError);
  }
}

// ws types a listener's `this` as WebSocket; these are only ever added to ClientSockets.
function onMessage(this: WebSocket, data: unknown, isBinary: boolean): void {
  const socket = this as ClientSocket;
  socket.owner!.receive(socket, data, isBinary);
}

function onPong(this: WebSocket): void {
  (this as ClientSocket).alive = true;
}

function onClose(this: WebSocket): void {
  const socket = this as ClientSocket;
  socket.owner!.socketClosed(socket);
}

function onError(this: WebSocket): void {
  const socket = this as ClientSocket;
  socket.owner!.socketFailed(socket);
}

import WebSocket from 'ws';
import type { ServerMessage } from '../../shared/client-protocol.js';

// A scripted browser for integration tests: connects to a node's /ws, records every
// message, and lets a test wait for the one it expects.

export class TestClient {
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerMessage);
      this.wake();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false });
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
    });
    return client;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits for the first message (from index `from`) that matches, and returns it. */
  async next<T extends ServerMessage = ServerMessage>(match: (message: ServerMessage) => boolean, timeoutMs = 10_000, from = 0): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found as T;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before the expected message`);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new Error(`timed out waiting for a message; got: ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed) {
      if (performance.now() > deadline) throw new Error('timed out waiting for close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  /** The changes received, in arrival order. */
  changes(): Array<Extract<ServerMessage, { type: 'change' }>['change']> {
    return this.messages.filter((message) => message.type === 'change').map((message) => (message as Extract<ServerMessage, { type: 'change' }>).change);
  }

  close(): void {
    this.socket.close();
  }
}

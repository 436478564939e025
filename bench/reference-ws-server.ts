import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { installProcessHooks, parsePort, referenceHttpHandler } from './lib/reference-http.js';

// The fan-out reference with bare `ws`: what our stack can do at best with the
// idiomatic broadcast of ws's README. Each change is serialised once and the same
// string is sent to every subscriber of its topic. Clients send
// {"type":"subscribe","topics":[…]} and get {"type":"subscribed",…}; writes come by
// HTTP (bench/lib/reference-http.ts). Started by bench/fanout.ts:
//   node --expose-gc --import tsx bench/reference-ws-server.ts --port 0   (token in OLYMPIX_WRITE_TOKEN)

const subscribers = new Map<string, Set<WebSocket>>();
let clients = 0;

const server = createServer(
  referenceHttpHandler({
    node: 'ref-ws',
    token: process.env.OLYMPIX_WRITE_TOKEN ?? '',
    clients: () => clients,
    broadcast(topic, message) {
      const set = subscribers.get(topic);
      if (!set) return;
      const frame = JSON.stringify(message);
      for (const socket of set) socket.send(frame);
    },
  }),
);
server.keepAliveTimeout = 120_000;
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 });

wss.on('connection', (socket: WebSocket) => {
  clients++;
  const topics = new Set<string>();
  socket.on('message', (data) => {
    let message: { type?: unknown; topics?: unknown; id?: unknown };
    try {
      message = JSON.parse(String(data)) as typeof message;
    } catch {
      return;
    }
    if (message.type !== 'subscribe' || !Array.isArray(message.topics)) return;
    for (const topic of message.topics) {
      if (typeof topic !== 'string' || topics.has(topic)) continue;
      topics.add(topic);
      let set = subscribers.get(topic);
      if (!set) subscribers.set(topic, (set = new Set()));
      set.add(socket);
    }
    socket.send(JSON.stringify({ type: 'subscribed', id: message.id, topics: [...topics], mode: 'snapshot', missed: 0 }));
  });
  socket.on('close', () => {
    clients--;
    for (const topic of topics) subscribers.get(topic)?.delete(socket);
  });
  socket.on('error', () => socket.terminate());
});

installProcessHooks(() => {
  wss.close();
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
server.listen(parsePort(process.argv.slice(2)), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}`, pid: process.pid }) + '\n');
});

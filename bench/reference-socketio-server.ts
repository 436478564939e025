import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { installProcessHooks, parsePort, referenceHttpHandler } from './lib/reference-http.js';

// The fan-out reference with Socket.IO: what users pick instead. Rooms, the WebSocket
// transport only (no polling, no upgrade), compression off. A client emits
// "subscribe" with a topic and an ack; a write broadcasts io.to(topic).emit("change",
// message), which Socket.IO encodes once per broadcast. Writes come by HTTP
// (bench/lib/reference-http.ts). Started by bench/fanout.ts:
//   node --expose-gc --import tsx bench/reference-socketio-server.ts --port 0

let clients = 0;
// The write handler is the server's request listener before Socket.IO attaches: Socket.IO
// then answers /socket.io/ itself and passes every other request on to it.
const server = createServer(
  referenceHttpHandler({
    node: 'ref-sio',
    token: process.env.OLYMPIX_WRITE_TOKEN ?? '',
    clients: () => clients,
    broadcast(topic, message) {
      io.to(topic).emit('change', message);
    },
  }),
);
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 16 * 1024,
});
server.keepAliveTimeout = 120_000;

io.on('connection', (socket) => {
  clients++;
  socket.on('subscribe', (topic: unknown, ack: unknown) => {
    if (typeof topic === 'string') void socket.join(topic);
    if (typeof ack === 'function') ack({ ok: true });
  });
  socket.on('disconnect', () => clients--);
});

installProcessHooks(() => {
  void io.close();
  server.closeAllConnections();
  process.exit(0);
});
server.listen(parsePort(process.argv.slice(2)), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}`, pid: process.pid }) + '\n');
});

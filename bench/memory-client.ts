import WebSocket from 'ws';

// Helper of bench/memory.ts: opens N WebSockets to a URL from loopback source
// addresses 127.0.x.y, subscribes each to score:Luge, and tells its parent once every
// one is confirmed (olympix: its snapshot; the bare ws server: "subscribed"). Then it
// holds them open until it is killed.

const [url, countText, confirmType] = process.argv.slice(2);
const count = Number(countText);
if (!process.send || !url || !Number.isInteger(count) || count < 1 || !confirmType) {
  process.stderr.write('bench/memory-client.ts is started by bench/memory.ts\n');
  process.exit(2);
}

const sockets: WebSocket[] = [];
let next = 0;

function open(): Promise<void> {
  const index = next++;
  return new Promise((resolve, reject) => {
    // 200 sources per address block, far from any port limit.
    const socket = new WebSocket(url!, { perMessageDeflate: false, localAddress: `127.0.${1 + Math.floor(index / 200)}.${1 + (index % 200)}` });
    sockets.push(socket);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', id: 1, topics: ['score:Luge'] })));
    socket.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === confirmType) resolve();
    });
    socket.on('error', reject);
  });
}

const worker = async (): Promise<void> => {
  while (next < count) await open();
};
await Promise.all(Array.from({ length: 50 }, worker));
process.send!({ type: 'connected', count: sockets.length });
setInterval(() => {}, 60_000);

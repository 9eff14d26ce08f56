/**
 * Part-2 traffic through a client sidecar and a server sidecar over mesh mTLS, against the same
 * traffic sent straight to the app: TCP bulk throughput, gRPC unary calls, WebSocket round trips.
 * Everything (apps, clients, both sidecars) shares this process, so "CPU" is the whole process's
 * user+system time per unit of work; the difference to "direct" is what the two sidecars cost.
 *
 *   npm run bench part2        (TCP_MB=256 GRPC_CALLS=5000 GRPC_CONCURRENCY=32 WS_MESSAGES=20000)
 */
import { connect, createServer } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { type PeerPorts, startSidecar } from '../test/proxy/helpers/mesh.js';
import { createTestPki } from '../test/proxy/helpers/pki.js';
import { pod, service, spiffe } from '../test/proxy/helpers/snapshot.js';
import { echoClient, startGrpcEcho } from '../test/proxy-part2/helpers/grpc.js';

const TCP_MB = Number(process.env.TCP_MB ?? 256);
const GRPC_CALLS = Number(process.env.GRPC_CALLS ?? 5000);
const GRPC_CONCURRENCY = Number(process.env.GRPC_CONCURRENCY ?? 32);
const WS_MESSAGES = Number(process.env.WS_MESSAGES ?? 20_000);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function measure<T>(fn: () => Promise<T>): Promise<{ wallMs: number; cpuMs: number; result: T }> {
  const c0 = cpuMs();
  const t0 = performance.now();
  const result = await fn();
  return { wallMs: performance.now() - t0, cpuMs: cpuMs() - c0, result };
}

// ---- apps
const sink = createServer((s) => {
  let n = 0;
  s.on('data', (c: Buffer) => {
    n += c.length;
  });
  s.on('end', () => s.end(String(n)));
  s.on('error', () => undefined);
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.address() as { port: number }).port;
const grpcApp = await startGrpcEcho();
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
await new Promise<void>((r) => wss.once('listening', () => r()));
const wsPort = (wss.address() as { port: number }).port;
wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));

// ---- mesh
const pki = createTestPki();
const peers: PeerPorts = new Map();
const server = pod({ name: 'server-0', app: 'server', ports: [sinkPort, grpcApp.port, wsPort] });
server.ports = [
  { containerPort: sinkPort, name: 'tcp', protocol: 'tcp' },
  { containerPort: grpcApp.port, name: 'grpc', protocol: 'grpc' },
  { containerPort: wsPort, name: 'http', protocol: 'http' },
];
const client = pod({ name: 'client-0', app: 'client', ports: [8080] });
const objects = [
  service(
    'server',
    [
      { port: 5000, targetPort: sinkPort, name: 'tcp-sink' },
      { port: 7000, targetPort: grpcApp.port, name: 'grpc' },
      { port: 8000, targetPort: wsPort, name: 'http' },
    ],
    { selector: { app: 'server' } },
  ),
  service('client', [{ port: 80, targetPort: 8080 }]),
];
const workloads = [server, client];
const serverSidecar = await startSidecar({
  pod: server,
  objects,
  workloads,
  peers,
  cert: pki.leaf({ uris: [spiffe('default', 'server')] }),
});
const clientSidecar = await startSidecar({
  pod: client,
  objects,
  workloads,
  peers,
  cert: pki.leaf({ uris: [spiffe('default', 'client')] }),
  options: { protocols: { tcpListeners: [{ port: 0, destination: 'server:5000' }] } },
});
const tcpListener = clientSidecar.proxy.protocols.tcpListenerPorts()['server:5000'];

// ---- TCP bulk
function pushBytes(port: number, mb: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let left = (mb * 1024 * 1024) / chunk.length;
    let reply = '';
    s.on('data', (d: Buffer) => {
      reply += d.toString();
    });
    s.on('end', () => resolve(Number(reply)));
    s.on('error', reject);
    const write = () => {
      while (left > 0) {
        left--;
        if (!s.write(chunk)) return void s.once('drain', write);
      }
      s.end();
    };
    write();
  });
}

// ---- gRPC unary
async function grpcRun(port: number, authority: string): Promise<number[]> {
  const c = echoClient(port, authority);
  await c.unary({ message: 'warm' });
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < GRPC_CALLS) {
      next++;
      const t = performance.now();
      const r = await c.unary({ message: 'x' });
      if (r.error) throw r.error;
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: GRPC_CONCURRENCY }, worker));
  c.close();
  return latencies.sort((a, b) => a - b);
}

// ---- WebSocket round trips (one in flight)
function wsRun(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host } });
    let n = 0;
    ws.on('open', () => ws.send('m'));
    ws.on('message', () => {
      if (++n === WS_MESSAGES) {
        ws.close();
        resolve();
      } else ws.send('m');
    });
    ws.on('error', reject);
  });
}

const rows: string[][] = [];
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

for (const [label, port] of [
  ['direct', sinkPort],
  ['two sidecars (mTLS)', tcpListener],
] as const) {
  await pushBytes(port, 8);
  const m = await measure(() => pushBytes(port, TCP_MB));
  if (m.result !== TCP_MB * 1024 * 1024) throw new Error(`TCP ${label}: sink got ${m.result} bytes`);
  rows.push([
    `TCP ${TCP_MB} MB`,
    label,
    `${((TCP_MB / m.wallMs) * 1000).toFixed(0)} MB/s`,
    `${(m.cpuMs / TCP_MB).toFixed(2)} ms CPU/MB`,
    '',
  ]);
}
for (const [label, port, authority] of [
  ['direct', grpcApp.port, `127.0.0.1:${grpcApp.port}`],
  ['two sidecars (mTLS)', clientSidecar.ports.outbound, 'server:7000'],
] as const) {
  const m = await measure(() => grpcRun(port, authority));
  const l = m.result;
  rows.push([
    `gRPC unary ×${GRPC_CALLS} (c=${GRPC_CONCURRENCY})`,
    label,
    `${((GRPC_CALLS / m.wallMs) * 1000).toFixed(0)} calls/s`,
    `${((m.cpuMs * 1000) / GRPC_CALLS).toFixed(0)} µs CPU/call`,
    `p50 ${pct(l, 50).toFixed(2)} ms, p99 ${pct(l, 99).toFixed(2)} ms`,
  ]);
}
for (const [label, port, host] of [
  ['direct', wsPort, `127.0.0.1:${wsPort}`],
  ['two sidecars (mTLS)', clientSidecar.ports.outbound, 'server:8000'],
] as const) {
  const m = await measure(() => wsRun(port, host));
  rows.push([
    `WebSocket ×${WS_MESSAGES} round trips`,
    label,
    `${((WS_MESSAGES / m.wallMs) * 1000).toFixed(0)} msg/s`,
    `${((m.cpuMs * 1000) / WS_MESSAGES).toFixed(0)} µs CPU/msg`,
    '',
  ]);
}

console.log('| workload | path | rate | CPU | latency |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\nRSS at the end: ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB (whole process)`);

await Promise.all([clientSidecar.proxy.stop(), serverSidecar.proxy.stop()]);
await grpcApp.close();
wss.close();
sink.close();
pki.cleanup();
process.exit(0);

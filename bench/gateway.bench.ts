/**
 * What the ingress gateway costs next to a sidecar's outbound path: the same request through
 * (a) gateway → server sidecar (mTLS) → app and (b) client sidecar → server sidecar (mTLS) → app,
 * plus (c) ALLOW_ANY passthrough from a sidecar straight to the app (no mesh hop), all in this
 * process on loopback. Keep-alive clients, CONCURRENCY requests in flight. Each path runs twice:
 * the first round also pays for JIT warm-up, so compare the second.
 *
 *   npm run bench gateway            (REQUESTS=5000, CONCURRENCY=16 by default)
 */
import { Pool } from 'undici';
import type { MeshObject } from '../lib/api/types.js';
import { startEcho } from '../test/proxy/helpers/echo.js';
import { type PeerPorts, startSidecar } from '../test/proxy/helpers/mesh.js';
import { createTestPki } from '../test/proxy/helpers/pki.js';
import { istio, pod, service, spiffe } from '../test/proxy/helpers/snapshot.js';

const REQUESTS = Number(process.env.REQUESTS ?? 5000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);

const pki = createTestPki();
const app = await startEcho('app');
const appPod = pod({ name: 'app-0', app: 'app', ports: [app.port] });
const clientPod = pod({ name: 'client-0', app: 'client', ports: [8080] });
const gwPod = pod({
  name: 'gw-0',
  app: 'gw',
  namespace: 'istio-system',
  serviceAccount: 'gw',
  labels: { istio: 'ingressgateway' },
  ports: [],
});
const objects: MeshObject[] = [
  service('app', [{ port: 80, targetPort: app.port }]),
  istio(
    'Gateway',
    'gw',
    {
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    },
    'istio-system',
  ),
  istio('VirtualService', 'app', {
    hosts: ['app.example.com'],
    gateways: ['istio-system/gw'],
    http: [{ route: [{ destination: { host: 'app', port: { number: 80 } } }] }],
  }),
];
const workloads = [appPod, clientPod, gwPod];
const peers: PeerPorts = new Map();
const server = await startSidecar({
  pod: appPod,
  objects,
  workloads,
  peers,
  cert: pki.leaf({ uris: [spiffe('default', 'app')] }),
  options: { accessLog: false },
});
const client = await startSidecar({
  pod: clientPod,
  objects,
  workloads,
  peers,
  cert: pki.leaf({ uris: [spiffe('default', 'client')] }),
});
const gateway = await startSidecar({
  pod: gwPod,
  objects,
  workloads,
  peers,
  cert: pki.leaf({ uris: [spiffe('istio-system', 'gw')] }),
  options: { gateway: { portMap: { 8080: 0 } } },
});
while (gateway.proxy.gatewayPorts().length === 0) await new Promise((r) => setTimeout(r, 10));
const gatewayPort = gateway.proxy.gatewayPorts()[0].localPort;

async function run(name: string, port: number, host: string): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
  const latencies: number[] = [];
  let next = 0;
  const one = async () => {
    const t = performance.now();
    const res = await pool.request({ method: 'GET', path: '/bench', headers: { host } });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${name}: status ${res.statusCode}`);
    latencies.push(performance.now() - t);
  };
  for (let i = 0; i < 200; i++) await one();
  latencies.length = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await one();
    }),
  );
  const secs = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))].toFixed(2);
  console.log(
    `${name.padEnd(40)} ${(REQUESTS / secs).toFixed(0).padStart(6)} req/s   p50 ${pct(0.5)} ms   p99 ${pct(0.99)} ms   CPU ${((used.user + used.system) / 1000 / REQUESTS).toFixed(3)} ms/req`,
  );
  await pool.close();
}

console.log(`${REQUESTS} requests, ${CONCURRENCY} in flight, one process (every hop shares the CPU)`);
await run('sidecar -> sidecar (mTLS) -> app', client.ports.outbound, 'app:80');
await run('gateway -> sidecar (mTLS) -> app', gatewayPort, 'app.example.com');
await run('sidecar -> sidecar (mTLS) -> app, again', client.ports.outbound, 'app:80');
await run('gateway -> sidecar (mTLS) -> app, again', gatewayPort, 'app.example.com');
await run('sidecar passthrough -> app', client.ports.outbound, `127.0.0.1:${app.port}`);

await Promise.all([gateway.proxy.stop(), client.proxy.stop(), server.proxy.stop()]);
await app.close();
pki.cleanup();

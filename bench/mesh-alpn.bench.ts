/**
 * Which protocol should client sidecars speak to server sidecars for HTTP traffic: HTTP/1.1 or
 * HTTP/2 over mesh mTLS (ALPN `tsmesh-http/1.1` vs `tsmesh-h2`)? Both hops of the sidecar
 * transport, exactly as the proxy builds them (our connector, TLS options and session cache;
 * undici's Pool for HTTP/1.1, one multiplexed session for HTTP/2), against a TLS server that
 * answers 100 bytes. Client and server share this process, so CPU per request is both ends of
 * one sidecar-to-sidecar hop.
 *
 *   npm run bench mesh-alpn          (REQUESTS=20000 by default)
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Pool } from 'undici';
import { MESH_ALPN } from '../lib/constants.js';
import { meshSecureContext, meshTlsOptions } from '../runtime/proxy/tls/certs.js';
import { AbortHandle, H2Client, Http1Client, type UpstreamClient } from '../runtime/proxy/upstream/client.js';
import { createConnector } from '../runtime/proxy/upstream/connector.js';
import { createTestPki } from '../test/proxy/helpers/pki.js';

const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const BODY = Buffer.alloc(100, 'x');

const pki = createTestPki();
const serverCert = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/server'] });
const clientCert = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/client'] });

const h1 = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-length': BODY.length });
  res.end(BODY);
});
const h2 = createH2Server({ settings: { initialWindowSize: 1 << 20 } }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-length': BODY.length });
  res.end(BODY);
});
const tls = createTlsServer({
  ...meshTlsOptions(serverCert),
  requestCert: true,
  rejectUnauthorized: true,
  ALPNProtocols: [MESH_ALPN.http11, MESH_ALPN.h2],
});
tls.on('secureConnection', (s: TLSSocket) => {
  if (s.alpnProtocol === MESH_ALPN.h2) h2.emit('connection', s);
  else h1.emit('connection', s);
});
const net = createNetServer((s) => tls.emit('connection', s));
await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
const port = (net.address() as { port: number }).port;

function client(alpn: string): UpstreamClient {
  const ctx = meshSecureContext(clientCert);
  const connector = createConnector({
    address: '127.0.0.1',
    port,
    connectTimeoutMs: 5000,
    tls: {
      secureContext: () => ctx,
      alpn,
      sni: `outbound_.9080_._.server.default.svc.cluster.local`,
      acceptedIdentities: () => new Set([serverCert.spiffeId]),
    },
  });
  if (alpn === MESH_ALPN.h2) return new H2Client(connector, `http://127.0.0.1:${port}`);
  return new Http1Client(
    new Pool(`http://127.0.0.1:${port}`, { connections: null, pipelining: 1, connect: connector as never }),
  );
}

async function run(alpn: string, concurrency: number) {
  const c = client(alpn);
  const headers = ['host', 'server:9080', 'x-request-id', 'bench'];
  const one = async () => {
    const res = await c.request({ method: 'GET', path: '/', headers, signal: new AbortHandle() });
    for await (const _ of res.body) {
      // drain
    }
  };
  // Warm up connections and the JIT.
  for (let i = 0; i < 500; i += concurrency) await Promise.all(Array.from({ length: concurrency }, one));
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < REQUESTS) {
        const s = performance.now();
        await one();
        latencies.push(performance.now() - s);
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await c.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return {
    alpn,
    concurrency,
    rps: Math.round((REQUESTS / wall) * 1000),
    cpuUsPerRequest: Math.round((cpu.user + cpu.system) / REQUESTS),
    p50: q(0.5).toFixed(3),
    p99: q(0.99).toFixed(3),
  };
}

const rows = [];
for (const concurrency of [1, 32]) {
  for (const alpn of [MESH_ALPN.http11, MESH_ALPN.h2, MESH_ALPN.http11, MESH_ALPN.h2])
    rows.push(await run(alpn, concurrency));
}
console.log('| ALPN | concurrency | req/s | CPU µs/request (both ends) | p50 ms | p99 ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows)
  console.log(`| ${r.alpn} | ${r.concurrency} | ${r.rps} | ${r.cpuUsPerRequest} | ${r.p50} | ${r.p99} |`);
net.close();
pki.cleanup();
process.exit(0);

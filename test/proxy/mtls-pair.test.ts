import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send, waitFor } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, service, spiffe } from './helpers/snapshot.js';

describe('a request through a client sidecar and a server sidecar over mTLS', () => {
  let pki: TestPki;
  let app: EchoServer;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('reviews-v1');
    const reviews = pod({ name: 'reviews-v1-0', app: 'reviews', version: 'v1', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('reviews', [{ port: 9080, targetPort: app.port }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
    ];
    const workloads = [reviews, sleep];
    ({ server, client } = await startPair({
      pki,
      peers,
      objects,
      workloads,
      server: reviews,
      client: sleep,
    }));
  });

  afterAll(async () => {
    await client?.proxy.stop();
    await server?.proxy.stop();
    await app?.close();
    pki?.cleanup();
  });

  it('reaches the app with the verified client identity in x-forwarded-client-cert', async () => {
    const res = await send(client.ports.outbound, '/reviews/1?x=1', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.url).toBe('/reviews/1?x=1');
    expect(got.headers.host).toBe('reviews:9080');
    expect(got.headers['x-forwarded-client-cert']).toMatch(
      new RegExp(`^By=${spiffe('default', 'reviews')};Hash=[0-9a-f]{64};URI=${spiffe('default', 'sleep')}$`),
    );
    expect(got.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(got.headers['x-tsmesh-peer-metadata']).toBeUndefined();
    expect(got.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });

  it('carries request bodies: a large streamed one and a small chunked one', async () => {
    const big = 'b'.repeat(300_000);
    const res = await send(client.ports.outbound, '/upload', {
      host: 'reviews:9080',
      method: 'POST',
      body: big,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).body.length).toBe(big.length);
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: client.ports.outbound,
          path: '/chunked',
          method: 'POST',
          headers: { host: 'reviews:9080' },
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      req.on('error', reject);
      req.write('part1-');
      setTimeout(() => req.end('part2'), 20);
    });
    expect(JSON.parse(chunked).body).toBe('part1-part2');
  });

  it('streams a large response to a client that reads slowly, intact (backpressure through both sidecars)', async () => {
    const big = 'r'.repeat(4 << 20);
    const got = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: client.ports.outbound,
          path: '/large',
          method: 'POST',
          headers: { host: 'reviews:9080' },
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.pause();
          // Let the sidecars' buffers fill up before reading.
          setTimeout(() => r.resume(), 300);
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve(Buffer.concat(chunks).toString()));
          r.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(big);
    });
    expect(JSON.parse(got).body).toBe(big);
  });

  it('flags DC and cancels the upstream request when the client goes away', async () => {
    const req = request({
      host: '127.0.0.1',
      port: client.ports.outbound,
      path: '/slow/5000',
      headers: { host: 'reviews:9080' },
    });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => app.inFlight() > 0);
    req.destroy();
    await waitFor(() => app.aborted.includes('/slow/5000'));
  });

  it('reuses pooled mTLS connections: no handshake per request', async () => {
    const counters = () =>
      (server.proxy as unknown as { counters: { inboundMtlsConnections: number } }).counters;
    const before = counters().inboundMtlsConnections;
    for (let i = 0; i < 20; i++) {
      expect((await send(client.ports.outbound, `/seq${i}`, { host: 'reviews:9080' })).status).toBe(200);
    }
    expect(counters().inboundMtlsConnections - before).toBeLessThanOrEqual(1);
  });

  it('is ready with a certificate and a snapshot', () => {
    expect(client.proxy.isReady()).toBe(true);
    expect(server.proxy.isReady()).toBe(true);
  });
});

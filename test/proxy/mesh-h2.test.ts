import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, service, spiffe } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/** The client sidecar offering `tsmesh-h2` for an HTTP/1.1 app: one multiplexed session per peer. */
describe('HTTP/2 between sidecars (meshAlpn tsmesh-h2)', () => {
  let pki: TestPki;
  let app: EchoServer;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();
  const { telemetry, records } = capturingTelemetry();

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
      clientOptions: { meshAlpn: 'tsmesh-h2', telemetry },
    }));
  });

  afterAll(async () => {
    await client?.proxy.stop();
    await server?.proxy.stop();
    await app?.close();
    pki?.cleanup();
  });

  it('reaches the HTTP/1.1 app with the verified identity, bodies included', async () => {
    const res = await send(client.ports.outbound, '/h2?x=1', {
      host: 'reviews:9080',
      method: 'POST',
      body: 'z'.repeat(100_000),
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.url).toBe('/h2?x=1');
    expect(got.body.length).toBe(100_000);
    expect(got.headers['x-forwarded-client-cert']).toContain(`URI=${spiffe('default', 'sleep')}`);
    expect(records.find((r) => r.path === '/h2?x=1')?.mtls).toBe(true);
  });

  it('multiplexes concurrent requests over one mTLS connection', async () => {
    const counters = () =>
      (server.proxy as unknown as { counters: { inboundMtlsConnections: number } }).counters;
    const before = counters().inboundMtlsConnections;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => send(client.ports.outbound, `/c${i}`, { host: 'reviews:9080' })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(counters().inboundMtlsConnections - before).toBeLessThanOrEqual(1);
  });

  it('keeps the upstream status', async () => {
    const res = await send(client.ports.outbound, '/status/418', { host: 'reviews:9080' });
    expect(res.status).toBe(418);
  });
});

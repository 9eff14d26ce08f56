import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, proxyOf, service, snapshot, spiffe } from './helpers/snapshot.js';

async function healthStatus(port: number): Promise<number> {
  return (await send(port, '/healthz/ready', { host: 'localhost' })).status;
}

describe('readiness', () => {
  let pki: TestPki;
  let sidecar: Sidecar | undefined;
  beforeAll(() => {
    pki = createTestPki();
  });
  afterAll(async () => {
    await sidecar?.proxy.stop();
    pki.cleanup();
  });

  it('is ready only with a valid certificate and a first applied snapshot', async () => {
    const me = pod({ name: 'a-0', app: 'a', ports: [8080] });
    const objects = [service('a', [{ port: 80, targetPort: 8080 }])];
    sidecar = await startSidecar({
      pod: me,
      objects,
      workloads: [me],
      peers: new Map(),
      withSnapshot: false,
    });
    const health = sidecar.ports.health;
    expect(await healthStatus(health)).toBe(503);
    expect((await send(sidecar.ports.stats, '/healthz/ready', { host: 'localhost' })).status).toBe(503);

    // An expired certificate is held but does not make the proxy ready.
    await sidecar.certs.push(pki.leaf({ uris: [spiffe('default', 'a')], days: -1 }));
    await sidecar.snapshots.push(snapshot(proxyOf(me), objects, [me], 1));
    expect(await healthStatus(health)).toBe(503);

    await sidecar.certs.push(pki.leaf({ uris: [spiffe('default', 'a')] }));
    expect(await healthStatus(health)).toBe(200);
    expect(sidecar.proxy.snapshotVersion).toBe(1);
  });

  it('refuses a bad snapshot and keeps serving the last good one', async () => {
    const s = sidecar!;
    const bad = {
      ...snapshot(proxyOf(pod({ name: 'a-0', app: 'a', ports: [8080] })), [], [], 2),
      schema: 'other/v9',
    };
    await expect(s.snapshots.push(bad as never)).rejects.toThrow(
      /keeping version 1: snapshot: schema 'other\/v9' is not supported/,
    );
    expect(s.proxy.snapshotVersion).toBe(1);
    expect(SNAPSHOT_SCHEMA).toBe('tsmesh.snapshot/v1');
    expect(await healthStatus(s.ports.health)).toBe(200);
  });

  it('refuses a certificate without a single SPIFFE URI SAN and keeps the current one', async () => {
    const s = sidecar!;
    const two = pki.leaf({ uris: [spiffe('default', 'a'), spiffe('default', 'b')] });
    await expect(s.certs.push({ ...two, spiffeId: spiffe('default', 'a') })).rejects.toThrow(/URI SANs/);
    expect(await healthStatus(s.ports.health)).toBe(200);
  });
});

describe('drain', () => {
  let pki: TestPki;
  let reviewsApp: EchoServer;
  let ratingsApp: EchoServer;
  let server: Sidecar;
  let client: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    reviewsApp = await startEcho('reviews');
    ratingsApp = await startEcho('ratings');
    const reviews = pod({ name: 'reviews-0', app: 'reviews', ports: [reviewsApp.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const ratings = pod({ name: 'ratings-0', app: 'ratings', ports: [ratingsApp.port], meshed: false });
    const workloads = [reviews, sleep, ratings];
    const objects = [
      service('reviews', [{ port: 9080, targetPort: reviewsApp.port }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      service('ratings', [{ port: 9080, targetPort: ratingsApp.port }]),
    ];
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
    await reviewsApp?.close();
    await ratingsApp?.close();
    pki?.cleanup();
  });

  it('finishes 100 slow in-flight requests with 200 while the app’s outbound calls keep working', async () => {
    const inflight = Array.from({ length: 100 }, (_, i) =>
      send(client.ports.outbound, `/hold?i=${i}`, { host: 'reviews:9080', timeoutMs: 30_000 }),
    );
    await waitFor(() => reviewsApp.inFlight() === 100, 25_000);
    const shutdown = server.proxy.shutdown(20);
    expect(server.proxy.isReady()).toBe(false);
    expect(await healthStatus(server.ports.health)).toBe(503);
    // The draining sidecar still carries its app's outbound calls.
    const outbound = await send(server.ports.outbound, '/from-reviews', { host: 'ratings:9080' });
    expect(outbound.status).toBe(200);
    reviewsApp.release();
    const results = await Promise.all(inflight);
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(statuses.length).toBe(100);
    const late = await send(server.ports.outbound, '/still', { host: 'ratings:9080' });
    expect(late.status).toBe(200);
    expect(server.proxy.status).toBe('draining');
    // The app exits: the runner (or POST /quitquitquit) stops the proxy before the drain time.
    await server.proxy.stop();
    await shutdown;
    expect(server.proxy.status).toBe('stopped');
    await expect(send(server.ports.outbound, '/gone', { host: 'ratings:9080' })).rejects.toThrow();
  }, 60_000);

  it('stops by itself when the drain time is over', async () => {
    const s = await startSidecar({
      pod: pod({ name: 'x-0', app: 'x', ports: [8080] }),
      objects: [service('x', [{ port: 80, targetPort: 8080 }])],
      workloads: [pod({ name: 'x-0', app: 'x', ports: [8080] })],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'x')] }),
    });
    const started = Date.now();
    await s.proxy.shutdown(0.3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(s.proxy.status).toBe('stopped');
  });
});

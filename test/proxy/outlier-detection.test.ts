import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type Sidecar, send, startSidecar } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';

describe('outlier detection', () => {
  let good1: EchoServer;
  let good2: EchoServer;
  let bad: EchoServer;
  let sidecar: Sidecar;

  beforeAll(async () => {
    good1 = await startEcho('good1');
    good2 = await startEcho('good2');
    bad = await startEcho('bad', '127.0.0.1', { fixedStatus: 500 });
    const me = pod({ name: 'client-0', app: 'client', ports: [8080] });
    const backends = (app: string) =>
      [good1, good2, bad].map((e) => {
        const w = pod({ name: `${app}-${e.name}`, app, ports: [e.port], meshed: false });
        w.ports[0].name = 'http-app';
        return w;
      });
    const workloads = [me, ...backends('flaky'), ...backends('flaky10')];
    const outlier = { consecutive5xxErrors: 3, interval: '1s', baseEjectionTime: '2s' };
    const objects = [
      service('client', [{ port: 80, targetPort: 8080 }]),
      service('flaky', [{ port: 9080, targetPort: 'http-app' }]),
      service('flaky10', [{ port: 9080, targetPort: 'http-app' }]),
      istio('DestinationRule', 'flaky', {
        host: 'flaky',
        trafficPolicy: {
          loadBalancer: { simple: 'ROUND_ROBIN' },
          outlierDetection: { ...outlier, maxEjectionPercent: 100 },
        },
      }),
      istio('DestinationRule', 'flaky10', {
        host: 'flaky10',
        trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: outlier },
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map() });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    for (const e of [good1, good2, bad]) await e?.close();
  });

  /** Sends requests one after another for up to `ms`, noting when each server answered. */
  async function drive(host: string, ms: number, stop: (hits: { at: number; server: string }[]) => boolean) {
    const hits: { at: number; server: string }[] = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const res = await send(sidecar.ports.outbound, '/', { host });
      hits.push({ at: Date.now(), server: String(res.headers['x-echo-server']) });
      if (stop(hits)) break;
      await new Promise((r) => setTimeout(r, 15));
    }
    return hits;
  }

  it('ejects the failing endpoint for at least the base time and returns it within a sweep after', async () => {
    const hits = await drive('flaky:9080', 8000, (h) => {
      const badHits = h.filter((x) => x.server === 'bad');
      return badHits.length >= 4;
    });
    const badHits = hits.filter((x) => x.server === 'bad');
    expect(badHits.length).toBeGreaterThanOrEqual(4);
    const ejectedAt = badHits[2].at;
    const back = badHits[3].at;
    // Between ejection and return the other endpoints carried the traffic.
    const during = hits.filter((x) => x.at > ejectedAt && x.at < back);
    expect(during.length).toBeGreaterThan(10);
    expect(during.every((x) => x.server !== 'bad')).toBe(true);
    expect(back - ejectedAt).toBeGreaterThanOrEqual(1950);
    expect(back - ejectedAt).toBeLessThan(3500);
  }, 15_000);

  it('reports the ejection on the admin /clusters endpoint', async () => {
    // Three more failures eject the endpoint again (for twice the base time now).
    await drive('flaky:9080', 3000, (h) => h.filter((x) => x.server === 'bad').length >= 3);
    const res = await send(sidecar.ports.admin, '/clusters', { host: 'localhost' });
    const body = JSON.parse(res.body);
    const cluster = body.clusters.find(
      (c: { key: string }) => c.key === 'outbound|9080||flaky.default.svc.cluster.local',
    );
    const badEp = cluster.endpoints.find((e: { port: number }) => e.port === bad.port);
    expect(badEp.health).toBe('ejected');
    expect(badEp.outlier.ejections).toBe(2);
    expect(cluster.stats.ejections).toBe(2);
  });

  it('never ejects with the default maxEjectionPercent of 10 % and three endpoints', async () => {
    const hits = await drive('flaky10:9080', 1500, () => false);
    const badHits = hits.filter((x) => x.server === 'bad');
    expect(badHits.length).toBeGreaterThan(5);
    const res = await send(sidecar.ports.admin, '/clusters', { host: 'localhost' });
    const cluster = JSON.parse(res.body).clusters.find(
      (c: { key: string }) => c.key === 'outbound|9080||flaky10.default.svc.cluster.local',
    );
    expect(cluster.stats.ejections).toBe(0);
  });
});

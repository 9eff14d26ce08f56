import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';
import { capturingTelemetry, refusedPort } from './helpers/telemetry.js';

/** One client sidecar in front of unmeshed upstreams (plaintext to address:targetPort). */
describe('upstream failures, retries, timeouts and pool limits', () => {
  let good: EchoServer;
  let slow: EchoServer;
  let sidecar: Sidecar;
  const { telemetry, records } = capturingTelemetry();
  let deadPort: number;

  const lastRecord = (path: string) => [...records].reverse().find((r) => r.path === path);
  const clusterStats = (key: string) => {
    const cfg = (
      sidecar.proxy as unknown as {
        active: { clusters: Map<string, { stats: { retries: number; requests: number } }> };
      }
    ).active;
    return cfg.clusters.get(key)!.stats;
  };

  beforeAll(async () => {
    good = await startEcho('good');
    slow = await startEcho('slow');
    deadPort = await refusedPort();
    const me = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const workloads = [
      me,
      pod({ name: 'dead-0', app: 'dead', ports: [deadPort], meshed: false }),
      pod({ name: 'mixed-dead', app: 'mixed', ports: [deadPort], meshed: false }),
      pod({ name: 'mixed-good', app: 'mixed', ports: [good.port], meshed: false }),
      pod({ name: 'good-0', app: 'good', ports: [good.port], meshed: false }),
      pod({ name: 'slow-0', app: 'slow', ports: [slow.port], meshed: false }),
      pod({ name: 'pool-0', app: 'pool', ports: [slow.port], meshed: false }),
      pod({ name: 'pertry-0', app: 'pertry', ports: [slow.port], meshed: false }),
    ];
    const objects = [
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      service('dead', [{ port: 9080, targetPort: deadPort }]),
      service('mixed', [{ port: 9080, targetPort: 'http-port' }]),
      service('good', [{ port: 9080, targetPort: good.port }]),
      service('slow', [{ port: 9080, targetPort: slow.port }]),
      service('pool', [{ port: 9080, targetPort: slow.port }]),
      service('pertry', [{ port: 9080, targetPort: slow.port }]),
      service('empty', [{ port: 9080, targetPort: 9080 }]),
      istio('VirtualService', 'slow', {
        hosts: ['slow'],
        http: [{ route: [{ destination: { host: 'slow' } }], timeout: '300ms' }],
      }),
      istio('VirtualService', 'pertry', {
        hosts: ['pertry'],
        http: [
          {
            route: [{ destination: { host: 'pertry' } }],
            retries: { attempts: 2, perTryTimeout: '100ms', retryOn: '5xx' },
          },
        ],
      }),
      istio('VirtualService', 'good', {
        hosts: ['good'],
        http: [
          {
            match: [{ uri: { prefix: '/retry5xx' } }],
            route: [{ destination: { host: 'good' } }],
            retries: { attempts: 3, retryOn: '5xx' },
          },
          { route: [{ destination: { host: 'good' } }] },
        ],
      }),
      istio('DestinationRule', 'pool', {
        host: 'pool',
        trafficPolicy: {
          connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
        },
      }),
    ];
    // The mixed service's pods listen on different ports: name the container port.
    for (const w of workloads) if (w.labels.app === 'mixed') w.ports[0].name = 'http-port';
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map(), options: { telemetry } });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await good?.close();
    await slow?.close();
  });

  it('answers 503 UF,URX after two retries when the only endpoint refuses connections', async () => {
    const res = await send(sidecar.ports.outbound, '/x', { host: 'dead:9080' });
    expect(res.status).toBe(503);
    expect(res.body).toContain('reset reason: connection failure');
    await waitFor(() => lastRecord('/x') !== undefined);
    expect(lastRecord('/x')!.responseFlags).toBe('UF,URX');
    const stats = clusterStats('outbound|9080||dead.default.svc.cluster.local');
    expect(stats.requests).toBe(3);
    expect(stats.retries).toBe(2);
    expect(telemetry.counters.retries.value('outbound|9080||dead.default.svc.cluster.local')).toBe(2);
  });

  it('retries once on another endpoint when one of two refuses, and answers 200', async () => {
    const key = 'outbound|9080||mixed.default.svc.cluster.local';
    let sawRetry = false;
    for (let i = 0; i < 20; i++) {
      const before = telemetry.counters.retries.value(key);
      const res = await send(sidecar.ports.outbound, `/m${i}`, { host: 'mixed:9080' });
      expect(res.status).toBe(200);
      const delta = telemetry.counters.retries.value(key) - before;
      expect([0, 1]).toContain(delta);
      if (delta === 1) sawRetry = true;
      expect(lastRecord(`/m${i}`)!.upstreamHost).toBe(`127.0.0.1:${good.port}`);
    }
    expect(sawRetry).toBe(true);
  });

  it('does not retry a plain 503 by default, and retries it with retryOn 5xx', async () => {
    const before = good.received.length;
    const res = await send(sidecar.ports.outbound, '/status/503', { host: 'good:9080' });
    expect(res.status).toBe(503);
    expect(good.received.length - before).toBe(1);
    const before2 = good.received.length;
    const res2 = await send(sidecar.ports.outbound, '/retry5xx/status/503', { host: 'good:9080' });
    expect(res2.status).toBe(503);
    expect(good.received.length - before2).toBe(4);
    await waitFor(() => lastRecord('/retry5xx/status/503') !== undefined);
    expect(lastRecord('/retry5xx/status/503')!.responseFlags).toBe('URX');
  });

  it('cuts the response short when the upstream resets mid-body, flags UC, and keeps serving', async () => {
    const res = await send(sidecar.ports.outbound, '/reset-mid-body', { host: 'good:9080' });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThan(100000);
    await waitFor(() => lastRecord('/reset-mid-body') !== undefined);
    expect(lastRecord('/reset-mid-body')!.responseFlags).toContain('UC');
    const after = await send(sidecar.ports.outbound, '/after', { host: 'good:9080' });
    expect(after.status).toBe(200);
  });

  it('answers 503 UC when the upstream closes before the response headers', async () => {
    const res = await send(sidecar.ports.outbound, '/reset-before-headers', { host: 'good:9080' });
    expect(res.status).toBe(503);
    expect(res.body).toContain('connection termination');
    await waitFor(() => lastRecord('/reset-before-headers') !== undefined);
    expect(lastRecord('/reset-before-headers')!.responseFlags).toBe('UC');
  });

  it('answers 504 UT at the route timeout and cancels the upstream request', async () => {
    const started = Date.now();
    const res = await send(sidecar.ports.outbound, '/slow/3000', { host: 'slow:9080' });
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    expect(res.body).toBe('upstream request timeout');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2500);
    await waitFor(() => slow.aborted.includes('/slow/3000'));
    await waitFor(() => lastRecord('/slow/3000') !== undefined);
    expect(lastRecord('/slow/3000')!.responseFlags).toBe('UT');
  });

  it('bounds each try with perTryTimeout and retries, then answers 504 UT', async () => {
    const before = slow.received.filter((r) => r.url === '/slow/1000').length;
    const res = await send(sidecar.ports.outbound, '/slow/1000', { host: 'pertry:9080' });
    expect(res.status).toBe(504);
    await waitFor(() => slow.received.filter((r) => r.url === '/slow/1000').length - before === 3);
    await waitFor(() => lastRecord('/slow/1000') !== undefined);
    expect(lastRecord('/slow/1000')!.responseFlags).toBe('UT,URX');
  });

  it('answers 503 UH when the service has no endpoint', async () => {
    const res = await send(sidecar.ports.outbound, '/nobody', { host: 'empty:9080' });
    expect(res.status).toBe(503);
    expect(res.body).toBe('no healthy upstream');
    await waitFor(() => lastRecord('/nobody') !== undefined);
    expect(lastRecord('/nobody')!.responseFlags).toBe('UH');
  });

  it('flags DC when the client goes away first', async () => {
    const req = request({
      host: '127.0.0.1',
      port: sidecar.ports.outbound,
      path: '/slow/4000?dc',
      headers: { host: 'good:9080' },
    });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => good.inFlight() > 0);
    req.destroy();
    await waitFor(() => lastRecord('/slow/4000?dc') !== undefined);
    expect(lastRecord('/slow/4000?dc')!.responseFlags).toBe('DC');
    await waitFor(() => good.aborted.includes('/slow/4000?dc'));
  });

  it('lets the local app override the route timeout with x-envoy-upstream-rq-timeout-ms', async () => {
    const res = await send(sidecar.ports.outbound, '/slow/600', {
      host: 'slow:9080',
      headers: { 'x-envoy-upstream-rq-timeout-ms': '2000' },
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.headers['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
  });

  it('refuses some requests with 503 UO over maxConnections 1 and one pending, and serves single calls', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        send(sidecar.ports.outbound, `/slow/200?i=${i}`, { host: 'pool:9080' }),
      ),
    );
    const overflowed = results.filter((r) => r.status === 503);
    const ok = results.filter((r) => r.status === 200);
    expect(overflowed.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThanOrEqual(2);
    for (const r of overflowed) {
      expect(r.headers['x-envoy-overloaded']).toBe('true');
      expect(r.body).toContain('overflow');
    }
    const flags = records
      .filter((r) => r.path.startsWith('/slow/200?i=') && r.status === 503)
      .map((r) => r.responseFlags);
    expect(flags.every((f) => f === 'UO')).toBe(true);
    const single = await send(sidecar.ports.outbound, '/slow/10', { host: 'pool:9080' });
    expect(single.status).toBe(200);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/**
 * `connectionPool.http.maxRetries` bounds the retries outstanding across a cluster: with 1, of
 * two failing requests at the same time only one is retried; the other ends with the upstream's
 * own answer (no URX) and the overflow is counted.
 */
describe('connectionPool.http.maxRetries', () => {
  let upstream: EchoServer;
  let sidecar: Sidecar;
  const { telemetry, records } = capturingTelemetry();
  const LIMITED = 'outbound|9080||limited.default.svc.cluster.local';
  const FREE = 'outbound|9080||free.default.svc.cluster.local';

  beforeAll(async () => {
    upstream = await startEcho('upstream');
    const me = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const workloads = [
      me,
      pod({ name: 'limited-0', app: 'limited', ports: [upstream.port], meshed: false }),
      pod({ name: 'free-0', app: 'free', ports: [upstream.port], meshed: false }),
    ];
    const retries = { attempts: 2, retryOn: '5xx' };
    const objects = [
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      service('limited', [{ port: 9080, targetPort: upstream.port }]),
      service('free', [{ port: 9080, targetPort: upstream.port }]),
      istio('VirtualService', 'limited', {
        hosts: ['limited'],
        http: [{ route: [{ destination: { host: 'limited' } }], retries }],
      }),
      istio('VirtualService', 'free', {
        hosts: ['free'],
        http: [{ route: [{ destination: { host: 'free' } }], retries }],
      }),
      istio('DestinationRule', 'limited', {
        host: 'limited',
        trafficPolicy: { connectionPool: { http: { maxRetries: 1 } } },
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map(), options: { telemetry } });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await upstream?.close();
  });

  const record = (path: string) => records.find((r) => r.path === path);

  it('retries only one of two concurrent failing requests when maxRetries is 1', async () => {
    const before = upstream.received.length;
    // /slow/300 holds each attempt 300 ms, so the first request's retry is still outstanding
    // when the second one fails.
    const [a, b] = await Promise.all([
      send(sidecar.ports.outbound, '/slow/300/status/503?a', { host: 'limited:9080' }),
      send(sidecar.ports.outbound, '/slow/300/status/503?b', { host: 'limited:9080' }),
    ]);
    expect([a.status, b.status]).toEqual([503, 503]);
    await waitFor(
      () => record('/slow/300/status/503?a') !== undefined && record('/slow/300/status/503?b') !== undefined,
    );
    const flags = [record('/slow/300/status/503?a')!, record('/slow/300/status/503?b')!].map(
      (r) => r.responseFlags,
    );
    // One request used its two retries (URX); the other was not retried at all.
    expect(flags.sort()).toEqual(['', 'URX']);
    expect(upstream.received.length - before).toBe(1 + 3);
    expect(telemetry.counters.retryOverflows.value(LIMITED)).toBe(1);
    expect(telemetry.counters.retries.value(LIMITED)).toBe(2);
  });

  it('retries both without the limit', async () => {
    const before = upstream.received.length;
    const res = await Promise.all([
      send(sidecar.ports.outbound, '/slow/300/status/503?c', { host: 'free:9080' }),
      send(sidecar.ports.outbound, '/slow/300/status/503?d', { host: 'free:9080' }),
    ]);
    expect(res.map((r) => r.status)).toEqual([503, 503]);
    expect(upstream.received.length - before).toBe(6);
    expect(telemetry.counters.retryOverflows.value(FREE)).toBe(0);
  });

  it('gives the retry back when a request ends, so a later request is retried again', async () => {
    const before = upstream.received.length;
    const res = await send(sidecar.ports.outbound, '/status/503?e', { host: 'limited:9080' });
    expect(res.status).toBe(503);
    expect(upstream.received.length - before).toBe(3);
    await waitFor(() => record('/status/503?e') !== undefined);
    expect(record('/status/503?e')!.responseFlags).toBe('URX');
  });
});

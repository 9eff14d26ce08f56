import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type Sidecar, send, startSidecar } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

describe('routing decisions from lib/routing, carried out by the proxy', () => {
  let v1: EchoServer;
  let v2: EchoServer;
  let sidecar: Sidecar;
  const { telemetry, records } = capturingTelemetry();
  const flagsOf = (path: string) => [...records].reverse().find((r) => r.path === path)?.responseFlags;

  beforeAll(async () => {
    v1 = await startEcho('v1');
    v2 = await startEcho('v2');
    const me = pod({ name: 'client-0', app: 'client', ports: [8080] });
    const reviewsPod = (e: EchoServer, version: string) => {
      const w = pod({ name: `reviews-${version}`, app: 'reviews', version, ports: [e.port], meshed: false });
      w.ports[0].name = 'http-app';
      return w;
    };
    const workloads = [me, reviewsPod(v1, 'v1'), reviewsPod(v2, 'v2')];
    const objects = [
      service('client', [{ port: 80, targetPort: 8080 }]),
      service('reviews', [{ port: 9080, targetPort: 'http-app' }]),
      istio('DestinationRule', 'reviews', {
        host: 'reviews',
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
      istio('VirtualService', 'reviews', {
        hosts: ['reviews'],
        http: [
          {
            name: 'jason',
            match: [{ headers: { 'end-user': { exact: 'jason' } } }],
            route: [{ destination: { host: 'reviews', subset: 'v2' } }],
            headers: {
              request: { set: { 'x-route': 'v2' }, remove: ['x-drop'] },
              response: { add: { 'x-resp': 'yes' } },
            },
          },
          {
            match: [{ uri: { prefix: '/old' } }],
            rewrite: { uri: '/new' },
            route: [{ destination: { host: 'reviews', subset: 'v1' } }],
          },
          { match: [{ uri: { prefix: '/redirect' } }], redirect: { uri: '/moved', authority: 'other' } },
          {
            match: [{ uri: { exact: '/direct' } }],
            directResponse: { status: 418, body: { string: 'teapot' } },
          },
          {
            match: [{ uri: { prefix: '/abort' } }],
            fault: { abort: { httpStatus: 503, percentage: { value: 100 } } },
            route: [{ destination: { host: 'reviews', subset: 'v1' } }],
          },
          {
            match: [{ uri: { prefix: '/delay' } }],
            fault: { delay: { fixedDelay: '300ms', percentage: { value: 100 } } },
            timeout: '200ms',
            route: [{ destination: { host: 'reviews', subset: 'v1' } }],
          },
          {
            route: [
              { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
              { destination: { host: 'reviews', subset: 'v2' }, weight: 25 },
            ],
          },
        ],
      }),
      service('partial', [{ port: 9080, targetPort: 'http-app' }], { selector: { app: 'reviews' } }),
      istio('VirtualService', 'partial', {
        hosts: ['partial'],
        http: [{ match: [{ uri: { prefix: '/a' } }], route: [{ destination: { host: 'partial' } }] }],
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map(), options: { telemetry } });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await v1?.close();
    await v2?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, host = 'reviews:9080') =>
    send(sidecar.ports.outbound, path, { host, headers });

  it('routes jason to v2 with the route’s header edits', async () => {
    const res = await get('/p', { 'end-user': 'jason', 'x-drop': 'me' });
    expect(res.status).toBe(200);
    expect(res.headers['x-echo-server']).toBe('v2');
    expect(res.headers['x-resp']).toBe('yes');
    const got = JSON.parse(res.body).headers;
    expect(got['x-route']).toBe('v2');
    expect(got['x-drop']).toBeUndefined();
    // Header values match case-sensitively.
    const other = await get('/p', { 'end-user': 'Jason' });
    expect(other.headers['x-resp']).toBeUndefined();
  });

  it('rewrites the matched prefix', async () => {
    const res = await get('/old/page?q=1');
    expect(res.headers['x-echo-server']).toBe('v1');
    expect(JSON.parse(res.body).url).toBe('/new/page?q=1');
  });

  it('answers redirects and direct responses itself', async () => {
    const r = await get('/redirect/x');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://other/moved');
    const d = await get('/direct');
    expect(d.status).toBe(418);
    expect(d.body).toBe('teapot');
  });

  it('aborts with fault filter abort and flag FI, without reaching the upstream', async () => {
    const before = v1.received.length + v2.received.length;
    const res = await get('/abort');
    expect(res.status).toBe(503);
    expect(res.body).toBe('fault filter abort');
    expect(v1.received.length + v2.received.length).toBe(before);
    expect(flagsOf('/abort')).toBe('FI');
  });

  it('delays with flag DI, and the delay does not count against the route timeout', async () => {
    const started = Date.now();
    const res = await get('/delay');
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(flagsOf('/delay')).toBe('DI');
  });

  it('answers 404 NR when a VirtualService owns the host and no rule matches', async () => {
    const res = await get('/b', {}, 'partial:9080');
    expect(res.status).toBe(404);
    expect(flagsOf('/b')).toBe('NR');
    expect((await get('/a', {}, 'partial:9080')).status).toBe(200);
  });

  it('splits 75/25 between the subsets per request', async () => {
    let onV1 = 0;
    const n = 200;
    for (let i = 0; i < n; i++) {
      const res = await get(`/split${i}`);
      if (res.headers['x-echo-server'] === 'v1') onV1++;
    }
    expect(onV1 / n).toBeGreaterThan(0.62);
    expect(onV1 / n).toBeLessThan(0.88);
  });

  it('resolves the caller-relative name forms of a service', async () => {
    for (const host of ['reviews', 'reviews.default', 'reviews.default.svc.cluster.local:9080']) {
      const res = await get('/old/x', {}, host.includes(':') ? host : `${host}:9080`);
      expect(res.status).toBe(200);
    }
  });
});

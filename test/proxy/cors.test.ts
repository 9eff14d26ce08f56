import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type Sidecar, send, startSidecar } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/** VirtualService corsPolicy carried out by the outbound listener (HTTP/1.1). */
describe('corsPolicy at the outbound listener', () => {
  let web: EchoServer;
  let sidecar: Sidecar;
  const { telemetry, records } = capturingTelemetry();

  beforeAll(async () => {
    web = await startEcho('web');
    const me = pod({ name: 'client-0', app: 'client', ports: [8080] });
    const webPod = pod({ name: 'web-0', app: 'web', ports: [web.port], meshed: false });
    const objects = [
      service('client', [{ port: 80, targetPort: 8080 }]),
      service('web', [{ port: 80, targetPort: web.port }]),
      istio('VirtualService', 'web', {
        hosts: ['web'],
        http: [
          {
            match: [{ uri: { prefix: '/ignore' } }],
            route: [{ destination: { host: 'web' } }],
            corsPolicy: { allowOrigins: [{ exact: 'https://app.example' }], unmatchedPreflights: 'IGNORE' },
          },
          {
            match: [{ uri: { prefix: '/plain' } }],
            route: [{ destination: { host: 'web' } }],
          },
          {
            route: [{ destination: { host: 'web' } }],
            headers: { response: { set: { 'x-route': 'cors' } } },
            corsPolicy: {
              allowOrigins: [
                { exact: 'https://app.example' },
                { regex: 'https://[a-z0-9]+\\.preview\\.example' },
              ],
              allowMethods: ['GET', 'POST', 'PUT'],
              allowHeaders: ['content-type', 'x-api-key'],
              exposeHeaders: ['x-total-count'],
              maxAge: '10m',
              allowCredentials: true,
            },
          },
        ],
      }),
    ];
    sidecar = await startSidecar({
      pod: me,
      objects,
      workloads: [me, webPod],
      peers: new Map(),
      options: { telemetry },
    });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await web?.close();
  });

  const call = (path: string, method: string, headers: Record<string, string> = {}) =>
    send(sidecar.ports.outbound, path, { host: 'web', method, headers });
  const reached = (path: string) => web.received.filter((r) => r.url === path).length;

  it('answers a preflight from an allowed origin itself, with every preflight header', async () => {
    const res = await call('/api/items', 'OPTIONS', {
      origin: 'https://app.example',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'content-type',
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST,PUT');
    expect(res.headers['access-control-allow-headers']).toBe('content-type,x-api-key');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers']).toBeUndefined();
    expect(res.headers['x-request-id']).toBeTruthy();
    expect(reached('/api/items')).toBe(0);
    const rec = [...records].reverse().find((r) => r.path === '/api/items');
    expect(rec?.status).toBe(200);
    expect(rec?.upstreamHost).toBeUndefined();
  });

  it('matches origins with a whole-value RE2 regex', async () => {
    const ok = await call('/regex', 'OPTIONS', {
      origin: 'https://pr42.preview.example',
      'access-control-request-method': 'GET',
    });
    expect(ok.headers['access-control-allow-origin']).toBe('https://pr42.preview.example');
    expect(reached('/regex')).toBe(0);
    // A longer value is not a whole match: forwarded unchanged (unmatchedPreflights FORWARD).
    const no = await call('/regex', 'OPTIONS', {
      origin: 'https://pr42.preview.example.evil',
      'access-control-request-method': 'GET',
    });
    expect(no.status).toBe(200);
    expect(JSON.parse(no.body).server).toBe('web');
    expect(no.headers['access-control-allow-origin']).toBeUndefined();
    expect(reached('/regex')).toBe(1);
  });

  it('forwards a preflight from another origin unchanged by default', async () => {
    const res = await call('/other', 'OPTIONS', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.method).toBe('OPTIONS');
    expect(got.headers.origin).toBe('https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('answers a preflight from another origin without allow-origin under unmatchedPreflights IGNORE', async () => {
    const res = await call('/ignore/x', 'OPTIONS', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(reached('/ignore/x')).toBe(0);
  });

  it('adds allow-origin, expose-headers and credentials to the response of an actual request', async () => {
    const res = await call('/api/items', 'POST', { origin: 'https://app.example' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).method).toBe('POST');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['access-control-expose-headers']).toBe('x-total-count');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
    // The route's own response edits still apply.
    expect(res.headers['x-route']).toBe('cors');
  });

  it('changes nothing for a request without Origin or from another origin', async () => {
    const none = await call('/api/plain-get', 'GET');
    expect(none.status).toBe(200);
    expect(Object.keys(none.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const other = await call('/api/plain-get', 'GET', { origin: 'https://evil.example' });
    expect(Object.keys(other.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    // OPTIONS without Origin is forwarded like any request.
    const options = await call('/api/options', 'OPTIONS', { 'access-control-request-method': 'GET' });
    expect(JSON.parse(options.body).method).toBe('OPTIONS');
  });

  it('applies a policy only on the rule that sets it', async () => {
    const res = await call('/plain/x', 'OPTIONS', {
      origin: 'https://app.example',
      'access-control-request-method': 'GET',
    });
    expect(JSON.parse(res.body).url).toBe('/plain/x');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

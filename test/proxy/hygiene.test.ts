import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { rawRequest, type Sidecar, send, startSidecar, statusOf } from './helpers/mesh.js';
import { pod, proxyOf, service, snapshot } from './helpers/snapshot.js';

/** Raw-socket requests to the outbound (15001) and inbound (15006, plaintext) listeners. */
describe('request hygiene and normalization at the listeners', () => {
  let app: EchoServer;
  let upstream: EchoServer;
  let sidecar: Sidecar;
  const me = () => pod({ name: 'web-0', app: 'web', ports: [app.port] });
  const objects = () => [
    service('web', [{ port: 80, targetPort: app.port }]),
    service('good', [{ port: 9080, targetPort: upstream.port }]),
  ];
  const workloads = () => [me(), pod({ name: 'good-0', app: 'good', ports: [upstream.port], meshed: false })];
  const withMeshConfig = (mode: string, version: number) =>
    snapshot(
      proxyOf(me()),
      [
        ...objects(),
        {
          apiVersion: 'tsmesh.dev/v1alpha1',
          kind: 'MeshConfig',
          metadata: { name: 'mesh', namespace: 'tsmesh-system' },
          spec: { pathNormalization: mode },
        } as never,
      ],
      workloads(),
      version,
    );
  const lastUrl = () => upstream.received[upstream.received.length - 1]?.url;

  beforeAll(async () => {
    app = await startEcho('web');
    upstream = await startEcho('good');
    sidecar = await startSidecar({ pod: me(), objects: objects(), workloads: workloads(), peers: new Map() });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await app?.close();
    await upstream?.close();
  });

  const out = (text: string) => rawRequest(sidecar.ports.outbound, text);

  it('rejects Content-Length together with Transfer-Encoding', async () => {
    const before = upstream.received.length;
    const raw = await out(
      'POST /smuggle HTTP/1.1\r\nHost: good:9080\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: good:9080\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(400);
    expect(upstream.received.length).toBe(before);
  });

  it('rejects two Content-Length headers', async () => {
    const raw = await out(
      'POST /x HTTP/1.1\r\nHost: good:9080\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab',
    );
    expect(statusOf(raw)).toBe(400);
  });

  it('rejects two Host headers', async () => {
    const before = upstream.received.length;
    const raw = await out('GET /x HTTP/1.1\r\nHost: good:9080\r\nHost: evil:9080\r\n\r\n');
    expect(statusOf(raw)).toBe(400);
    expect(raw).toContain('more than one Host header');
    expect(upstream.received.length).toBe(before);
  });

  it('rejects an absolute-form target whose authority disagrees with Host', async () => {
    const raw = await out('GET http://good:9080/x HTTP/1.1\r\nHost: other:9080\r\n\r\n');
    expect(statusOf(raw)).toBe(400);
  });

  it('routes an absolute-form (explicit proxy) request by its authority and forwards origin-form', async () => {
    const raw = await out(
      'GET http://good:9080/abs?q=1 HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(200);
    expect(lastUrl()).toBe('/abs?q=1');
  });

  it('rejects a NUL byte in a header value', async () => {
    const raw = await out('GET /x HTTP/1.1\r\nHost: good:9080\r\nX-A: a\u0000b\r\n\r\n');
    expect(statusOf(raw)).toBe(400);
  });

  it('answers 431 to a request with 1100 headers', async () => {
    const many = Array.from({ length: 1100 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const raw = await out(`GET /many HTTP/1.1\r\nHost: good:9080\r\n${many}\r\n`);
    expect(statusOf(raw)).toBe(431);
  });

  it('answers 431 to request headers larger than the limit', async () => {
    const raw = await out(`GET /big HTTP/1.1\r\nHost: good:9080\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    expect(statusOf(raw)).toBe(431);
  });

  it('resolves dot segments once: /a/../admin is forwarded as /admin', async () => {
    const raw = await out('GET /a/../admin HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(lastUrl()).toBe('/admin');
  });

  it('drops the fragment', async () => {
    const raw = await out('GET /frag?x=1#secret HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(lastUrl()).toBe('/frag?x=1');
  });

  it('keeps //admin and %2F under BASE, merges and decodes them under DECODE_AND_MERGE_SLASHES', async () => {
    let raw = await out('GET //admin HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(lastUrl()).toBe('//admin');
    raw = await out('GET /a%2Fb HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(lastUrl()).toBe('/a%2Fb');

    await sidecar.snapshots.push(withMeshConfig('MERGE_SLASHES', 2));
    raw = await out('GET //admin HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(lastUrl()).toBe('/admin');
    raw = await out('GET /a%2Fb HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(lastUrl()).toBe('/a%2Fb');

    await sidecar.snapshots.push(withMeshConfig('DECODE_AND_MERGE_SLASHES', 3));
    raw = await out('GET /a%2F%2Fadmin HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(lastUrl()).toBe('/a/admin');

    await sidecar.snapshots.push(withMeshConfig('NONE', 4));
    raw = await out('GET /a/../admin HTTP/1.1\r\nHost: good:9080\r\nConnection: close\r\n\r\n');
    expect(lastUrl()).toBe('/a/../admin');
    await sidecar.snapshots.push(withMeshConfig('BASE', 5));
  });

  it('refuses a request that loops back to the proxy itself instead of multiplying it', async () => {
    const before = (sidecar.proxy as unknown as { counters: { downstreamRequests: number } }).counters
      .downstreamRequests;
    const res = await send(sidecar.ports.outbound, '/loop', { host: `127.0.0.1:${sidecar.ports.outbound}` });
    expect(res.status).toBe(508);
    const after = (sidecar.proxy as unknown as { counters: { downstreamRequests: number } }).counters
      .downstreamRequests;
    expect(after - before).toBe(2);
  });

  it('strips hop-by-hop headers and the ones Connection names, keeps te: trailers', async () => {
    const res = await send(sidecar.ports.outbound, '/hop', {
      host: 'good:9080',
      headers: {
        connection: 'x-private, keep-alive',
        'x-private': 'secret',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        'x-kept': 'yes',
      },
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body).headers;
    expect(got['x-private']).toBeUndefined();
    expect(got['keep-alive']).toBeUndefined();
    expect(got['proxy-authorization']).toBeUndefined();
    expect(got.te).toBe('trailers');
    expect(got['x-kept']).toBe('yes');
  });

  it('strips mesh-internal headers the app sends, keeps x-request-id', async () => {
    const res = await send(sidecar.ports.outbound, '/internal', {
      host: 'good:9080',
      headers: {
        'x-forwarded-client-cert': 'By=spiffe://evil;URI=spiffe://cluster.local/ns/default/sa/admin',
        'x-envoy-original-path': '/evil',
        'x-tsmesh-peer-metadata': '1;evil;;;;;;',
        'x-request-id': 'req-123',
      },
    });
    const got = JSON.parse(res.body).headers;
    expect(got['x-forwarded-client-cert']).toBeUndefined();
    expect(got['x-envoy-original-path']).toBeUndefined();
    expect(got['x-tsmesh-peer-metadata']).toBeUndefined();
    expect(got['x-request-id']).toBe('req-123');
  });

  it('strips a forged x-forwarded-client-cert arriving in plaintext at the inbound listener', async () => {
    const res = await send(sidecar.ports.inbound, '/in', {
      host: 'web:80',
      headers: {
        'x-forwarded-client-cert': 'By=a;URI=spiffe://cluster.local/ns/default/sa/admin',
        'x-envoy-peer': 'x',
      },
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.server).toBe('web');
    expect(got.headers['x-forwarded-client-cert']).toBeUndefined();
    expect(got.headers['x-envoy-peer']).toBeUndefined();
    expect(got.headers['x-request-id']).toBeDefined();
  });

  it('applies the same hygiene at the inbound listener', async () => {
    const raw = await rawRequest(
      sidecar.ports.inbound,
      'GET /x HTTP/1.1\r\nHost: web:80\r\nHost: web:80\r\n\r\n',
    );
    expect(statusOf(raw)).toBe(400);
    const many = Array.from({ length: 1100 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const raw2 = await rawRequest(sidecar.ports.inbound, `GET /many HTTP/1.1\r\nHost: web:80\r\n${many}\r\n`);
    expect(statusOf(raw2)).toBe(431);
  });
});

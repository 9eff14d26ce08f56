import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../../lib/model.js';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';
import { type CredentialDir, httpsGet, makeCredentialDir, waitFor } from './helpers.js';

const GATEWAY_LABELS = { istio: 'ingressgateway' };

function gatewayObject(): MeshObject {
  return istio(
    'Gateway',
    'bookinfo-gateway',
    {
      selector: GATEWAY_LABELS,
      servers: [
        {
          port: { number: 8080, name: 'http', protocol: 'HTTP' },
          hosts: ['bookinfo.example.com', '*.shop.test'],
        },
        {
          port: { number: 8443, name: 'https', protocol: 'HTTPS' },
          hosts: ['bookinfo.example.com'],
          tls: { mode: 'SIMPLE', credentialName: 'bookinfo-cert' },
        },
        {
          port: { number: 8443, name: 'https-shop', protocol: 'HTTPS' },
          hosts: ['*.shop.test'],
          tls: { mode: 'SIMPLE', credentialName: 'shop-cert' },
        },
      ],
    },
    'istio-system',
  );
}

describe('an ingress gateway in front of a sidecar', () => {
  let pki: TestPki;
  let creds: CredentialDir;
  let app: EchoServer;
  let legacy: EchoServer;
  let server: Sidecar;
  let gateway: Sidecar;
  const peers: PeerPorts = new Map();
  let current: { proxy: ProxyIdentity; objects: MeshObject[]; workloads: WorkloadInstance[] };
  let httpPort = 0;
  let httpsPort = 0;

  beforeAll(async () => {
    pki = createTestPki();
    creds = makeCredentialDir({
      'bookinfo-cert': ['bookinfo.example.com'],
      'shop-cert': ['*.shop.test'],
    });
    app = await startEcho('productpage-v1');
    legacy = await startEcho('legacy');
    const legacyPod = pod({ name: 'legacy-0', app: 'legacy', ports: [legacy.port], meshed: false });
    const productpage = pod({
      name: 'productpage-v1-0',
      app: 'productpage',
      version: 'v1',
      ports: [app.port],
    });
    const gw = pod({
      name: 'ingressgateway-0',
      app: 'ingressgateway',
      namespace: 'istio-system',
      serviceAccount: 'ingressgateway',
      labels: GATEWAY_LABELS,
      ports: [8080],
    });
    const objects: MeshObject[] = [
      service('productpage', [{ port: 9080, targetPort: app.port }]),
      service('legacy', [{ port: 80, targetPort: legacy.port }]),
      istio('VirtualService', 'mirrored', {
        hosts: ['mirror.shop.test'],
        gateways: ['istio-system/bookinfo-gateway'],
        http: [
          {
            route: [{ destination: { host: 'productpage', port: { number: 9080 } } }],
            mirror: { host: 'legacy', port: { number: 80 } },
          },
        ],
      }),
      istio('VirtualService', 'legacy', {
        hosts: ['legacy.shop.test'],
        gateways: ['istio-system/bookinfo-gateway'],
        http: [
          {
            route: [{ destination: { host: 'legacy', port: { number: 80 } } }],
            corsPolicy: {
              allowOrigins: [{ prefix: 'https://' }],
              allowMethods: ['*'],
              allowHeaders: ['authorization'],
              maxAge: '1h',
            },
          },
        ],
      }),
      gatewayObject(),
      istio('VirtualService', 'bookinfo', {
        hosts: ['bookinfo.example.com', 'web.shop.test'],
        gateways: ['istio-system/bookinfo-gateway'],
        http: [
          { match: [{ uri: { prefix: '/old' } }], redirect: { uri: '/new' } },
          { route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] },
        ],
      }),
      // Bound to the mesh only: must not apply at the gateway.
      istio('VirtualService', 'mesh-only', {
        hosts: ['api.shop.test'],
        http: [{ route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] }],
      }),
    ];
    const workloads = [productpage, gw, legacyPod];
    server = await startSidecar({
      pod: productpage,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'productpage')] }),
    });
    current = { proxy: proxyOf(gw), objects, workloads };
    gateway = await startSidecar({
      pod: gw,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('istio-system', 'ingressgateway')] }),
      options: { gateway: { portMap: { 8080: 0, 8443: 0 }, credentialDir: creds.dir } },
    });
    await waitFor(() => gateway.proxy.gatewayPorts().length === 2);
    const ports = gateway.proxy.gatewayPorts();
    httpPort = ports.find((p) => p.port === 8080)!.localPort;
    httpsPort = ports.find((p) => p.port === 8443)!.localPort;
  });

  afterAll(async () => {
    await gateway?.proxy.stop();
    await server?.proxy.stop();
    await app?.close();
    await legacy?.close();
    pki?.cleanup();
    creds?.cleanup();
  });

  it('listens on the Gateway server ports and not on the capture ports', () => {
    expect(gateway.proxy.gatewayPorts().map((p) => [p.port, p.protocol])).toEqual([
      [8080, 'HTTP'],
      [8443, 'HTTPS'],
    ]);
    expect(gateway.ports.outbound).toBe(0);
    expect(gateway.ports.inbound).toBe(0);
    expect(gateway.proxy.isReady()).toBe(true);
  });

  it('routes a request into the mesh over mTLS with the edge headers set', async () => {
    const res = await send(httpPort, '/productpage?u=1', {
      host: 'bookinfo.example.com',
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'forged.example',
        'x-envoy-external-address': '198.51.100.1',
        'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/x/sa/y;URI=spiffe://evil',
        'x-tsmesh-peer-metadata': 'forged',
        'x-envoy-upstream-rq-timeout-ms': '1',
      },
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.server).toBe('productpage-v1');
    expect(got.url).toBe('/productpage?u=1');
    expect(got.headers.host).toBe('bookinfo.example.com');
    expect(got.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    // x-envoy-* is mesh-internal: the server sidecar drops it before the app (see the unmeshed case).
    expect(got.headers['x-envoy-external-address']).toBeUndefined();
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect(got.headers['x-forwarded-host']).toBe('bookinfo.example.com');
    expect(got.headers['x-envoy-upstream-rq-timeout-ms']).toBeUndefined();
    expect(got.headers['x-tsmesh-peer-metadata']).toBeUndefined();
    // The server sidecar verified the gateway's own identity; the forged value is gone.
    expect(got.headers['x-forwarded-client-cert']).toMatch(
      new RegExp(
        `^By=${spiffe('default', 'productpage')};Hash=[0-9a-f]{64};URI=${spiffe('istio-system', 'ingressgateway')}$`,
      ),
    );
  });

  it('sets x-envoy-external-address for an upstream without a sidecar, over plaintext', async () => {
    const res = await send(httpPort, '/', {
      host: 'legacy.shop.test',
      headers: { 'x-envoy-external-address': '198.51.100.1', 'x-forwarded-client-cert': 'forged' },
    });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.server).toBe('legacy');
    expect(got.headers['x-envoy-external-address']).toBe('127.0.0.1');
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-forwarded-client-cert']).toBeUndefined();
  });

  it('applies corsPolicy: answers a preflight from a matching origin without reaching the upstream', async () => {
    const res = await send(httpPort, '/v1/orders', {
      host: 'legacy.shop.test',
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'DELETE' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    // allowMethods ['*'] echoes the requested method, as Envoy does.
    expect(res.headers['access-control-allow-methods']).toBe('DELETE');
    expect(res.headers['access-control-allow-headers']).toBe('authorization');
    expect(res.headers['access-control-max-age']).toBe('3600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(legacy.received.some((r) => r.url === '/v1/orders')).toBe(false);
  });

  it('applies corsPolicy: adds allow-origin to an actual request from a matching origin, nothing for others', async () => {
    const ok = await send(httpPort, '/v1/cart', {
      host: 'legacy.shop.test',
      headers: { origin: 'https://shop.example' },
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).server).toBe('legacy');
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    const plain = await send(httpPort, '/v1/cart', {
      host: 'legacy.shop.test',
      headers: { origin: 'http://shop.example' },
    });
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    const forwarded = await send(httpPort, '/v1/pre', {
      host: 'legacy.shop.test',
      method: 'OPTIONS',
      headers: { origin: 'http://shop.example', 'access-control-request-method': 'GET' },
    });
    expect(JSON.parse(forwarded.body).method).toBe('OPTIONS');
    expect(forwarded.headers['access-control-allow-methods']).toBeUndefined();
  });
  it('mirrors a copy of a routed request', async () => {
    const res = await send(httpPort, '/mirrored-path', { host: 'mirror.shop.test' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).server).toBe('productpage-v1');
    await waitFor(() => legacy.received.some((r) => r.url === '/mirrored-path'));
  });

  it('matches wildcard server hosts and the port in the Host header', async () => {
    const res = await send(httpPort, '/', { host: `web.shop.test:${httpPort}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).headers['x-forwarded-host']).toBe(`web.shop.test:${httpPort}`);
  });

  it('answers 404 for a host no server of the port accepts', async () => {
    const before = app.received.length;
    const res = await send(httpPort, '/productpage', { host: 'unknown.example.org' });
    expect(res.status).toBe(404);
    expect(app.received.length).toBe(before);
  });

  it('answers 404 for a host only a VirtualService not bound to the gateway names', async () => {
    const before = app.received.length;
    const res = await send(httpPort, '/', { host: 'api.shop.test' });
    expect(res.status).toBe(404);
    const svc = await send(httpPort, '/', { host: 'productpage' });
    expect(svc.status).toBe(404);
    expect(app.received.length).toBe(before);
  });

  it('applies the bound VirtualService rules (a redirect)', async () => {
    const res = await send(httpPort, '/old', { host: 'bookinfo.example.com' });
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('http://bookinfo.example.com/new');
  });

  it('terminates HTTPS with the credential the SNI selects', async () => {
    const ca = creds.certPem('bookinfo-cert') + creds.certPem('shop-cert');
    const a = await httpsGet(httpsPort, '/productpage', { servername: 'bookinfo.example.com', ca });
    expect(a.status).toBe(200);
    expect(a.servedCn).toBe('bookinfo.example.com');
    const got = JSON.parse(a.body);
    expect(got.headers['x-forwarded-proto']).toBe('https');
    expect(got.headers['x-forwarded-client-cert']).toContain(
      `URI=${spiffe('istio-system', 'ingressgateway')}`,
    );
    const b = await httpsGet(httpsPort, '/', { servername: 'web.shop.test', ca });
    expect(b.status).toBe(200);
    expect(b.servedCn).toBe('*.shop.test');
  });

  it('closes a listener when its Gateway server goes away and keeps the others', async () => {
    const gw = gatewayObject() as MeshObject & { spec: { servers: unknown[] } };
    gw.spec.servers = gw.spec.servers.slice(0, 1);
    const objects = [...current.objects.filter((o) => o.kind !== 'Gateway'), gw];
    await gateway.snapshots.push(snapshot(current.proxy, objects, current.workloads, 2));
    expect(gateway.proxy.gatewayPorts().map((p) => p.port)).toEqual([8080]);
    await expect(httpsGet(httpsPort, '/', { servername: 'bookinfo.example.com', ca: '' })).rejects.toThrow();
    expect((await send(httpPort, '/', { host: 'bookinfo.example.com' })).status).toBe(200);
  });
});

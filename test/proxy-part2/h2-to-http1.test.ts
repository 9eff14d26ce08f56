import { connect as h2connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, startSidecar } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, service, spiffe } from '../proxy/helpers/snapshot.js';

function h2Request(
  port: number,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request(headers);
    let status = 0;
    let got: Record<string, unknown> = {};
    let text = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      got = h;
    });
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('close', () => {
      session.close();
      resolve({ status, body: text, headers: got });
    });
    req.end(body);
  });
}

describe('h2c from an app to an HTTP/1.1 app through two sidecars over mTLS', () => {
  let pki: TestPki;
  let app: EchoServer;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('reviews-v1');
    const reviews = pod({ name: 'reviews-0', app: 'reviews', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('reviews', [{ port: 9080, targetPort: app.port, name: 'http' }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      istio('VirtualService', 'reviews', {
        hosts: ['reviews'],
        http: [
          {
            route: [{ destination: { host: 'reviews' } }],
            corsPolicy: {
              allowOrigins: [{ exact: 'https://app.example' }],
              allowMethods: ['GET'],
              exposeHeaders: ['x-page'],
            },
          },
        ],
      }),
    ];
    server = await startSidecar({
      pod: reviews,
      objects,
      workloads: [reviews, sleep],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'reviews')] }),
    });
    client = await startSidecar({
      pod: sleep,
      objects,
      workloads: [reviews, sleep],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), server?.proxy.stop()]);
    await app?.close();
    pki?.cleanup();
  });

  it('reaches the HTTP/1.1 app with the request intact and the verified client identity', async () => {
    const res = await h2Request(
      client.ports.outbound,
      {
        ':method': 'POST',
        ':path': '/reviews/1?x=1',
        ':authority': 'reviews:9080',
        'content-type': 'text/plain',
      },
      'hello over h2',
    );
    expect(res.status).toBe(200);
    expect(res.headers['x-echo-server']).toBe('reviews-v1');
    const got = JSON.parse(res.body);
    expect(got).toMatchObject({ method: 'POST', url: '/reviews/1?x=1', body: 'hello over h2' });
    expect(got.headers.host).toBe('reviews:9080');
    expect(got.headers['x-forwarded-client-cert']).toContain(`URI=${spiffe('default', 'sleep')}`);
    expect(got.headers['x-tsmesh-peer-metadata']).toBeUndefined();
  });

  it('passes the app status through', async () => {
    const res = await h2Request(client.ports.outbound, {
      ':path': '/status/418',
      ':authority': 'reviews:9080',
    });
    expect(res.status).toBe(418);
  });

  it('applies corsPolicy: answers a preflight from an allowed origin on the stream, never reaching the app', async () => {
    const res = await h2Request(client.ports.outbound, {
      ':method': 'OPTIONS',
      ':path': '/h2-preflight',
      ':authority': 'reviews:9080',
      origin: 'https://app.example',
      'access-control-request-method': 'GET',
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['access-control-allow-methods']).toBe('GET');
    expect(app.received.some((r) => r.url === '/h2-preflight')).toBe(false);
  });

  it('applies corsPolicy: adds the response headers for an actual request, nothing without Origin', async () => {
    const res = await h2Request(client.ports.outbound, {
      ':path': '/h2-actual',
      ':authority': 'reviews:9080',
      origin: 'https://app.example',
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-echo-server']).toBe('reviews-v1');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['access-control-expose-headers']).toBe('x-page');
    const plain = await h2Request(client.ports.outbound, {
      ':path': '/h2-plain',
      ':authority': 'reviews:9080',
    });
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
  });
});

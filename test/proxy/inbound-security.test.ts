import { createServer as createTlsServer, type Server as TlsServer, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateBundle } from '../../runtime/proxy/sources.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, rawRequest, type Sidecar, send, startSidecar } from './helpers/mesh.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { istio, pod, service, spiffe } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/** Sends one HTTP/1.1 request over mesh mTLS with the given client certificate; resolves the raw answer ('' when refused). */
function meshRequest(port: number, cert: CertificateBundle, sni: string, path = '/ok'): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: sni,
      ALPNProtocols: ['tsmesh-http/1.1'],
      cert: cert.certPem,
      key: cert.keyPem,
      ca: cert.trustBundlePem,
      checkServerIdentity: () => undefined,
    });
    const chunks: Buffer[] = [];
    s.on('secureConnect', () =>
      s.write(`GET ${path} HTTP/1.1\r\nHost: reviews:9080\r\nConnection: close\r\n\r\n`),
    );
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('inbound security: mTLS modes, peer verification and authorization', () => {
  let pki: TestPki;
  let reviewsApp: EchoServer;
  let fakeApp: EchoServer;
  let legacyApp: TlsServer;
  let legacyPort: number;
  let server: Sidecar;
  let client: Sidecar;
  let impostor: Sidecar;
  let legacy: Sidecar;
  let clientCert: CertificateBundle;
  const peers: PeerPorts = new Map();
  const clientTelemetry = capturingTelemetry();
  const sni = () => `outbound_.${reviewsApp.port}_._.reviews.default.svc.cluster.local`;

  beforeAll(async () => {
    pki = createTestPki();
    reviewsApp = await startEcho('reviews');
    fakeApp = await startEcho('fake');
    const appTlsCert = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/legacy-app'] });
    legacyApp = createTlsServer({ cert: appTlsCert.certPem, key: appTlsCert.keyPem }, (s) => {
      s.on('data', (d: Buffer) => s.write(`legacy:${d.toString()}`));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => legacyApp.listen(0, '127.0.0.1', r));
    legacyPort = (legacyApp.address() as { port: number }).port;

    const reviews = pod({ name: 'reviews-0', app: 'reviews', ports: [reviewsApp.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const fake = pod({ name: 'fake-0', app: 'fake', ports: [fakeApp.port] });
    const legacyPod = pod({ name: 'legacy-0', app: 'legacy', ports: [legacyPort] });
    const workloads = [reviews, sleep, fake, legacyPod];
    const objects = [
      service('reviews', [{ port: 9080, targetPort: reviewsApp.port }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      service('fake', [{ port: 9080, targetPort: fakeApp.port }]),
      service('legacy', [{ port: 443, targetPort: legacyPort }]),
      istio('PeerAuthentication', 'reviews-strict', {
        selector: { matchLabels: { app: 'reviews' } },
        mtls: { mode: 'STRICT' },
      }),
      istio('AuthorizationPolicy', 'reviews-deny-admin', {
        selector: { matchLabels: { app: 'reviews' } },
        action: 'DENY',
        rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }],
      }),
      istio('AuthorizationPolicy', 'reviews-allow-sleep', {
        selector: { matchLabels: { app: 'reviews' } },
        action: 'ALLOW',
        rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }],
      }),
    ];
    server = await startSidecar({
      pod: reviews,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'reviews')] }),
    });
    // A sidecar that answers for the fake pod but holds another identity's certificate.
    impostor = await startSidecar({
      pod: fake,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'impostor')] }),
    });
    legacy = await startSidecar({
      pod: legacyPod,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'legacy')] }),
    });
    clientCert = pki.leaf({ uris: [spiffe('default', 'sleep')] });
    client = await startSidecar({
      pod: sleep,
      objects,
      workloads,
      peers,
      cert: clientCert,
      options: { telemetry: clientTelemetry.telemetry },
    });
  });

  afterAll(async () => {
    for (const s of [client, server, impostor, legacy]) await s?.proxy.stop();
    await reviewsApp?.close();
    await fakeApp?.close();
    legacyApp?.close();
    pki?.cleanup();
  });

  it('allows the permitted client identity', async () => {
    const res = await send(client.ports.outbound, '/ok', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).headers['x-forwarded-client-cert']).toContain(
      `URI=${spiffe('default', 'sleep')}`,
    );
  });

  it('denies with 403 RBAC: access denied, on the normalized path too', async () => {
    const before = reviewsApp.received.length;
    const res = await send(client.ports.outbound, '/admin/users', { host: 'reviews:9080' });
    expect(res.status).toBe(403);
    expect(res.body).toBe('RBAC: access denied');
    const sneaky = await send(client.ports.outbound, '/x/../admin', { host: 'reviews:9080' });
    expect(sneaky.status).toBe(403);
    expect(reviewsApp.received.length).toBe(before);
  });

  it('denies an identity the ALLOW policy does not name', async () => {
    const raw = await meshRequest(
      server.ports.inbound,
      pki.leaf({ uris: [spiffe('default', 'intruder')] }),
      sni(),
    );
    expect(raw).toMatch(/^HTTP\/1\.1 403/);
    expect(raw).toContain('RBAC: access denied');
  });

  it('STRICT closes plaintext connections without an HTTP response', async () => {
    const raw = await rawRequest(server.ports.inbound, 'GET /ok HTTP/1.1\r\nHost: reviews:9080\r\n\r\n');
    expect(raw).toBe('');
  });

  it('STRICT closes TLS without a mesh ALPN', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: server.ports.inbound,
        ALPNProtocols: ['http/1.1'],
        rejectUnauthorized: false,
      });
      s.on('error', () => resolve('error'));
      s.on('secureConnect', () => resolve('connected'));
      s.on('close', () => resolve('closed'));
    });
    expect(raw).not.toBe('connected');
  });

  it('refuses client certificates that are CAs, carry two URI SANs, or chain to another root', async () => {
    const asCa = pki.leaf({ uris: [spiffe('default', 'sleep')], isCa: true });
    const twoSans = pki.leaf({ uris: [spiffe('default', 'sleep'), spiffe('default', 'admin')] });
    const foreign = pki.leaf({ uris: [spiffe('default', 'sleep')] }, pki.otherRoot());
    const answers = [];
    for (const cert of [asCa, twoSans, { ...foreign, trustBundlePem: clientCert.trustBundlePem }]) {
      answers.push((await meshRequest(server.ports.inbound, cert, sni())).slice(0, 12));
    }
    expect(answers).toEqual(['', '', '']);
    expect(await meshRequest(server.ports.inbound, clientCert, sni())).toMatch(/^HTTP\/1\.1 200/);
  });

  it('refuses a server whose identity is not one of the destination service', async () => {
    const before = fakeApp.received.length;
    const res = await send(client.ports.outbound, '/who', { host: 'fake:9080' });
    expect(res.status).toBe(503);
    expect(fakeApp.received.length).toBe(before);
    const rec =
      clientTelemetry.telemetry && [...clientTelemetry.records].reverse().find((r) => r.path === '/who');
    expect(rec?.responseFlags).toContain('UF');
  });

  it('PERMISSIVE passes the app’s own TLS through untouched', async () => {
    const answer = await new Promise<{ data: string; serial: string }>((resolve, reject) => {
      const s = tlsConnect({
        host: '127.0.0.1',
        port: legacy.ports.inbound,
        ALPNProtocols: ['http/1.1'],
        rejectUnauthorized: false,
      });
      s.on('secureConnect', () => s.write('ping'));
      s.on('data', (d: Buffer) => {
        resolve({ data: d.toString(), serial: s.getPeerX509Certificate()?.subjectAltName ?? '' });
        s.destroy();
      });
      s.on('error', reject);
    });
    expect(answer.data).toBe('legacy:ping');
    expect(answer.serial).toContain('legacy-app');
  });
});

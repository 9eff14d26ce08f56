import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateBundle } from '../../runtime/proxy/sources.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, service, spiffe } from './helpers/snapshot.js';

function viaSocket(
  socketPath: string,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One request over mesh mTLS; resolves the raw answer and the server certificate's serial. */
function meshGet(
  port: number,
  cert: CertificateBundle,
  sni: string,
): Promise<{ raw: string; serial: string }> {
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
    let serial = '';
    s.on('secureConnect', () => {
      serial = s.getPeerX509Certificate()?.serialNumber ?? '';
      s.write('GET /x HTTP/1.1\r\nHost: web:80\r\n\r\n');
    });
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).toString().includes('"server"')) s.end();
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve({ raw: Buffer.concat(chunks).toString(), serial }));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('admin API, app probes, certificate rotation and drain behaviour of the inbound side', () => {
  let pki: TestPki;
  let app: EchoServer;
  let probeTarget: ReturnType<typeof createServer>;
  let probePort: number;
  let sidecar: Sidecar;
  let dir: string;
  let clientCert: CertificateBundle;
  const peers: PeerPorts = new Map();
  const sni = () => `outbound_.${app.port}_._.web.default.svc.cluster.local`;

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('web');
    probeTarget = createServer((req, res) => {
      res.writeHead(req.url === '/ready' ? 200 : 500);
      res.end();
    });
    await new Promise<void>((r) => probeTarget.listen(0, '127.0.0.1', r));
    probePort = (probeTarget.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-admin-'));
    const me = pod({ name: 'web-0', app: 'web', ports: [app.port] });
    clientCert = pki.leaf({ uris: [spiffe('default', 'sleep')] });
    sidecar = await startSidecar({
      pod: me,
      objects: [service('web', [{ port: 80, targetPort: app.port }])],
      workloads: [me],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'web')] }),
      options: {
        adminSocket: join(dir, 'admin.sock'),
        appProbes: {
          '/app-health/web/readyz': { httpGet: { path: '/ready', port: probePort } },
          '/app-health/web/livez': { httpGet: { path: '/broken', port: probePort } },
          '/app-health/web/startupz': { tcpSocket: { port: probePort } },
        },
      },
    });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await app?.close();
    probeTarget?.close();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = (path: string, method = 'GET') => viaSocket(join(dir, 'admin.sock'), path, method);

  it('serves the config dump, clusters, certificate facts and counters on the Unix socket', async () => {
    await send(sidecar.ports.inbound, '/warm', { host: 'web:80' });
    const dump = JSON.parse((await admin('/config_dump')).body);
    expect(dump).toMatchObject({
      applied: true,
      version: 1,
      proxy: { workload: 'web', namespace: 'default' },
    });
    expect(dump.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(dump.services).toContain('web.default.svc.cluster.local');
    expect(dump.inbound.portMap).toEqual({ '80': app.port });
    expect(dump.inbound.mtls).toEqual({ [String(app.port)]: 'PERMISSIVE' });

    const clusters = JSON.parse((await admin('/clusters')).body);
    expect(clusters.clusters.map((c: { key: string }) => c.key)).toContain(
      'outbound|80||web.default.svc.cluster.local',
    );
    const inbound = clusters.inbound.find((c: { key: string }) => c.key === `inbound|${app.port}||`);
    expect(inbound.endpoints[0]).toMatchObject({ address: '127.0.0.1', port: app.port, health: 'healthy' });
    expect(inbound.endpoints[0].requests).toBeGreaterThanOrEqual(1);

    const certs = (await admin('/certs')).body;
    expect(JSON.parse(certs).certificate).toMatchObject({ spiffeId: spiffe('default', 'web'), valid: true });
    expect(certs).not.toContain('PRIVATE KEY');
    expect(certs).not.toContain('BEGIN');

    const stats = JSON.parse((await admin('/stats')).body);
    expect(stats.downstreamRequests).toBeGreaterThanOrEqual(1);
    expect((await admin('/stats/prometheus')).body).toContain('istio_requests_total');
    expect((await admin('/ready')).status).toBe(200);
    const unknown = await admin('/nope');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).paths).toContain('GET /config_dump');
  });

  it("reports the process's memory by part on GET /memory", async () => {
    const r = await admin('/memory');
    expect(r.status).toBe(200);
    const m = JSON.parse(r.body);
    expect(m.rssMb).toBeGreaterThan(0);
    expect(m.maxRssMb).toBeGreaterThanOrEqual(m.rssMb - 1);
    expect(m.heapUsedMb).toBeLessThanOrEqual(m.heapTotalMb);
    expect(m.rssMb).toBeGreaterThan(m.heapUsedMb);
    expect(Object.keys(m.heapSpaces)).toEqual(
      expect.arrayContaining(['new_space', 'old_space', 'code_space']),
    );
    expect(m.heapSpaces.old_space.usedMb).toBeLessThanOrEqual(m.heapSpaces.old_space.sizeMb);
  });

  it('does not expose admin on TCP when a Unix socket is configured', () => {
    expect(sidecar.ports.admin).toBe(0);
  });

  it('answers rewritten app probes on the stats port by probing the app', async () => {
    expect((await send(sidecar.ports.stats, '/app-health/web/readyz', { host: 'x' })).status).toBe(200);
    expect((await send(sidecar.ports.stats, '/app-health/web/livez', { host: 'x' })).status).toBe(500);
    expect((await send(sidecar.ports.stats, '/app-health/web/startupz', { host: 'x' })).status).toBe(200);
    expect((await send(sidecar.ports.stats, '/app-health/other/readyz', { host: 'x' })).status).toBe(404);
    expect((await send(sidecar.ports.stats, '/stats/prometheus', { host: 'x' })).body).toContain('# TYPE');
  });

  it('serves new connections with a rotated certificate', async () => {
    const before = await meshGet(sidecar.ports.inbound, clientCert, sni());
    expect(before.raw).toMatch(/^HTTP\/1\.1 200/);
    const next = pki.leaf({ uris: [spiffe('default', 'web')] });
    await sidecar.certs.push(next);
    const after = await meshGet(sidecar.ports.inbound, clientCert, sni());
    expect(after.raw).toMatch(/^HTTP\/1\.1 200/);
    expect(after.serial).toBe(next.serial);
    expect(after.serial).not.toBe(before.serial);
    expect(JSON.parse((await admin('/certs')).body).certificate.serial).toBe(next.serial);
  });

  it('drains on POST /drain: unready, idle keep-alive connections closed, answers carry Connection: close', async () => {
    // An idle keep-alive connection from before the drain.
    const idle = connect({ host: '127.0.0.1', port: sidecar.ports.inbound });
    let idleClosed = false;
    idle.on('close', () => {
      idleClosed = true;
    });
    idle.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      idle.once('data', () => resolve());
      idle.write('GET /before HTTP/1.1\r\nHost: web:80\r\n\r\n');
    });
    expect(idleClosed).toBe(false);
    expect((await admin('/drain', 'POST')).status).toBe(200);
    await waitFor(() => idleClosed);
    expect((await send(sidecar.ports.health, '/healthz/ready', { host: 'x' })).status).toBe(503);
    const res = await meshGet(sidecar.ports.inbound, clientCert, sni());
    expect(res.raw).toMatch(/^HTTP\/1\.1 200/);
    expect(res.raw.toLowerCase()).toContain('connection: close');
  });

  it('stops on POST /quitquitquit', async () => {
    expect((await admin('/quitquitquit', 'POST')).status).toBe(200);
    await sidecar.proxy.stopped();
    expect(sidecar.proxy.status).toBe('stopped');
  });
});

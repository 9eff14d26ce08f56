import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { send } from './helpers/mesh.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { exitOf, killAndWait, readyStatus, startTsmesh, waitReady, writeCertDir } from './helpers/process.js';
import { istio, pod, proxyOf, service, snapshot } from './helpers/snapshot.js';
import { refusedPort } from './helpers/telemetry.js';

function adminGet(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('tsmesh proxy (process, file sources)', () => {
  let pki: TestPki;
  let echo: EchoServer;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    pki = createTestPki();
    echo = await startEcho('upstream');
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-cli-'));
  });

  afterAll(async () => {
    await killAndWait(child);
    await echo?.close();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 2 with a clear message when no source is given', async () => {
    const c = startTsmesh(['proxy']);
    expect(await exitOf(c.child)).toBe(2);
    expect(c.stderr()).toContain('--snapshot FILE --cert-dir DIR');
  });

  it('serves from files, reloads them on change, and drains on SIGTERM', async () => {
    const me = pod({ name: 'app-0', app: 'app', ports: [8080] });
    const up = pod({ name: 'upstream-0', app: 'upstream', ports: [echo.port], meshed: false });
    const objects = [
      service('app', [{ port: 80, targetPort: 8080 }]),
      service('upstream', [{ port: 9080, targetPort: echo.port }]),
    ];
    const cert = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/app'] });
    const certDir = writeCertDir(dir, cert, pki.root.certPem);
    const snapFile = join(dir, 'snapshot.json');
    writeFileSync(snapFile, JSON.stringify(snapshot(proxyOf(me), objects, [me, up], 1)));
    const ports = {
      outbound: await refusedPort(),
      inbound: await refusedPort(),
      stats: await refusedPort(),
      health: await refusedPort(),
    };
    const adminSocket = join(dir, 'admin.sock');
    const proc = startTsmesh([
      'proxy',
      '--snapshot',
      snapFile,
      '--cert-dir',
      certDir,
      '--address',
      '127.0.0.1',
      '--outbound-port',
      String(ports.outbound),
      '--inbound-port',
      String(ports.inbound),
      '--stats-port',
      String(ports.stats),
      '--health-port',
      String(ports.health),
      '--admin-socket',
      adminSocket,
      '--drain-seconds',
      '1',
      '--no-access-log',
    ]);
    child = proc.child;
    const ready = () => readyStatus(ports.health);
    await waitReady(ports.health, proc.stderr);
    const res = await send(ports.outbound, '/hello', { host: 'upstream:9080' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).url).toBe('/hello');

    const dump = JSON.parse((await adminGet(adminSocket, '/config_dump')).body);
    expect(dump.version).toBe(1);
    const certs = JSON.parse((await adminGet(adminSocket, '/certs')).body);
    expect(certs.certificate.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/app');
    expect(JSON.stringify(certs)).not.toContain('PRIVATE KEY');

    // A new snapshot file version is picked up.
    const vs = istio('VirtualService', 'upstream', {
      hosts: ['upstream'],
      http: [{ directResponse: { status: 204 } }],
    });
    writeFileSync(snapFile, JSON.stringify(snapshot(proxyOf(me), [...objects, vs], [me, up], 2)));
    const end2 = Date.now() + 10_000;
    while (JSON.parse((await adminGet(adminSocket, '/config_dump')).body).version !== 2) {
      if (Date.now() > end2) throw new Error('snapshot not reloaded');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await send(ports.outbound, '/hello', { host: 'upstream:9080' })).status).toBe(204);

    const started = Date.now();
    child.kill('SIGTERM');
    const end3 = Date.now() + 2000;
    while ((await ready()) === 200 && Date.now() < end3) await new Promise((r) => setTimeout(r, 20));
    expect(await ready()).not.toBe(200);
    expect(await exitOf(child)).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 40_000);
});

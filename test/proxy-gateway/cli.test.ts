import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { send } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import {
  exitOf,
  killAndWait,
  startTsmesh as tsmesh,
  waitReady,
  writeCertDir,
} from '../proxy/helpers/process.js';
import { istio, pod, proxyOf, service, snapshot } from '../proxy/helpers/snapshot.js';
import { refusedPort } from '../proxy/helpers/telemetry.js';

describe('tsmesh proxy --gateway (process)', () => {
  let pki: TestPki;
  let echo: EchoServer;
  let dir: string;
  let running: ChildProcess | undefined;

  beforeAll(async () => {
    pki = createTestPki();
    echo = await startEcho('web');
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-gateway-cli-'));
  });

  afterAll(async () => {
    await killAndWait(running);
    await echo?.close();
    pki?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses gateway flags without --gateway, naming them', async () => {
    const p = tsmesh(['proxy', '--snapshot', 'x.json', '--cert-dir', 'd', '--port-offset', '8000']);
    expect(await exitOf(p.child)).toBe(2);
    expect(p.stderr()).toContain('--port-offset and --port-map need --gateway');
  });

  it('refuses a malformed --port-map, naming the bad entry', async () => {
    const p = tsmesh([
      'proxy',
      '--gateway',
      '--snapshot',
      'x.json',
      '--cert-dir',
      'd',
      '--port-map',
      '80=http',
    ]);
    expect(await exitOf(p.child)).toBe(2);
    expect(p.stderr()).toContain("got '80=http'");
  });

  it('serves a Gateway port moved by --port-offset', async () => {
    const gw = pod({
      name: 'gw-0',
      app: 'gw',
      namespace: 'istio-system',
      serviceAccount: 'gw',
      labels: { istio: 'ingressgateway' },
      ports: [],
    });
    const web = pod({ name: 'web-0', app: 'web', ports: [echo.port], meshed: false });
    const local = await refusedPort();
    const objects = [
      service('web', [{ port: 80, targetPort: echo.port }]),
      istio(
        'Gateway',
        'gw',
        {
          selector: { istio: 'ingressgateway' },
          servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['web.example.com'] }],
        },
        'istio-system',
      ),
      istio('VirtualService', 'web', {
        hosts: ['web.example.com'],
        gateways: ['istio-system/gw'],
        http: [{ route: [{ destination: { host: 'web', port: { number: 80 } } }] }],
      }),
    ];
    const cert = pki.leaf({ uris: ['spiffe://cluster.local/ns/istio-system/sa/gw'] });
    const certDir = writeCertDir(dir, cert, pki.root.certPem);
    const snapFile = join(dir, 'snapshot.json');
    writeFileSync(snapFile, JSON.stringify(snapshot(proxyOf(gw), objects, [gw, web], 1)));
    const health = await refusedPort();
    const p = tsmesh([
      'proxy',
      '--gateway',
      '--snapshot',
      snapFile,
      '--cert-dir',
      certDir,
      '--address',
      '127.0.0.1',
      '--port-offset',
      String(local - 80),
      '--admin-socket',
      join(dir, 'admin.sock'),
      '--stats-port',
      String(await refusedPort()),
      '--health-port',
      String(health),
      '--no-access-log',
    ]);
    running = p.child;
    await waitReady(health, p.stderr);
    const res = await send(local, '/hello', { host: 'web.example.com' });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.url).toBe('/hello');
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect((await send(local, '/hello', { host: 'other.example.com' })).status).toBe(404);
    expect(p.stderr()).toContain(`gateway: HTTP on 127.0.0.1:${local} for port 80`);
    running.kill('SIGINT');
    expect(await exitOf(running)).toBe(0);
  });
});

/**
 * Protocol version 3 end to end: changes reach sidecars as deltas of the changed resources, a
 * real sidecar's traffic follows a route change delivered that way, and a reconnecting sidecar
 * gets a whole snapshot first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import { createCsr, generateRsaKeyPair } from '../../lib/pki/index.js';
import type { ControlPlaneMessage, DeltaMessage, SnapshotMessage } from '../../lib/protocol/messages.js';
import { ResourceSnapshot } from '../../lib/protocol/resources.js';
import { adminRequest } from '../../runtime/control-plane/admin-client.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';
import {
  deployment,
  type Fixture,
  fixture,
  freePort,
  outboundGet,
  reviewsIdentity,
  service,
  startClient,
  startControlPlane,
  type TestClient,
  trustBundle,
  virtualService,
} from './helpers.js';

let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const clients: TestClient[] = [];
const children: ChildProcess[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
  }
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) s.close();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

const ROOT = join(import.meta.dirname, '..', '..');

const weightOf = (s: { objects: { kind: string }[] }): number | undefined =>
  (s.objects.find((o) => o.kind === 'VirtualService') as any)?.spec?.http?.[0]?.route?.[0]?.weight;

async function apply(yaml: string): Promise<void> {
  const answer = await adminRequest(cp!.addresses.adminSocket, 'POST', '/v1/apply', { yaml });
  expect(answer.status).toBe(200);
}

describe('deltas (protocol version 3)', () => {
  it('sends a change as a delta of the changed resource; a reconnect resyncs with a whole snapshot', async () => {
    f = await fixture();
    const port = await freePort();
    cp = await startControlPlane(f, { listen: { host: '127.0.0.1', port }, settleMs: 0 });
    const client = startClient({
      address: `127.0.0.1:${port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
    });
    clients.push(client);
    const first = await client.nextSnapshot();
    await expect.poll(() => cp!.proxies()[0]?.state).toBe('SYNCED');
    expect(cp.metrics.deltas).toBe(0);
    const wholeBytes = cp.metrics.pushBytes / cp.metrics.pushes;

    const bytesBefore = cp.metrics.pushBytes;
    await apply(
      virtualService('default', 'reviews', [
        ['v1', 10],
        ['v2', 90],
      ]),
    );
    const changed = client.snapshots.at(-1)!;
    expect(weightOf(changed)).toBe(10);
    expect(cp.metrics.deltas).toBe(1);
    const deltaBytes = cp.metrics.pushBytes - bytesBefore;
    expect(deltaBytes).toBeLessThan(wholeBytes);
    // What the sidecar rebuilt is what a whole snapshot of that content hashes to.
    expect(ResourceSnapshot.fromBody(changed.version, changed).hash).toBe(changed.hash);
    expect(changed.objects.filter((o) => o.kind !== 'VirtualService')).toEqual(
      first.objects.filter((o) => o.kind !== 'VirtualService'),
    );
    expect(changed.workloads).toEqual(first.workloads);

    // The control plane goes away and comes back: the sidecar gets a whole snapshot first.
    await cp.close();
    cp = await startControlPlane(f, { listen: { host: '127.0.0.1', port }, settleMs: 0 });
    await expect.poll(() => cp!.proxies()[0]?.state, { timeout: 15_000 }).toBe('SYNCED');
    expect(cp.metrics.pushes).toBeGreaterThanOrEqual(1);
    expect(cp.metrics.deltas).toBe(0);
    const resynced = client.snapshots.at(-1)!;
    expect(resynced.version).toBeGreaterThan(changed.version);
    expect(weightOf(resynced)).toBe(10);
    await apply(
      virtualService('default', 'reviews', [
        ['v1', 30],
        ['v2', 70],
      ]),
    );
    expect(weightOf(client.snapshots.at(-1)!)).toBe(30);
    expect(cp.metrics.deltas).toBe(1);
    expect(client.logs.join('\n')).not.toContain('refused snapshot');
  });

  it("a real sidecar's traffic follows a route change delivered as a delta", {
    timeout: 60_000,
  }, async () => {
    // Two unmeshed pods of reviews (v1 and v2) on their own loopback addresses, one port.
    const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
    const app = async (address: string, version: string, port = 0): Promise<number> => {
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(version));
      });
      servers.push(server);
      await new Promise<void>((r) => server.listen(port, address, () => r()));
      return (server.address() as AddressInfo).port;
    };
    const appPort = await app(`${net}.21`, 'v1');
    await app(`${net}.22`, 'v2', appPort);
    const yaml = [
      deployment('default', 'sleep', { app: 'sleep' }, 'sleep'),
      service('default', 'sleep', { app: 'sleep' }, 80),
      service('default', 'reviews', { app: 'reviews' }).replace(
        'port: 9080 }',
        `port: 9080, targetPort: ${appPort} }`,
      ),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`,
      virtualService('default', 'reviews', [['v1', 100]]),
    ].join('---\n');
    f = await fixture(yaml);
    cp = await startControlPlane(f);
    for (const version of ['v1', 'v2']) {
      cp.registerWorkload({
        name: `reviews-${version}-0`,
        namespace: 'default',
        workload: `reviews-${version}`,
        serviceAccount: 'reviews',
        labels: { app: 'reviews', version },
        address: `${net}.${version === 'v1' ? 21 : 22}`,
        ports: [{ containerPort: appPort }],
        meshed: false,
      });
    }
    const clientAddr = `${net}.12`;
    const sidecar = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'runtime/cli/main.ts',
        'proxy',
        '--control-plane',
        `127.0.0.1:${cp.addresses.discovery.port}`,
        '--trust-bundle',
        join(f.stateDir, 'ca', 'trust-bundle.pem'),
        '--address',
        clientAddr,
        '--admin-socket',
        join(f.dir, 'sleep.sock'),
        '--no-access-log',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          TSMESH_BOOTSTRAP_TOKEN: cp.mintToken('default', 'sleep').token,
          TSMESH_NAMESPACE: 'default',
          TSMESH_POD_NAME: 'sleep-0',
          TSMESH_SERVICE_ACCOUNT: 'sleep',
          TSMESH_WORKLOAD: 'sleep',
          TSMESH_POD_LABELS: JSON.stringify({ app: 'sleep' }),
          TSMESH_POD_PORTS: JSON.stringify([{ name: 'http', containerPort: 8080 }]),
        },
      },
    );
    let stderr = '';
    sidecar.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    children.push(sidecar);
    const agent = new Agent({ keepAlive: true });
    const get = () => outboundGet(clientAddr, 'reviews:9080', agent);
    try {
      await expect.poll(get, { timeout: 40_000, interval: 250 }).toBe('200 v1');
      await expect.poll(() => cp!.proxies()[0]?.state).toBe('SYNCED');
      expect(cp.proxies()[0]?.protocolVersion).toBe(3);
      const deltas = cp.metrics.deltas;
      await apply(virtualService('default', 'reviews', [['v2', 100]]));
      expect(cp.metrics.deltas).toBe(deltas + 1);
      // apply answered after the sidecar ACKed: from now on every request goes to v2.
      const answers = new Set<string>();
      for (let i = 0; i < 20; i++) answers.add(await get());
      expect([...answers], stderr).toEqual(['200 v2']);
    } finally {
      agent.destroy();
    }
  });

  it('answers a NACK with resync by sending the whole snapshot at once', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const open = async (clientCert?: { certPem: string; chainPem: string; keyPem: string }) => {
      const conn = await ControlPlaneConnection.open({
        host: '127.0.0.1',
        port: cp!.addresses.discovery.port,
        trustBundlePem: await trustBundle(f!),
        localAddress: '127.0.0.1',
        serverName: 'tsmesh-control-plane.tsmesh-system.svc',
        expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
        ...(clientCert ? { clientCert } : {}),
      });
      conn.send({ type: 'hello', protocolVersion: 3, tsmeshVersion: 'test' });
      await conn.waitFor((m) => (m.type === 'welcome' ? m : undefined), 5000, 'welcome');
      return conn;
    };
    const keys = await generateRsaKeyPair();
    const boot = await open();
    const answer = boot.waitFor((m) => (m.type === 'certificate' ? m : undefined), 10_000, 'certificate');
    boot.send({
      type: 'csr',
      requestId: 'r1',
      csrPem: await createCsr(keys),
      token: cp.mintToken('default', 'reviews').token,
    });
    const cert = await answer;
    boot.close();
    const conn = await open({ certPem: cert.certPem, chainPem: cert.chainPem, keyPem: keys.privateKeyPem });
    const pushes: ControlPlaneMessage[] = [];
    conn.on('message', (m) => {
      if (m.type === 'snapshot' || m.type === 'delta') pushes.push(m);
    });
    const { pod, ...rest } = reviewsIdentity();
    conn.send({ type: 'register', ...rest, pod });
    await expect.poll(() => pushes.length).toBe(1);
    const whole = pushes[0] as SnapshotMessage;
    expect(whole.type).toBe('snapshot');
    conn.send({ type: 'ack', version: whole.version, hash: whole.hash! });
    await expect.poll(() => cp!.proxies()[0]?.state).toBe('SYNCED');
    await cp.apply(
      [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'reviews', namespace: 'default' },
          spec: {
            hosts: ['reviews'],
            http: [{ route: [{ destination: { host: 'reviews', subset: 'v2' } }] }],
          },
        } as MeshObject,
      ],
      'apply',
      100,
    );
    await expect.poll(() => pushes.length).toBe(2);
    const delta = pushes[1] as DeltaMessage;
    expect(delta).toMatchObject({ type: 'delta', base: { version: whole.version, hash: whole.hash } });
    expect(delta.objects?.map((o) => o.kind)).toEqual(['VirtualService']);
    conn.send({ type: 'nack', version: delta.version, error: 'lost my snapshot', resync: true });
    await expect.poll(() => pushes.length).toBe(3);
    const again = pushes[2] as SnapshotMessage;
    expect(again.type).toBe('snapshot');
    expect(again.hash).toBe(delta.hash);
    expect(ResourceSnapshot.fromBody(again.version, again.body).hash).toBe(again.hash);
    conn.send({ type: 'ack', version: again.version, hash: again.hash! });
    await expect.poll(() => cp!.proxies()[0]?.state).toBe('SYNCED');
    conn.close();
  });
});

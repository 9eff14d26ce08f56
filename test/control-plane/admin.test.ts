import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCsr, generateRsaKeyPair } from '../../lib/pki/index.js';
import type { ApplyResponse, ErrorResponse, ProxyStatus, StatusResponse } from '../../lib/protocol/admin.js';
import { ADMIN_ALPN } from '../../lib/protocol/messages.js';
import { adminRequest } from '../../runtime/control-plane/admin-client.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';
import { createControlPlaneSources } from '../../runtime/discovery-client/index.js';
import {
  type Fixture,
  fixture,
  reviewsIdentity,
  startClient,
  startControlPlane,
  type TestClient,
  trustBundle,
  virtualService,
} from './helpers.js';

let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const clients: TestClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const c of clients.splice(0)) await c.close();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

const weightOf = (s: { objects: { kind: string }[] }): number | undefined =>
  (s.objects.find((o) => o.kind === 'VirtualService') as any)?.spec?.http?.[0]?.route?.[0]?.weight;

async function started(): Promise<{ socket: string; client: TestClient }> {
  f = await fixture();
  cp = await startControlPlane(f);
  const client = startClient({
    address: `127.0.0.1:${cp.addresses.discovery.port}`,
    trustBundlePem: await trustBundle(f),
    token: cp.mintToken('default', 'reviews').token,
  });
  clients.push(client);
  await client.nextSnapshot();
  return { socket: cp.addresses.adminSocket, client };
}

describe('admin API', () => {
  it('applies objects, answers once the sidecar ACKed, and keeps them across a restart', async () => {
    const { socket, client } = await started();
    const answer = await adminRequest<ApplyResponse>(socket, 'POST', '/v1/apply', {
      yaml: virtualService('default', 'reviews', [
        ['v1', 5],
        ['v2', 95],
      ]),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.changed).toEqual(['VirtualService default/reviews']);
    expect(answer.body.acked).toEqual(['default/reviews-v1-0']);
    // The answer came after the ACK, so the sidecar already holds the change.
    expect(weightOf(client.snapshots.at(-1)!)).toBe(5);
    const saved = JSON.parse(await readFile(join(f!.stateDir, 'applied.json'), 'utf8'));
    expect(Object.keys(saved.overlay)).toEqual(['VirtualService/default/reviews']);

    await cp!.close();
    cp = await startControlPlane(f!);
    const vs = cp.config.objects.find((o) => o.kind === 'VirtualService') as any;
    expect(vs.spec.http[0].route[0].weight).toBe(5);
  });

  it('refuses invalid objects with every diagnostic and changes nothing', async () => {
    const { socket } = await started();
    await adminRequest(socket, 'POST', '/v1/apply', {
      yaml: virtualService('default', 'reviews', [
        ['v1', 50],
        ['v2', 50],
      ]),
    });
    const before = await readFile(join(f!.stateDir, 'applied.json'), 'utf8');
    const version = cp!.status().configVersion;
    const bad = `${virtualService('default', 'reviews', [
      ['v1', -5],
      ['v2', 105],
    ])}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec: { host: reviews, trafficPolicy: { loadBalancer: { simple: FASTEST } } }
`;
    const answer = await adminRequest<ErrorResponse>(socket, 'POST', '/v1/apply', { yaml: bad });
    expect(answer.status).toBe(400);
    const where = answer.body.diagnostics!.map((d) => `${d.object} ${d.path}`);
    expect(where).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/VirtualService default\/reviews spec\.http\[0\]\.route\[0\]\.weight/),
        expect.stringMatching(/DestinationRule default\/reviews spec\.trafficPolicy\.loadBalancer\.simple/),
      ]),
    );
    expect(await readFile(join(f!.stateDir, 'applied.json'), 'utf8')).toBe(before);
    expect(cp!.status().configVersion).toBe(version);
    const notMesh = await adminRequest<ErrorResponse>(socket, 'POST', '/v1/apply', {
      yaml: 'apiVersion: v1\nkind: Secret\nmetadata: { name: s }\n',
    });
    expect(notMesh.status).toBe(400);
    expect(notMesh.body.diagnostics![0].message).toContain('kind Secret are not mesh configuration');
  });

  it('deletes applied and file objects, persisted', async () => {
    const { socket, client } = await started();
    const answer = await adminRequest<ApplyResponse>(socket, 'POST', '/v1/delete', {
      objects: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'reviews', namespace: 'default' },
        },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.changed).toEqual(['VirtualService default/reviews']);
    expect(weightOf(client.snapshots.at(-1)!)).toBeUndefined();
    const missing = await adminRequest<ErrorResponse>(socket, 'POST', '/v1/delete', {
      objects: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'nope', namespace: 'default' },
        },
      ],
    });
    expect(missing.status).toBe(400);
    expect(missing.body.diagnostics![0].message).toBe('VirtualService default/nope does not exist');
    await cp!.close();
    cp = await startControlPlane(f!);
    expect(cp.config.objects.some((o) => o.kind === 'VirtualService')).toBe(false);
  });

  it('answers apply with the reason when a sidecar NACKs', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const sources = createControlPlaneSources({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
      identity: reviewsIdentity(),
      localAddress: '127.0.0.1',
      log: () => {},
    });
    cleanups.push(() => sources.close());
    let applied = 0;
    sources.snapshots.start((s) => {
      if (weightOf(s) === 1) throw new Error('cannot compile route reviews: refusing weight 1 in this test');
      applied++;
    });
    sources.certificates.start(() => {});
    await expect.poll(() => applied, { timeout: 10_000 }).toBeGreaterThan(0);
    const answer = await adminRequest<ErrorResponse>(cp.addresses.adminSocket, 'POST', '/v1/apply', {
      yaml: virtualService('default', 'reviews', [
        ['v1', 1],
        ['v2', 99],
      ]),
    });
    expect(answer.status).toBe(409);
    expect(answer.body.nacks).toEqual([
      {
        proxy: 'default/reviews-v1-0',
        version: expect.any(Number),
        error: 'cannot compile route reviews: refusing weight 1 in this test',
      },
    ]);
    const proxies = await adminRequest<ProxyStatus[]>(cp.addresses.adminSocket, 'GET', '/v1/proxies');
    expect(proxies.body[0]).toMatchObject({
      state: 'NACKED',
      error: expect.stringContaining('refusing weight 1'),
    });
  });

  it('registers unmeshed pods as a trusted source and removes them', async () => {
    const { socket, client } = await started();
    const pod = {
      name: 'reviews-legacy-0',
      namespace: 'default',
      workload: 'reviews-legacy',
      serviceAccount: 'default',
      labels: { app: 'reviews', version: 'v1' },
      address: '127.0.0.44',
      ports: [{ containerPort: 9080 }],
      meshed: false,
    };
    expect((await adminRequest(socket, 'POST', '/v1/workloads', { ...pod, meshed: true })).status).toBe(400);
    expect((await adminRequest(socket, 'POST', '/v1/workloads', pod)).status).toBe(201);
    await client.nextSnapshot((s) =>
      s.workloads.some((w) => w.name === 'reviews-legacy-0' && w.meshed === false),
    );
    expect((await adminRequest(socket, 'DELETE', '/v1/workloads/default/reviews-legacy-0')).status).toBe(200);
    const n = client.snapshots.length;
    await client.nextSnapshot(
      (s) => client.snapshots.indexOf(s) >= n && !s.workloads.some((w) => w.name === 'reviews-legacy-0'),
    );
    expect((await adminRequest(socket, 'DELETE', '/v1/workloads/default/reviews-legacy-0')).status).toBe(404);
  });

  it('lists proxies, certificates and status, and exports metrics on the monitoring port', async () => {
    const { socket, client } = await started();
    await expect.poll(() => cp!.proxies()[0]?.state).toBe('SYNCED');
    const proxies = (await adminRequest<ProxyStatus[]>(socket, 'GET', '/v1/proxies')).body;
    const cert = client.certificates.at(-1)!;
    expect(proxies).toEqual([
      expect.objectContaining({
        identity: 'spiffe://cluster.local/ns/default/sa/reviews',
        pod: 'reviews-v1-0',
        address: '127.0.0.1',
        state: 'SYNCED',
        protocolVersion: 3,
        tsmeshVersion: expect.any(String),
        certificate: { serial: cert.serial, notAfter: cert.notAfter.toISOString() },
      }),
    ]);
    const certs = (
      await adminRequest<{ serial: string; identity: string }[]>(socket, 'GET', '/v1/certificates')
    ).body;
    expect(certs.map((c) => c.serial)).toContain(cert.serial);
    const status = (await adminRequest<StatusResponse>(socket, 'GET', '/v1/status')).body;
    expect(status.counts).toMatchObject({ proxies: 1, synced: 1, workloads: 1 });
    expect(status.protocolVersions).toEqual([2, 3]);
    const metrics = await (await fetch(`http://127.0.0.1:${cp!.addresses.monitoring!.port}/metrics`)).text();
    expect(metrics).toContain('tsmesh_proxies{state="SYNCED"} 1');
    expect(metrics).toMatch(/tsmesh_push_latency_seconds_count [1-9]/);
    expect(metrics).toContain('tsmesh_config_errors_total 0');
    expect(metrics).toMatch(/tsmesh_certificates_issued_total [1-9]/);
    const post = await fetch(`http://127.0.0.1:${cp!.addresses.monitoring!.port}/status`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('serves the admin API on the TLS port only to an admin identity', async () => {
    const { socket } = await started();
    const adminToken = (
      await adminRequest<{ token: string }>(socket, 'POST', '/v1/tokens', {
        namespace: 'tsmesh-system',
        serviceAccount: 'tsmesh-control-plane',
      })
    ).body.token;
    const certFor = async (token: string) => {
      const keys = await generateRsaKeyPair();
      const conn = await ControlPlaneConnection.open({
        host: '127.0.0.1',
        port: cp!.addresses.discovery.port,
        trustBundlePem: await trustBundle(f!),
        serverName: 'tsmesh-control-plane.tsmesh-system.svc',
        expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
      });
      conn.send({ type: 'hello', protocolVersion: 2, tsmeshVersion: 'test' });
      const answer = conn.waitFor((m) => (m.type === 'certificate' ? m : undefined), 5000, 'certificate');
      conn.send({ type: 'csr', requestId: 'x', csrPem: await createCsr(keys), token });
      const m = await answer;
      conn.close();
      return { cert: m.certPem, key: keys.privateKeyPem };
    };
    const ca = await trustBundle(f!);
    const get = (id: { cert: string; key: string }) =>
      new Promise<number>((resolve, reject) => {
        const options = {
          host: '127.0.0.1',
          port: cp!.addresses.discovery.port,
          path: '/v1/status',
          ca,
          servername: 'tsmesh-control-plane.tsmesh-system.svc',
          ALPNProtocols: [ADMIN_ALPN],
          cert: id.cert,
          key: id.key,
        };
        const req = request(options as import('node:https').RequestOptions, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get(await certFor(adminToken))).toBe(200);
    expect(await get(await certFor(cp!.mintToken('default', 'reviews').token))).toBe(403);
  });
});

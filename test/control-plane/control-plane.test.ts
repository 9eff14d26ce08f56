import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeCertificate } from '../../lib/pki/index.js';
import { ResourceSnapshot } from '../../lib/protocol/resources.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import {
  bookinfoYaml,
  type Fixture,
  fixture,
  startClient,
  startControlPlane,
  type TestClient,
  trustBundle,
} from './helpers.js';

let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

function weightOf(snapshot: { objects: { kind: string; spec?: unknown }[] }): number | undefined {
  const vs = snapshot.objects.find((o) => o.kind === 'VirtualService') as any;
  return vs?.spec?.http?.[0]?.route?.[0]?.weight;
}

describe('control plane and discovery client', () => {
  it('gives a sidecar a certificate for its token identity and a hashed snapshot', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const { token } = cp.mintToken('default', 'reviews');
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token,
    });
    clients.push(client);
    const cert = await client.nextCertificate();
    const info = describeCertificate(cert.certPem);
    expect(info.uris).toEqual(['spiffe://cluster.local/ns/default/sa/reviews']);
    expect(info.isCa).toBe(false);
    expect(cert.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    const snap = await client.nextSnapshot();
    expect(snap.hash).toBe(ResourceSnapshot.fromBody(snap.version, snap).hash);
    expect(weightOf(snap)).toBe(75);
    expect(snap.workloads.map((w) => w.name)).toContain('reviews-v1-0');
    const proxies = cp.proxies();
    expect(proxies).toHaveLength(1);
    await expect.poll(() => cp!.proxies()[0].state).toBe('SYNCED');
    expect(cp.proxies()[0].certificate?.serial).toBe(cert.serial);
  });

  it('pushes a config file change to the sidecar, which ACKs it', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const { token } = cp.mintToken('default', 'reviews');
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token,
    });
    clients.push(client);
    const first = await client.nextSnapshot();
    await writeFile(join(f.configDir, 'mesh.yaml'), bookinfoYaml([10, 90]));
    const next = await client.nextSnapshot((s) => weightOf(s) === 10);
    expect(next.version).toBeGreaterThan(first.version);
    await expect
      .poll(() => cp!.proxies()[0])
      .toMatchObject({ state: 'SYNCED', ackedVersion: next.version, hash: next.hash });
  });

  it('refuses invalid config and keeps serving the last good one', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const { token } = cp.mintToken('default', 'reviews');
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token,
    });
    clients.push(client);
    await client.nextSnapshot();
    const version = cp.status().configVersion;
    await writeFile(
      join(f.configDir, 'mesh.yaml'),
      bookinfoYaml([10, 90]).replace('networking.istio.io/v1', 'networking.istio.io/v9'),
    );
    await expect.poll(() => cp!.status().lastConfigError?.message, { timeout: 5000 }).toContain('apiVersion');
    expect(cp.status().configVersion).toBe(version);
    expect(cp.metrics.configErrors).toBeGreaterThan(0);
    expect(client.snapshots.every((s) => weightOf(s) === 75)).toBe(true);
    // Fixing the file clears the error and the change goes through.
    await writeFile(join(f.configDir, 'mesh.yaml'), bookinfoYaml([20, 80]));
    await client.nextSnapshot((s) => weightOf(s) === 20);
    expect(cp.status().lastConfigError).toBeUndefined();
  });
});

describe('certificates and endpoints over time', () => {
  it('rotates the certificate over the open connection, at about half its lifetime', {
    timeout: 75_000,
  }, async () => {
    f = await fixture();
    // A rotation generates an RSA key first, which alone takes seconds on a loaded 2-core
    // machine: 20 s leaves ~10 s between the rotation time and the old certificate's expiry.
    cp = await startControlPlane(f, { certTtlMs: 20_000 });
    const { createControlPlaneSources } = await import('../../runtime/discovery-client/index.js');
    const { reviewsIdentity } = await import('./helpers.js');
    const sources = createControlPlaneSources({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
      identity: reviewsIdentity(),
      localAddress: '127.0.0.1',
      log: () => {},
    });
    const certs: { serial: string; at: number; notAfter: Date }[] = [];
    sources.certificates.start((c) => {
      certs.push({ serial: c.serial, at: Date.now(), notAfter: c.notAfter });
    });
    sources.snapshots.start(() => {});
    try {
      await expect.poll(() => certs.length, { timeout: 50_000 }).toBeGreaterThanOrEqual(3);
      expect(new Set(certs.map((c) => c.serial)).size).toBe(certs.length);
      // Each rotation came well before the previous certificate expired.
      for (let i = 1; i < certs.length; i++)
        expect(certs[i].at).toBeLessThan(certs[i - 1].notAfter.getTime() - 500);
      expect(sources.status().reconnects).toBe(0);
      await expect.poll(() => cp!.proxies()[0]?.certificate?.serial).toBe(certs.at(-1)!.serial);
    } finally {
      await sources.close();
    }
  });

  it("removes a vanished sidecar's endpoints after the grace period, not before", async () => {
    f = await fixture();
    cp = await startControlPlane(f, { graceMs: 1500 });
    const { reviewsIdentity } = await import('./helpers.js');
    const address = `127.0.0.1:${cp.addresses.discovery.port}`;
    const bundle = await trustBundle(f);
    const reviews = startClient({
      address,
      trustBundlePem: bundle,
      token: cp.mintToken('default', 'reviews').token,
    });
    const other = startClient({
      address,
      trustBundlePem: bundle,
      token: cp.mintToken('default', 'reviews').token,
      identity: reviewsIdentity('reviews-v1-1'),
    });
    clients.push(reviews);
    await reviews.nextSnapshot((s) => s.workloads.length === 2);
    const seen = reviews.snapshots.length;
    await other.close();
    const closedAt = Date.now();
    const gone = await reviews.nextSnapshot(
      (s) => reviews.snapshots.indexOf(s) >= seen && s.workloads.length === 1,
      10_000,
    );
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(1400);
    expect(gone.workloads.map((w) => w.name)).toEqual(['reviews-v1-0']);
  });
});

describe('configuration mounted from a ConfigMap', () => {
  it("follows the kubelet's atomic ..data symlink swap", async () => {
    const { mkdir, rename, rm, symlink } = await import('node:fs/promises');
    f = await fixture('');
    await rm(join(f.configDir, 'mesh.yaml'));
    // The kubelet's layout: a timestamped folder, `..data` pointing at it, and files linking through it.
    const publish = async (stamp: string, weights: [number, number]) => {
      await mkdir(join(f!.configDir, stamp));
      await writeFile(join(f!.configDir, stamp, 'default.yaml'), bookinfoYaml(weights));
    };
    await publish('..2026_01_01_00_00_00.000000001', [75, 25]);
    await symlink('..2026_01_01_00_00_00.000000001', join(f.configDir, '..data'));
    await symlink('..data/default.yaml', join(f.configDir, 'default.yaml'));
    cp = await startControlPlane(f);
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
    });
    clients.push(client);
    expect(weightOf(await client.nextSnapshot())).toBe(75);
    await publish('..2026_01_01_00_01_00.000000002', [40, 60]);
    await symlink('..2026_01_01_00_01_00.000000002', join(f.configDir, '..data_tmp'));
    await rename(join(f.configDir, '..data_tmp'), join(f.configDir, '..data'));
    await rm(join(f.configDir, '..2026_01_01_00_00_00.000000001'), { recursive: true });
    await client.nextSnapshot((s) => weightOf(s) === 40);
    expect(cp.status().lastConfigError).toBeUndefined();
  });
});

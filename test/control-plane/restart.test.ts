import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminRequest } from '../../runtime/control-plane/admin-client.js';
import {
  bookinfoYaml,
  type ControlPlaneProcess,
  deployment,
  type Fixture,
  fixture,
  freePort,
  reviewsIdentity,
  service,
  spawnControlPlane,
  startClient,
  type TestClient,
  trustBundle,
} from './helpers.js';

let f: Fixture | undefined;
const processes: ControlPlaneProcess[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const p of processes.splice(0)) await p.kill('SIGKILL');
  await f?.cleanup();
  f = undefined;
});

const meshYaml = (weights: [number, number]): string =>
  [
    bookinfoYaml(weights),
    deployment('default', 'ratings-v1', { app: 'ratings', version: 'v1' }, 'ratings'),
    service('default', 'ratings', { app: 'ratings' }),
  ].join('---\n');

const weightOf = (s: { objects: { kind: string }[] }): number | undefined =>
  (s.objects.find((o) => o.kind === 'VirtualService') as any)?.spec?.http?.[0]?.route?.[0]?.weight;

const endpoints = (s: { workloads: { name: string }[] }): string[] => s.workloads.map((w) => w.name).sort();

async function token(socket: string, serviceAccount: string): Promise<string> {
  const answer = await adminRequest<{ token: string }>(socket, 'POST', '/v1/tokens', {
    namespace: 'default',
    serviceAccount,
  });
  return answer.body.token;
}

describe('control plane restarts', () => {
  it('keeps the CA root across restarts, and certificates issued before stay valid', async () => {
    f = await fixture(meshYaml([75, 25]));
    const port = await freePort();
    const first = await spawnControlPlane(f, port);
    processes.push(first);
    const rootBefore = await readFile(join(f.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    const keyBefore = await readFile(join(f.stateDir, 'ca', 'ca-key.pem'), 'utf8');
    const socket = join(f.stateDir, 'control-plane.sock');
    const client = startClient({
      address: `127.0.0.1:${port}`,
      trustBundlePem: await trustBundle(f),
      token: await token(socket, 'reviews'),
    });
    clients.push(client);
    const cert = await client.nextCertificate();
    await client.nextSnapshot();
    expect(await first.kill('SIGTERM')).toBe(0);
    const second = await spawnControlPlane(f, port);
    processes.push(second);
    expect(await readFile(join(f.stateDir, 'ca', 'root-cert.pem'), 'utf8')).toBe(rootBefore);
    expect(await readFile(join(f.stateDir, 'ca', 'ca-key.pem'), 'utf8')).toBe(keyBefore);
    expect(second.stderr()).not.toContain('created a new mesh CA');
    // The sidecar reconnects with the certificate from the first run; no new bootstrap.
    await expect
      .poll(
        async () =>
          (await adminRequest<{ certificate?: { serial: string } }[]>(socket, 'GET', '/v1/proxies')).body[0]
            ?.certificate?.serial,
        {
          timeout: 20_000,
        },
      )
      .toBe(cert.serial);
    expect(client.certificates).toHaveLength(1);
  });

  it('a sidecar keeps its snapshot while the control plane is killed, resyncs after, and loses no endpoint', async () => {
    f = await fixture(meshYaml([75, 25]));
    const port = await freePort();
    const socket = join(f.stateDir, 'control-plane.sock');
    processes.push(await spawnControlPlane(f, port));
    const bundle = await trustBundle(f);
    expect(
      (
        await adminRequest(socket, 'POST', '/v1/workloads', {
          name: 'ratings-v1-0',
          namespace: 'default',
          workload: 'ratings-v1',
          serviceAccount: 'ratings',
          labels: { app: 'ratings', version: 'v1' },
          address: '127.0.0.33',
          ports: [{ containerPort: 9080 }],
          meshed: false,
        })
      ).status,
    ).toBe(201);
    const reviews = startClient({
      address: `127.0.0.1:${port}`,
      trustBundlePem: bundle,
      token: await token(socket, 'reviews'),
    });
    const productpage = startClient({
      address: `127.0.0.1:${port}`,
      trustBundlePem: bundle,
      token: await token(socket, 'productpage'),
      identity: {
        ...reviewsIdentity('productpage-v1-0'),
        serviceAccount: 'productpage',
        workload: 'productpage-v1',
        labels: { app: 'productpage', version: 'v1' },
      },
    });
    clients.push(reviews, productpage);
    const all = ['productpage-v1-0', 'ratings-v1-0', 'reviews-v1-0'];
    const before = await reviews.nextSnapshot((s) => endpoints(s).join() === all.join(), 15_000);
    await productpage.nextSnapshot((s) => endpoints(s).join() === all.join(), 15_000);

    await processes[0].kill('SIGKILL');
    processes.shift();
    await writeFile(join(f.configDir, 'mesh.yaml'), meshYaml([30, 70]));
    await new Promise((r) => setTimeout(r, 1500));
    const received = reviews.snapshots.length;
    // While the control plane is away the sidecar keeps what it had.
    expect(reviews.snapshots.at(-1)).toBe(before);

    processes.push(await spawnControlPlane(f, port));
    const after = await reviews.nextSnapshot((s) => weightOf(s) === 30, 20_000);
    expect(after.version).toBeGreaterThan(before.version);
    await productpage.nextSnapshot((s) => weightOf(s) === 30, 20_000);
    // Give the registry time to drop anything it would drop, then check every snapshot since the restart.
    await new Promise((r) => setTimeout(r, 1500));
    for (const s of reviews.snapshots.slice(received)) expect(endpoints(s)).toEqual(all);
    for (const s of productpage.snapshots.filter((s) => weightOf(s) === 30))
      expect(endpoints(s)).toEqual(all);
    await expect
      .poll(
        async () =>
          (await adminRequest<{ state: string }[]>(socket, 'GET', '/v1/proxies')).body.map((p) => p.state),
        { timeout: 10_000 },
      )
      .toEqual(['SYNCED', 'SYNCED']);
  });
});

describe('warm-up without a persisted registry', () => {
  it('withholds pushes to reconnecting sidecars until registrations settle, so none sees a partial mesh', async () => {
    const { rm } = await import('node:fs/promises');
    const { startControlPlane } = await import('./helpers.js');
    f = await fixture(meshYaml([75, 25]));
    const port = await freePort();
    let cp = await startControlPlane(f, { listen: { host: '127.0.0.1', port } });
    try {
      const bundle = await trustBundle(f);
      const reviews = startClient({
        address: `127.0.0.1:${port}`,
        trustBundlePem: bundle,
        token: cp.mintToken('default', 'reviews').token,
      });
      const productpage = startClient({
        address: `127.0.0.1:${port}`,
        trustBundlePem: bundle,
        token: cp.mintToken('default', 'productpage').token,
        identity: {
          ...reviewsIdentity('productpage-v1-0'),
          serviceAccount: 'productpage',
          workload: 'productpage-v1',
          labels: { app: 'productpage', version: 'v1' },
        },
        // Reconnects later than the other sidecar, as a slow pod would.
        initialBackoffMs: 800,
        maxBackoffMs: 1000,
      });
      clients.push(reviews, productpage);
      const both = ['productpage-v1-0', 'reviews-v1-0'];
      await reviews.nextSnapshot((s) => endpoints(s).join() === both.join(), 15_000);
      await productpage.nextSnapshot((s) => endpoints(s).join() === both.join(), 15_000);
      await cp.close();
      // The registry is lost (for example a new pod without the old state folder).
      await rm(join(f.stateDir, 'registry.json'));
      const seen = reviews.snapshots.length;
      cp = await startControlPlane(f, { listen: { host: '127.0.0.1', port }, settleMs: 3000 });
      await writeFile(join(f.configDir, 'mesh.yaml'), meshYaml([20, 80]));
      await reviews.nextSnapshot((s) => weightOf(s) === 20, 20_000);
      for (const s of reviews.snapshots.slice(seen)) expect(endpoints(s)).toEqual(both);
    } finally {
      await cp.close();
    }
  });
});

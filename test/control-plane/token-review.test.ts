/**
 * Kubernetes bootstrap against a fake API server (the only fake allowed: tsmesh does not ship
 * the Kubernetes API server). It replays TokenReview answers in the API server's format, kept in
 * fixtures/tokenreview/, chosen by the token under review.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateSigner, createRootCertificate, generateRsaKeyPair } from '../../lib/pki/index.js';
import { CaMissingError, createCaFiles } from '../../runtime/control-plane/ca-store.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { TokenReviewer } from '../../runtime/control-plane/token-review.js';
import { type Fixture, fixture, startClient, startControlPlane, type TestClient } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'tokenreview');
const REPLAY: Record<string, { file: string; status: number }> = {
  'sa-token-reviews': { file: 'authenticated.json', status: 201 },
  'sa-token-default-audience': { file: 'wrong-audience.json', status: 201 },
  garbage: { file: 'invalid.json', status: 201 },
  'admin-user-token': { file: 'user-not-service-account.json', status: 201 },
};
const CONTROL_PLANE_CREDENTIAL = 'control-plane-sa-token';

interface FakeApiServer {
  url: string;
  caPem: string;
  requests: { authorization?: string; path?: string; body: any }[];
  forbidAll: boolean;
  close(): Promise<void>;
}

async function fakeApiServer(): Promise<FakeApiServer> {
  const rootKeys = await generateRsaKeyPair();
  const caPem = await createRootCertificate({ ...rootKeys, trustDomain: 'kubernetes' });
  const keys = await generateRsaKeyPair();
  const cert = await new CertificateSigner(caPem, rootKeys.privateKeyPem).issue({
    publicKeyPem: keys.publicKeyPem,
    spiffeId: 'spiffe://kubernetes/ns/default/sa/apiserver',
    dnsNames: ['localhost', 'kubernetes.default.svc'],
    ttlMs: 3600_000,
  });
  const fake: FakeApiServer = { url: '', caPem, requests: [], forbidAll: false, close: async () => {} };
  const server: Server = createServer({ key: keys.privateKeyPem, cert: cert.certPem }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString());
    fake.requests.push({ authorization: req.headers.authorization, path: req.url, body });
    const authorized = req.headers.authorization === `Bearer ${CONTROL_PLANE_CREDENTIAL}`;
    const replay =
      fake.forbidAll || !authorized
        ? { file: 'forbidden.json', status: 403 }
        : (REPLAY[body.spec?.token] ?? { file: 'invalid.json', status: 201 });
    res.writeHead(replay.status, { 'content-type': 'application/json' });
    res.end(await readFile(join(FIXTURES, replay.file)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.url = `https://localhost:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((r) => server.close(() => r()));
  return fake;
}

let api: FakeApiServer | undefined;
let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await cp?.close();
  cp = undefined;
  await api?.close();
  api = undefined;
  await f?.cleanup();
  f = undefined;
});

const reviewer = (fake: FakeApiServer) =>
  new TokenReviewer({
    apiServer: fake.url,
    caPem: fake.caPem,
    bearerToken: async () => CONTROL_PLANE_CREDENTIAL,
  });

describe('TokenReview client', () => {
  it('maps an authenticated service-account token to its namespace, service account and pod', async () => {
    api = await fakeApiServer();
    expect(await reviewer(api).review('sa-token-reviews')).toEqual({
      namespace: 'default',
      serviceAccount: 'reviews',
      pod: 'reviews-v1-5f7d8c9b6-x2k4q',
    });
    expect(api.requests[0]).toMatchObject({
      authorization: `Bearer ${CONTROL_PLANE_CREDENTIAL}`,
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: 'sa-token-reviews', audiences: ['tsmesh-ca'] },
      },
    });
  });

  it('refuses tokens the API server does not vouch for, with its reason', async () => {
    api = await fakeApiServer();
    const r = reviewer(api);
    await expect(r.review('sa-token-default-audience')).rejects.toThrow(
      /is invalid for the target audiences/,
    );
    await expect(r.review('garbage')).rejects.toThrow(/invalid bearer token/);
    await expect(r.review('admin-user-token')).rejects.toThrow(/"kubernetes-admin" is not a service account/);
    api.forbidAll = true;
    await expect(r.review('sa-token-reviews')).rejects.toThrow(
      /answered 403: .*cannot create resource "tokenreviews"/,
    );
  });

  it('reads the in-cluster API server and credentials', async () => {
    api = await fakeApiServer();
    const dir = await mkdtemp(join(tmpdir(), 'tsmesh-sa-'));
    try {
      await writeFile(join(dir, 'token'), `${CONTROL_PLANE_CREDENTIAL}\n`);
      await writeFile(join(dir, 'ca.crt'), api.caPem);
      const port = new URL(api.url).port;
      const inCluster = await TokenReviewer.inCluster(
        { KUBERNETES_SERVICE_HOST: 'localhost', KUBERNETES_SERVICE_PORT: port },
        { tokenPath: join(dir, 'token'), caPath: join(dir, 'ca.crt') },
      );
      expect((await inCluster.review('sa-token-reviews')).serviceAccount).toBe('reviews');
      await expect(TokenReviewer.inCluster({})).rejects.toThrow('KUBERNETES_SERVICE_HOST is not set');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes mode', () => {
  it('refuses to start without the CA Secret and says how to create it', async () => {
    f = await fixture();
    await expect(startControlPlane(f, { kubernetes: true, caDir: join(f.dir, 'missing') })).rejects.toThrow(
      CaMissingError,
    );
    await expect(startControlPlane(f, { kubernetes: true, caDir: join(f.dir, 'missing') })).rejects.toThrow(
      /tsmesh ca init/,
    );
  });

  it('bootstraps a sidecar with its projected service-account token and refuses apply', async () => {
    api = await fakeApiServer();
    f = await fixture();
    const caDir = join(f.dir, 'secret');
    await createCaFiles(caDir, 'cluster.local');
    cp = await startControlPlane(f, { kubernetes: true, caDir, tokenReviewer: reviewer(api) });
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: [await readFile(join(caDir, 'trust-bundle.pem'), 'utf8')],
      token: 'sa-token-reviews',
    });
    clients.push(client);
    const cert = await client.nextCertificate();
    expect(cert.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    await client.nextSnapshot();
    const refused = await cp.apply([], 'apply');
    expect(refused.status).toBe(403);
    expect((refused.body as { error: string }).error).toContain('GitOps');
    const bad = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: cert.trustBundlePem,
      token: 'garbage',
    });
    clients.push(bad);
    await expect.poll(() => bad.logs.join('\n'), { timeout: 10_000 }).toContain('invalid bearer token');
    expect(bad.certificates).toHaveLength(0);
  });
});

import forge from 'node-forge';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CertificateSigner,
  createCsr,
  createRootCertificate,
  describeCertificate,
  generateRsaKeyPair,
} from '../../lib/pki/index.js';
import type { ControlPlaneMessage } from '../../lib/protocol/messages.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';
import {
  type Fixture,
  fixture,
  reviewsIdentity,
  startClient,
  startControlPlane,
  type TestClient,
  trustBundle,
} from './helpers.js';

let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const clients: TestClient[] = [];
const conns: ControlPlaneConnection[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const c of clients.splice(0)) await c.close();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

const SERVER = {
  serverName: 'tsmesh-control-plane.tsmesh-system.svc',
  expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
};

async function connect(
  clientCert?: { certPem: string; chainPem: string; keyPem: string },
  localAddress = '127.0.0.1',
) {
  const conn = await ControlPlaneConnection.open({
    host: '127.0.0.1',
    port: cp!.addresses.discovery.port,
    trustBundlePem: await trustBundle(f!),
    localAddress,
    ...SERVER,
    ...(clientCert ? { clientCert } : {}),
  });
  conns.push(conn);
  conn.send({ type: 'hello', protocolVersion: 2, tsmeshVersion: 'test' });
  await conn.waitFor(
    (m) => (m.type === 'welcome' ? m : m.type === 'error' ? new Error(m.message) : undefined),
    5000,
    'welcome',
  );
  return conn;
}

function answer(conn: ControlPlaneConnection, type: ControlPlaneMessage['type']) {
  return conn.waitFor((m) => (m.type === type || m.type === 'error' ? m : undefined), 5000, type);
}

/** A CSR that claims another identity in its subject and a URI SAN. */
async function lyingCsr(keys: { privateKeyPem: string; publicKeyPem: string }): Promise<string> {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: 'productpage' }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [{ type: 6, value: 'spiffe://cluster.local/ns/default/sa/productpage' }],
        },
      ],
    },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(keys.privateKeyPem), forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

async function certificateFor(token: string) {
  const keys = await generateRsaKeyPair();
  const conn = await connect();
  conn.send({ type: 'csr', requestId: 'r1', csrPem: await createCsr(keys), token });
  const m = await answer(conn, 'certificate');
  conn.close();
  if (m.type !== 'certificate') throw new Error(`no certificate: ${JSON.stringify(m)}`);
  return { certPem: m.certPem, chainPem: m.chainPem, keyPem: keys.privateKeyPem };
}

describe('identity is proven, never claimed', () => {
  it('issues the identity of the token even when the CSR claims another', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const { token } = cp.mintToken('default', 'reviews');
    const keys = await generateRsaKeyPair();
    const conn = await connect();
    conn.send({ type: 'csr', requestId: 'a', csrPem: await lyingCsr(keys), token });
    const m = await answer(conn, 'certificate');
    expect(m.type).toBe('certificate');
    const info = describeCertificate((m as { certPem: string }).certPem);
    expect(info.uris).toEqual(['spiffe://cluster.local/ns/default/sa/reviews']);
    expect(info.dnsNames).toEqual([]);
  });

  it('refuses a CSR without a token, with a forged token, and with a token of another control plane', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const { token } = cp.mintToken('default', 'reviews');
    const csrPem = await createCsr(await generateRsaKeyPair());
    const conn = await connect();
    conn.send({ type: 'csr', requestId: 'none', csrPem });
    expect(await answer(conn, 'certificate')).toMatchObject({
      type: 'error',
      code: 'unauthenticated',
      requestId: 'none',
    });
    // Swap the identity in the payload and keep the signature.
    const [prefix, payload, mac] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.serviceAccount = 'productpage';
    const forged = `${prefix}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
    conn.send({ type: 'csr', requestId: 'forged', csrPem, token: forged });
    const refused = await answer(conn, 'certificate');
    expect(refused).toMatchObject({ type: 'error', code: 'unauthenticated', requestId: 'forged' });
    expect((refused as { message: string }).message).toContain('signature');
    const other = await fixture();
    const otherCp = await startControlPlane(other);
    try {
      const foreign = otherCp.mintToken('default', 'reviews').token;
      conn.send({ type: 'csr', requestId: 'foreign', csrPem, token: foreign });
      expect(await answer(conn, 'certificate')).toMatchObject({ type: 'error', code: 'unauthenticated' });
    } finally {
      await otherCp.close();
      await other.cleanup();
    }
    const expired = cp.mintToken('default', 'reviews', -1).token;
    conn.send({ type: 'csr', requestId: 'expired', csrPem, token: expired });
    expect((await answer(conn, 'certificate')) as { message: string }).toMatchObject({
      message: expect.stringContaining('expired'),
    });
  });

  it('refuses registration as another identity, from another address, or as an undeclared workload', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const cert = await certificateFor(cp.mintToken('default', 'reviews').token);
    const register = async (
      overrides: Partial<ReturnType<typeof reviewsIdentity>>,
      localAddress = '127.0.0.1',
    ) => {
      const conn = await connect(cert, localAddress);
      const id = { ...reviewsIdentity(), ...overrides };
      conn.send({ type: 'register', ...id });
      const m = await answer(conn, 'registered');
      conn.close();
      return m;
    };
    const otherSa = await register({
      serviceAccount: 'productpage',
      workload: 'productpage-v1',
      labels: { app: 'productpage', version: 'v1' },
    });
    expect(otherSa).toMatchObject({ type: 'error', code: 'permission-denied' });
    expect((otherSa as { message: string }).message).toContain('does not match the client certificate');
    const otherAddress = await register({ address: '127.0.0.9' });
    expect((otherAddress as { message: string }).message).toContain(
      "is not the connection's address 127.0.0.1",
    );
    const spoofedSource = await register({}, '127.0.0.2');
    expect((spoofedSource as { message: string }).message).toContain(
      "is not the connection's address 127.0.0.2",
    );
    const undeclared = await register({ workload: 'reviews-v9' });
    expect((undeclared as { message: string }).message).toContain('no Deployment default/reviews-v9');
    const wrongLabels = await register({ labels: { app: 'ratings', version: 'v1' } });
    expect((wrongLabels as { message: string }).message).toContain(
      'do not fit Deployment default/reviews-v1',
    );
    expect(await register({})).toMatchObject({
      type: 'registered',
      identity: 'spiffe://cluster.local/ns/default/sa/reviews',
    });
    expect(cp.metrics.registrationsRejected).toBe(5);
  });

  it('refuses to register a connection without a client certificate', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const conn = await connect();
    conn.send({ type: 'register', ...reviewsIdentity() });
    expect(await answer(conn, 'registered')).toMatchObject({ type: 'error', code: 'unauthenticated' });
  });

  it('closes connections whose client certificate comes from another CA', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const rootKeys = await generateRsaKeyPair();
    const rogueRoot = await createRootCertificate({ ...rootKeys, trustDomain: 'cluster.local' });
    const leafKeys = await generateRsaKeyPair();
    const rogue = await new CertificateSigner(rogueRoot, rootKeys.privateKeyPem).issue({
      publicKeyPem: leafKeys.publicKeyPem,
      spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews',
      ttlMs: 3600_000,
    });
    await expect(
      connect({ certPem: rogue.certPem, chainPem: '', keyPem: leafKeys.privateKeyPem }),
    ).rejects.toThrow(/client certificate rejected/);
  });

  it('a client refuses a control plane whose certificate is not the control plane identity', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    await expect(
      ControlPlaneConnection.open({
        host: '127.0.0.1',
        port: cp.addresses.discovery.port,
        trustBundlePem: await trustBundle(f),
        serverName: SERVER.serverName,
        expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/someone-else',
      }),
    ).rejects.toThrow(/is not spiffe:\/\/cluster.local\/ns\/tsmesh-system\/sa\/someone-else/);
    await expect(
      ControlPlaneConnection.open({
        host: '127.0.0.1',
        port: cp.addresses.discovery.port,
        trustBundlePem: await trustBundle(f),
        serverName: 'evil.example.com',
        expectedServerId: SERVER.expectedServerId,
      }),
    ).rejects.toThrow(/not for evil.example.com/);
  });

  it('a client with a token for another service account never gets its own identity', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'productpage').token,
    });
    clients.push(client);
    await expect
      .poll(() => client.logs.join('\n'), { timeout: 10_000 })
      .toContain('issued a certificate for spiffe://cluster.local/ns/default/sa/productpage');
    expect(client.certificates).toHaveLength(0);
    expect(cp.proxies()).toHaveLength(0);
  });
});

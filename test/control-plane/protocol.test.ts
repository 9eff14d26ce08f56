import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateSigner, createRootCertificate, generateRsaKeyPair } from '../../lib/pki/index.js';
import { canonicalJson, snapshotHash } from '../../lib/protocol/canonical.js';
import { decodeProxyMessage, ProtocolError } from '../../lib/protocol/decode.js';
import { encodeFrame, FrameDecoder, FrameError } from '../../lib/protocol/framing.js';
import { DISCOVERY_ALPN } from '../../lib/protocol/messages.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';
import {
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
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const c of cleanups.splice(0)) await c();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

describe('frames and messages', () => {
  it('reassembles frames split across chunks and refuses oversized ones before buffering them', () => {
    const frame = Buffer.concat([encodeFrame({ type: 'ping', at: 1 }), encodeFrame({ type: 'ping', at: 2 })]);
    const decoder = new FrameDecoder(1024);
    const out: unknown[] = [];
    for (let i = 0; i < frame.length; i += 3) out.push(...decoder.push(frame.subarray(i, i + 3)));
    expect(out).toEqual([
      { type: 'ping', at: 1 },
      { type: 'ping', at: 2 },
    ]);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(2048);
    expect(() => new FrameDecoder(1024).push(huge)).toThrow(FrameError);
    expect(() => encodeFrame({ big: 'x'.repeat(2000) }, 1024)).toThrow(/exceeds the limit of 1024/);
  });

  it('names the message, field and expectation of a malformed frame', () => {
    expect(() => decodeProxyMessage({ type: 'register', namespace: 'a' }, 2)).toThrow(ProtocolError);
    expect(() => decodeProxyMessage({ type: 'ack', version: -1 }, 2)).toThrow(
      'ack.version: expected a non-negative integer, got -1',
    );
    expect(() => decodeProxyMessage({ type: 'ack', version: 3 }, 2)).toThrow('ack.hash');
    expect(decodeProxyMessage({ type: 'ack', version: 3 }, 1)).toEqual({ type: 'ack', version: 3 });
    expect(() => decodeProxyMessage({ type: 'teleport' }, 2)).toThrow(/unknown message type "teleport"/);
  });

  it('gives one canonical text whether or not the keys arrive sorted', () => {
    const value = { z: [1, { b: null, a: 'x' }], '10': true, '9': false, a: { d: undefined, c: -0 } };
    const expected = '{"10":true,"9":false,"a":{"c":0},"z":[1,{"a":"x","b":null}]}';
    expect(canonicalJson(value)).toBe(expected);
    expect(canonicalJson(JSON.parse(expected))).toBe(expected);
    const sorted = { a: 1, b: [{ c: 2, d: 3 }] };
    expect(canonicalJson(sorted)).toBe(JSON.stringify(sorted));
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe('[null]');
  });

  it('hashes canonical JSON, independent of key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: undefined }] })).toBe('{"a":[{"d":2}],"b":1}');
    const a = { proxy: { namespace: 'x', labels: { b: '1', a: '2' } }, objects: [], workloads: [] };
    const b = { workloads: [], objects: [], proxy: { labels: { a: '2', b: '1' }, namespace: 'x' } };
    expect(snapshotHash(a)).toBe(snapshotHash(b));
    expect(snapshotHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('protocol versions', () => {
  it('syncs a proxy that speaks the previous protocol version (no hashes)', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
      protocolVersion: 1,
    });
    clients.push(client);
    const snap = await client.nextSnapshot();
    expect(snap.schema).toBe(SNAPSHOT_SCHEMA);
    await expect
      .poll(() => cp!.proxies()[0])
      .toMatchObject({ protocolVersion: 1, state: 'SYNCED', ackedVersion: snap.version });
  });

  it('refuses an unknown protocol version, naming the ones it speaks', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const conn = await ControlPlaneConnection.open({
      host: '127.0.0.1',
      port: cp.addresses.discovery.port,
      trustBundlePem: await trustBundle(f),
      serverName: 'tsmesh-control-plane.tsmesh-system.svc',
      expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
    });
    cleanups.push(() => conn.close());
    const answer = conn.waitFor((m) => (m.type === 'error' ? m : undefined), 5000, 'error');
    conn.send({ type: 'hello', protocolVersion: 7, tsmeshVersion: '9.9.9' });
    expect(await answer).toMatchObject({
      code: 'unsupported-protocol',
      fatal: true,
      message: expect.stringContaining('speaks 1 and 2'),
    });
  });
});

/** A scripted peer in the control plane's place: it hands out snapshots the test chooses. */
async function scriptedControlPlane() {
  const root = await generateRsaKeyPair();
  const rootPem = await createRootCertificate({ ...root, trustDomain: 'cluster.local' });
  const signer = new CertificateSigner(rootPem, root.privateKeyPem);
  const serverKeys = await generateRsaKeyPair();
  const serverCert = await signer.issue({
    publicKeyPem: serverKeys.publicKeyPem,
    spiffeId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
    dnsNames: ['tsmesh-control-plane.tsmesh-system.svc'],
    ttlMs: 3600_000,
  });
  const received: any[] = [];
  let current: TLSSocket | undefined;
  const server = createServer({
    key: serverKeys.privateKeyPem,
    cert: serverCert.certPem,
    ca: [rootPem],
    requestCert: true,
    rejectUnauthorized: false,
    ALPNProtocols: [DISCOVERY_ALPN],
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const decoder = new FrameDecoder();
    socket.on('error', () => {});
    socket.on('data', async (chunk: Buffer) => {
      for (const m of decoder.push(chunk) as any[]) {
        received.push(m);
        if (m.type === 'hello')
          socket.write(encodeFrame({ type: 'welcome', protocolVersion: 2, tsmeshVersion: 'scripted' }));
        if (m.type === 'csr') {
          const { verifyCsr } = await import('../../lib/pki/index.js');
          const cert = await signer.issue({
            publicKeyPem: verifyCsr(m.csrPem).publicKeyPem,
            spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews',
            ttlMs: 3600_000,
          });
          socket.write(
            encodeFrame({
              type: 'certificate',
              requestId: m.requestId,
              certPem: cert.certPem,
              chainPem: '',
              trustBundle: [rootPem],
            }),
          );
        }
        if (m.type === 'register') {
          current = socket;
          socket.write(
            encodeFrame({ type: 'registered', identity: 'spiffe://cluster.local/ns/default/sa/reviews' }),
          );
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sendSnapshot = (version: number, body: Record<string, unknown>, hash?: string): void => {
    const full = {
      schema: SNAPSHOT_SCHEMA,
      version,
      proxy: { namespace: 'default' },
      objects: [],
      workloads: [],
      createdAt: '',
      ...body,
    };
    const h = hash ?? snapshotHash(full as any);
    current!.write(encodeFrame({ type: 'snapshot', version, hash: h, body: { ...full, hash: h } }));
  };
  return {
    port: (server.address() as AddressInfo).port,
    rootPem,
    received,
    registered: () => current !== undefined,
    sendSnapshot,
    close: () =>
      new Promise<void>((r) => {
        current?.destroy();
        server.close(() => r());
      }),
    destroyConnections: () => current?.destroy(),
  };
}

describe('the proxy side keeps its last good snapshot', () => {
  it('NACKs an unknown snapshot schema and a hash mismatch, and keeps the last good one', async () => {
    const script = await scriptedControlPlane();
    cleanups.push(script.close);
    const client = startClient({
      address: `127.0.0.1:${script.port}`,
      trustBundlePem: [script.rootPem],
      token: 'scripted',
    });
    clients.push(client);
    await expect.poll(script.registered, { timeout: 10_000 }).toBe(true);
    script.sendSnapshot(1, { objects: [{ kind: 'Namespace', metadata: { name: 'one' } }] });
    await client.nextSnapshot((s) => s.version === 1);
    await expect.poll(() => script.received.find((m) => m.type === 'ack')).toMatchObject({ version: 1 });
    script.sendSnapshot(2, { schema: 'tsmesh.snapshot/v99' });
    await expect
      .poll(() => script.received.find((m) => m.type === 'nack' && m.version === 2))
      .toMatchObject({
        error: expect.stringContaining('unknown snapshot schema "tsmesh.snapshot/v99"'),
      });
    script.sendSnapshot(3, {}, 'f'.repeat(64));
    await expect
      .poll(() => script.received.find((m) => m.type === 'nack' && m.version === 3))
      .toMatchObject({
        error: expect.stringContaining('hash mismatch'),
      });
    expect(client.snapshots.map((s) => s.version)).toEqual([1]);
  });

  it('NACKs a snapshot the proxy cannot apply, with its error', async () => {
    const script = await scriptedControlPlane();
    cleanups.push(script.close);
    const { createControlPlaneSources } = await import('../../runtime/discovery-client/index.js');
    const sources = createControlPlaneSources({
      address: `127.0.0.1:${script.port}`,
      trustBundlePem: [script.rootPem],
      token: 'scripted',
      identity: {
        namespace: 'default',
        serviceAccount: 'reviews',
        workload: 'reviews-v1',
        pod: 'p',
        labels: {},
        address: '127.0.0.1',
        ports: [],
      },
      log: () => {},
    });
    cleanups.unshift(() => sources.close());
    sources.snapshots.start((s) => {
      if (s.version === 2) throw new Error('route table does not compile: bad regex');
    });
    sources.certificates.start(() => {});
    await expect.poll(script.registered, { timeout: 10_000 }).toBe(true);
    script.sendSnapshot(2, {});
    await expect
      .poll(() => script.received.find((m) => m.type === 'nack'))
      .toMatchObject({
        version: 2,
        error: 'route table does not compile: bad regex',
      });
  });
});

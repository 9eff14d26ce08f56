import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateSigner, createRootCertificate, generateRsaKeyPair } from '../../lib/pki/index.js';
import { canonicalJson, snapshotHash } from '../../lib/protocol/canonical.js';
import { decodeProxyMessage, ProtocolError } from '../../lib/protocol/decode.js';
import { encodeFrame, FrameDecoder, FrameError } from '../../lib/protocol/framing.js';
import { DISCOVERY_ALPN } from '../../lib/protocol/messages.js';
import { ResourceSnapshot } from '../../lib/protocol/resources.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import { adminRequest } from '../../runtime/control-plane/admin-client.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';
import {
  type Fixture,
  fixture,
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
  it('syncs a proxy that speaks the previous protocol version (whole snapshots, version 2 hashes)', async () => {
    f = await fixture();
    cp = await startControlPlane(f);
    const client = startClient({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', 'reviews').token,
      protocolVersion: 2,
    });
    clients.push(client);
    const snap = await client.nextSnapshot();
    expect(snap.schema).toBe(SNAPSHOT_SCHEMA);
    expect(snap.hash).toBe(snapshotHash(snap));
    await expect
      .poll(() => cp!.proxies()[0])
      .toMatchObject({ protocolVersion: 2, state: 'SYNCED', ackedVersion: snap.version });
    // A change reaches it as a whole snapshot: version 2 has no deltas.
    const answer = await adminRequest(cp.addresses.adminSocket, 'POST', '/v1/apply', {
      yaml: virtualService('default', 'reviews', [
        ['v1', 10],
        ['v2', 90],
      ]),
    });
    expect(answer.status).toBe(200);
    const next = await client.nextSnapshot((s) => s.version > snap.version);
    expect(next.hash).toBe(snapshotHash(next));
    expect(cp!.metrics.deltas).toBe(0);
    expect(client.logs.join('\n')).not.toContain('refused');
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
      message: expect.stringContaining('speaks 2 and 3'),
    });
  });
});

/** The discovery client's sources for a reviews proxy, connected to a scripted control plane. */
async function scriptedSources(script: { port: number; rootPem: string }) {
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
  return sources;
}

/**
 * A scripted peer in the control plane's place: it hands out snapshots the test chooses.
 * `serves`: the versions it accepts in hello (any when not given); it answers with `protocolVersion`.
 */
async function scriptedControlPlane(protocolVersion = 2, serves?: number[]) {
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
        if (m.type === 'hello' && serves && !serves.includes(m.protocolVersion)) {
          socket.end(
            encodeFrame({
              type: 'error',
              code: 'unsupported-protocol',
              message: `protocol version ${m.protocolVersion} is not served`,
              fatal: true,
            }),
          );
          continue;
        }
        if (m.type === 'hello')
          socket.write(encodeFrame({ type: 'welcome', protocolVersion, tsmeshVersion: 'scripted' }));
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
    const h =
      hash ??
      (protocolVersion >= 3
        ? ResourceSnapshot.fromBody(version, full as any).hash
        : snapshotHash(full as any));
    current!.write(encodeFrame({ type: 'snapshot', version, hash: h, body: { ...full, hash: h } }));
  };
  /** Sends the delta `changes` against `base`; its hash is computed from `expected` unless given. */
  const sendDelta = (
    version: number,
    base: { version: number; hash: string },
    changes: Record<string, unknown>,
    expected: Record<string, unknown> | string,
  ): void => {
    const hash =
      typeof expected === 'string'
        ? expected
        : ResourceSnapshot.fromBody(version, {
            proxy: { namespace: 'default' },
            objects: [],
            workloads: [],
            ...expected,
          } as any).hash;
    current!.write(
      encodeFrame({
        type: 'delta',
        version,
        hash,
        base,
        schema: SNAPSHOT_SCHEMA,
        createdAt: '',
        ...changes,
      }),
    );
  };
  return {
    port: (server.address() as AddressInfo).port,
    rootPem,
    received,
    registered: () => current !== undefined,
    sendSnapshot,
    sendDelta,
    close: () =>
      new Promise<void>((r) => {
        current?.destroy();
        server.close(() => r());
      }),
    destroyConnections: () => current?.destroy(),
  };
}

/** A discovery client connected and registered to a scripted control plane (both closed after the test). */
async function connectClient(script: Awaited<ReturnType<typeof scriptedControlPlane>>) {
  cleanups.push(script.close);
  const client = startClient({
    address: `127.0.0.1:${script.port}`,
    trustBundlePem: [script.rootPem],
    token: 'scripted',
  });
  clients.push(client);
  await expect.poll(script.registered, { timeout: 10_000 }).toBe(true);
  return client;
}

describe('the proxy side keeps its last good snapshot', () => {
  it('NACKs an unknown snapshot schema and a hash mismatch, and keeps the last good one', async () => {
    const script = await scriptedControlPlane();
    const client = await connectClient(script);
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
    const sources = await scriptedSources(script);
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

  it('applies deltas to the snapshot it holds; NACKs one that does not fit and keeps the last good one', async () => {
    const script = await scriptedControlPlane(3);
    cleanups.push(script.close);
    let refuse = false;
    const sources = await scriptedSources(script);
    const seen: any[] = [];
    sources.snapshots.start((s) => {
      if (refuse) throw new Error('route table does not compile');
      seen.push(s);
    });
    sources.certificates.start(() => {});
    await expect.poll(script.registered, { timeout: 10_000 }).toBe(true);
    const one = { kind: 'Namespace', metadata: { name: 'one' } };
    const two = { kind: 'Namespace', metadata: { name: 'two' } };
    const pod = {
      name: 'p',
      namespace: 'default',
      labels: {},
      address: '127.0.0.9',
      ports: [],
      meshed: true,
    };
    const first = { objects: [two, one], workloads: [pod] };
    script.sendSnapshot(1, first);
    await expect.poll(() => script.received.find((m) => m.type === 'ack')).toMatchObject({ version: 1 });
    const ack1 = script.received.find((m) => m.type === 'ack');
    expect(seen[0].objects.map((o: any) => o.metadata.name)).toEqual(['one', 'two']); // key order
    const base = { version: 1, hash: ack1.hash };

    // A good delta: one object changed, one removed, the workload removed.
    const changed = { ...one, metadata: { name: 'one', labels: { istio: 'x' } } };
    script.sendDelta(
      2,
      base,
      { objects: [changed], removedObjects: ['Namespace//two'], removedWorkloads: ['default/p'] },
      { objects: [changed] },
    );
    await expect.poll(() => script.received.find((m) => m.type === 'ack' && m.version === 2)).toBeTruthy();
    expect(seen.at(-1)).toMatchObject({ version: 2, objects: [changed], workloads: [] });
    const base2 = { version: 2, hash: script.received.find((m) => m.type === 'ack' && m.version === 2).hash };

    // Wrong base, a hash that does not match, a removal of something not held: resync wanted.
    script.sendDelta(3, base, { objects: [two] }, { objects: [changed, two] });
    script.sendDelta(4, base2, { objects: [two] }, 'f'.repeat(64));
    script.sendDelta(5, base2, { removedObjects: ['Namespace//three'] }, { objects: [changed] });
    // The proxy still holds 2: a delta against it applies.
    script.sendDelta(6, base2, { objects: [two] }, { objects: [changed, two] });
    await expect.poll(() => script.received.find((m) => m.type === 'ack' && m.version === 6)).toBeTruthy();
    const nacks = script.received.filter((m) => m.type === 'nack');
    expect(nacks[0]).toMatchObject({ version: 3, resync: true, error: expect.stringContaining('holds 2') });
    expect(nacks[1]).toMatchObject({
      version: 4,
      resync: true,
      error: expect.stringContaining('hash mismatch'),
    });
    expect(nacks[2]).toMatchObject({ version: 5, resync: true, error: expect.stringContaining('not held') });
    const base6 = { version: 6, hash: script.received.find((m) => m.type === 'ack' && m.version === 6).hash };
    // A delta that applies, but the proxy cannot compile the result: NACKed without resync.
    refuse = true;
    script.sendDelta(7, base6, { removedObjects: ['Namespace//two'] }, { objects: [changed] });
    await expect.poll(() => script.received.filter((m) => m.type === 'nack').length).toBe(4);
    expect(script.received.at(-1)).toEqual({
      type: 'nack',
      version: 7,
      error: 'route table does not compile',
    });
    expect(seen.map((s) => s.version)).toEqual([1, 2, 6]);
    // The held snapshot is still 6.
    refuse = false;
    script.sendDelta(8, base6, { workloads: [pod] }, { objects: [changed, two], workloads: [pod] });
    await expect.poll(() => seen.at(-1)?.version).toBe(8);
    expect(seen.at(-1).workloads).toEqual([pod]);
  });

  it('offers the previous protocol version to a control plane that does not speak the current one', async () => {
    const script = await scriptedControlPlane(2, [2]);
    const client = await connectClient(script);
    script.sendSnapshot(1, { objects: [{ kind: 'Namespace', metadata: { name: 'one' } }] });
    await client.nextSnapshot((s) => s.version === 1);
    const hellos = script.received.filter((m) => m.type === 'hello').map((m) => m.protocolVersion);
    expect(hellos[0]).toBe(3);
    expect(hellos.at(-1)).toBe(2);
    // The ACK crosses the connection after the snapshot is applied.
    await expect
      .poll(() => script.received.find((m) => m.type === 'ack'))
      .toMatchObject({
        version: 1,
        hash: client.snapshots[0].hash,
      });
    expect(client.logs.join('\n')).toContain('does not speak protocol 3; offering 2');
  });
});

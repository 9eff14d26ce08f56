import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { WorkloadInstance } from '../../lib/model.js';
import { buildRing, hash32, lookupRing } from '../../runtime/proxy/upstream/consistent-hash.js';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';

describe('the hash ring', () => {
  const rings = new Map<string, ReturnType<typeof buildRing>>();
  const owner = (ids: string[], key: string) => {
    const id = ids.join(',');
    let ring = rings.get(id);
    if (!ring) rings.set(id, (ring = buildRing(ids)));
    return ids[lookupRing(ring, hash32(key))];
  };
  const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

  it('moves only the keys of a removed endpoint, and only keys to an added one', () => {
    const four = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'];
    const three = four.filter((e) => e !== '10.0.0.3:80');
    for (const k of keys) {
      const before = owner(four, k);
      const after = owner(three, k);
      if (before !== '10.0.0.3:80') expect(after).toBe(before);
    }
    const five = [...four, '10.0.0.5:80'];
    let moved = 0;
    for (const k of keys) {
      const after = owner(five, k);
      if (after !== owner(four, k)) {
        expect(after).toBe('10.0.0.5:80');
        moved++;
      }
    }
    // Roughly a fifth of the keys move to the new endpoint.
    expect(moved / keys.length).toBeGreaterThan(0.1);
    expect(moved / keys.length).toBeLessThan(0.3);
  });

  it('spreads keys over the endpoints and does not depend on their order', () => {
    const ids = ['a:1', 'b:1', 'c:1'];
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(owner(ids, k), (counts.get(owner(ids, k)) ?? 0) + 1);
    for (const id of ids) expect(counts.get(id)).toBeGreaterThan(keys.length * 0.2);
    for (const k of keys.slice(0, 200)) expect(owner(['c:1', 'a:1', 'b:1'], k)).toBe(owner(ids, k));
  });
});

describe('consistent-hash load balancing through sidecars over mTLS', () => {
  let pki: TestPki;
  const apps: EchoServer[] = [];
  const servers: Sidecar[] = [];
  let client: Sidecar;
  let sleep: WorkloadInstance;
  let pods: WorkloadInstance[];
  const peers: PeerPorts = new Map();

  const rule = (consistentHash: Record<string, unknown>) =>
    istio('DestinationRule', 'web', { host: 'web', trafficPolicy: { loadBalancer: { consistentHash } } });
  const objects = (extra: MeshObject[]) => [
    service('web', [{ port: 8000, targetPort: 'web', name: 'http' }]),
    service('sleep', [{ port: 80, targetPort: 8080 }]),
    ...extra,
  ];
  const configure = (extra: MeshObject[], workloads: WorkloadInstance[], version: number) =>
    client.snapshots.push(snapshot(proxyOf(sleep), objects(extra), workloads, version));
  const serverOf = async (path: string, headers: Record<string, string> = {}) => {
    const res = await send(client.ports.outbound, path, { host: 'web:8000', headers });
    expect(res.status).toBe(200);
    return { server: String(res.headers['x-echo-server']), setCookie: res.headers['set-cookie'] };
  };

  beforeAll(async () => {
    pki = createTestPki();
    sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    pods = [];
    for (let i = 0; i < 3; i++) {
      const app = await startEcho(`web-${i}`);
      apps.push(app);
      const p = pod({ name: `web-${i}`, app: 'web', ports: [app.port] });
      p.ports = [{ containerPort: app.port, name: 'web', protocol: 'http' }];
      pods.push(p);
    }
    const workloads = [...pods, sleep];
    for (const p of pods) {
      servers.push(
        await startSidecar({
          pod: p,
          objects: objects([]),
          workloads,
          peers,
          cert: pki.leaf({ uris: [spiffe('default', 'web')] }),
        }),
      );
    }
    client = await startSidecar({
      pod: sleep,
      objects: objects([rule({ httpHeaderName: 'x-user' })]),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), ...servers.map((s) => s.proxy.stop())]);
    await Promise.all(apps.map((a) => a.close()));
    pki?.cleanup();
  });

  it('sends each header value to one endpoint, and keeps the keys that did not move under churn', async () => {
    const users = Array.from({ length: 24 }, (_, i) => `user-${i}`);
    const first = new Map<string, string>();
    for (const u of users) first.set(u, (await serverOf('/', { 'x-user': u })).server);
    for (const u of users) expect((await serverOf('/again', { 'x-user': u })).server).toBe(first.get(u));
    expect(new Set(first.values()).size).toBeGreaterThan(1);

    // web-2 leaves: only its users move.
    const remaining = [pods[0], pods[1], sleep];
    await configure([rule({ httpHeaderName: 'x-user' })], remaining, 2);
    for (const u of users) {
      const now = (await serverOf('/', { 'x-user': u })).server;
      if (first.get(u) !== 'web-2') expect(now).toBe(first.get(u));
      else expect(now).not.toBe('web-2');
    }
    await configure([rule({ httpHeaderName: 'x-user' })], [...pods, sleep], 3);
    for (const u of users) expect((await serverOf('/', { 'x-user': u })).server).toBe(first.get(u));
  });

  it('hashes on a query parameter', async () => {
    await configure([rule({ httpQueryParameterName: 'shard' })], [...pods, sleep], 4);
    for (const shard of ['a', 'b', 'c', 'd', 'e']) {
      const a = await serverOf(`/q?shard=${shard}&x=1`);
      const b = await serverOf(`/other?x=2&shard=${shard}`);
      expect(b.server).toBe(a.server);
    }
  });

  it('hashes on a cookie, generating one with the configured ttl when the client has none', async () => {
    await configure([rule({ httpCookie: { name: 'session', ttl: '60s', path: '/' } })], [...pods, sleep], 5);
    const first = await serverOf('/login');
    const cookie = String(first.setCookie);
    expect(cookie).toMatch(/^session="[0-9a-f]{16}"; Path=\/; Max-Age=60; HttpOnly$/);
    const value = cookie.split(';')[0];
    for (let i = 0; i < 6; i++) {
      const next = await serverOf('/page', { cookie: `theme=dark; ${value}` });
      expect(next.server).toBe(first.server);
      expect(next.setCookie).toBeUndefined();
    }
  });

  it('hashes on the source IP', async () => {
    await configure([rule({ useSourceIp: true })], [...pods, sleep], 6);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await serverOf(`/ip/${i}`)).server);
    expect(seen.size).toBe(1);
  });
});

import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createTcpServer,
  type Socket,
  type Server as TcpServer,
} from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConnectionStats } from '../../runtime/proxy/upstream/cluster.js';
import {
  ConnectionBudget,
  ConnectionPoolClosedError,
  type EndpointConnections,
} from '../../runtime/proxy/upstream/connection-budget.js';
import { type ConnectCallback, createConnector } from '../../runtime/proxy/upstream/connector.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from './helpers/snapshot.js';

/** Connections seen by the servers of one cluster, together. */
interface Tally {
  open: number;
  /** Most connections open at once, sampled on every accept. */
  maxOpen: number;
  accepted: number;
  /** Ids of `/flaky/<id>` requests already answered with a 503. */
  failed: Set<string>;
  /** The server that answered `/held/...`, and how to finish its held body. */
  heldBy?: string;
  held: (() => void)[];
}

interface CountingServer {
  name: string;
  port: number;
  open: number;
  accepted: number;
  requests: number;
  close(): Promise<void>;
}

/**
 * An HTTP upstream that counts the TCP connections it accepts and has open. A connection counts
 * until the server reads its end (FIN) or it closes, whichever comes first, so a connection the
 * client has closed is not counted while the server has yet to notice.
 * `/slow/<ms>` answers after a delay; `/flaky/<id>` answers the first time (on any server of the
 * cluster) 503 with a body that takes 100 ms to arrive, and 200 after that. `/held/...` answers
 * the first time 503 with half of its body, the rest when the test calls `tally.held`.
 */
async function countingServer(name: string, tally: Tally): Promise<CountingServer> {
  const self = { name, port: 0, open: 0, accepted: 0, requests: 0 };
  const server: Server = createServer((req, res) => {
    self.requests++;
    req.resume();
    req.on('end', () => {
      const url = req.url ?? '';
      const slow = /^\/slow\/(\d+)/.exec(url);
      const flaky = /^\/flaky\/(\w+)/.exec(url);
      const held = url.startsWith('/held/') && tally.heldBy === undefined;
      const answer = () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-server': name });
        res.end(name);
      };
      if (slow) setTimeout(answer, Number(slow[1]));
      else if (held) {
        tally.heldBy = name;
        res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '2000' });
        res.write('x'.repeat(1000));
        tally.held.push(() => res.end('y'.repeat(1000)));
      } else if (flaky && !tally.failed.has(flaky[1])) {
        tally.failed.add(flaky[1]);
        res.writeHead(503, { 'content-type': 'text/plain', 'content-length': '2000' });
        res.write('x'.repeat(1000));
        setTimeout(() => res.end('y'.repeat(1000)), 100);
      } else answer();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    self.open++;
    self.accepted++;
    tally.open++;
    tally.accepted++;
    tally.maxOpen = Math.max(tally.maxOpen, tally.open);
    let counted = true;
    const gone = () => {
      if (!counted) return;
      counted = false;
      self.open--;
      tally.open--;
    };
    socket.once('end', gone);
    socket.once('close', gone);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.port = (server.address() as AddressInfo).port;
  return Object.assign(self, {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** A TCP relay in front of a server sidecar that counts the connections through it. */
async function countingRelay(
  targetPort: number,
  tally: Tally,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createTcpServer((down) => {
    tally.open++;
    tally.accepted++;
    tally.maxOpen = Math.max(tally.maxOpen, tally.open);
    let counted = true;
    const gone = () => {
      if (!counted) return;
      counted = false;
      tally.open--;
    };
    down.once('end', gone);
    down.once('close', gone);
    const up = connectTcp({ host: '127.0.0.1', port: targetPort });
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.once('close', () => up.destroy());
    up.once('close', () => down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const newTally = (): Tally => ({ open: 0, maxOpen: 0, accepted: 0, failed: new Set(), held: [] });
const clusterKey = (host: string) => `outbound|9080||${host}.default.svc.cluster.local`;

describe('maxConnections bounds the HTTP/1.1 connections of a whole cluster', () => {
  const limitedTally = newTally();
  const pooledTally = newTally();
  const singleTally = newTally();
  const retryTally = newTally();
  const evenTally = newTally();
  let limited: CountingServer[] = [];
  let pooled: CountingServer[] = [];
  let single: CountingServer[] = [];
  let retry: CountingServer[] = [];
  let even: CountingServer[] = [];
  let sidecar: Sidecar;

  const connectionStats = (host: string): ConnectionStats =>
    (
      sidecar.proxy as unknown as {
        active: { clusters: Map<string, { connectionStats(): ConnectionStats }> };
      }
    ).active.clusters
      .get(clusterKey(host))!
      .connectionStats();

  beforeAll(async () => {
    limited = await Promise.all(['l0', 'l1', 'l2'].map((n) => countingServer(n, limitedTally)));
    pooled = await Promise.all(['p0', 'p1', 'p2'].map((n) => countingServer(n, pooledTally)));
    single = await Promise.all(['s0', 's1'].map((n) => countingServer(n, singleTally)));
    retry = await Promise.all(['r0', 'r1'].map((n) => countingServer(n, retryTally)));
    even = await Promise.all(['e0', 'e1', 'e2'].map((n) => countingServer(n, evenTally)));
    const me = pod({ name: 'client-0', app: 'client', ports: [8080] });
    const backends = (app: string, servers: CountingServer[]) =>
      servers.map((s) => {
        const w = pod({ name: `${app}-${s.name}`, app, ports: [s.port], meshed: false });
        // Each pod listens on its own port: the Service targets the named container port.
        w.ports[0].name = 'http-port';
        return w;
      });
    const workloads = [
      me,
      ...backends('limited', limited),
      ...backends('pooled', pooled),
      ...backends('single', single),
      ...backends('retry', retry),
      ...backends('even', even),
    ];
    const roundRobin = { loadBalancer: { simple: 'ROUND_ROBIN' } };
    const objects = [
      service('client', [{ port: 80, targetPort: 8080 }]),
      service('limited', [{ port: 9080, targetPort: 'http-port' }]),
      service('pooled', [{ port: 9080, targetPort: 'http-port' }]),
      service('single', [{ port: 9080, targetPort: 'http-port' }]),
      service('retry', [{ port: 9080, targetPort: 'http-port' }]),
      service('even', [{ port: 9080, targetPort: 'http-port' }]),
      istio('DestinationRule', 'limited', {
        host: 'limited',
        trafficPolicy: { ...roundRobin, connectionPool: { tcp: { maxConnections: 2 } } },
      }),
      istio('DestinationRule', 'pooled', { host: 'pooled', trafficPolicy: roundRobin }),
      istio('DestinationRule', 'single', {
        host: 'single',
        trafficPolicy: { ...roundRobin, connectionPool: { tcp: { maxConnections: 1 } } },
      }),
      istio('DestinationRule', 'retry', {
        host: 'retry',
        trafficPolicy: { ...roundRobin, connectionPool: { tcp: { maxConnections: 1 } } },
      }),
      istio('DestinationRule', 'even', {
        host: 'even',
        trafficPolicy: { ...roundRobin, connectionPool: { tcp: { maxConnections: 3 } } },
      }),
      istio('VirtualService', 'retry', {
        hosts: ['retry'],
        http: [{ route: [{ destination: { host: 'retry' } }], retries: { attempts: 2, retryOn: '5xx' } }],
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map() });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    await Promise.all([...limited, ...pooled, ...single, ...retry, ...even].map((s) => s.close()));
  });

  it('keeps at most 2 connections open to 3 endpoints under sequential and concurrent requests', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await send(sidecar.ports.outbound, `/seq/${i}`, { host: 'limited:9080' });
      statuses.push(res.status);
    }
    for (let round = 0; round < 3; round++) {
      const batch = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          send(sidecar.ports.outbound, i % 3 === 0 ? `/slow/15?r=${round}` : `/c/${round}/${i}`, {
            host: 'limited:9080',
          }),
        ),
      );
      statuses.push(...batch.map((r) => r.status));
    }
    expect(statuses).toHaveLength(12 + 72);
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Every endpoint was picked, over fresh connections as the cluster moved between them.
    for (const s of limited) expect(s.requests).toBeGreaterThan(0);
    expect(limitedTally.accepted).toBeGreaterThan(2);
    expect(limitedTally.maxOpen).toBeLessThanOrEqual(2);
    expect(limitedTally.open).toBeLessThanOrEqual(2);
    const stats = connectionStats('limited');
    expect(stats.open).toBeLessThanOrEqual(2);
    expect(stats.reclaims).toBeGreaterThan(0);
    expect(stats.waiting).toBe(0);
  });

  it('reuses connections at the limit when there is one per endpoint (no churn)', async () => {
    const statuses: number[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          send(sidecar.ports.outbound, `/e/${round}/${i}`, { host: 'even:9080' }),
        ),
      );
      statuses.push(...batch.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(150);
    expect(evenTally.maxOpen).toBeLessThanOrEqual(3);
    // A connection that has just finished its request serves the next one to its endpoint
    // rather than being closed to open another (which would take about one per request).
    expect(evenTally.accepted).toBeLessThan(30);
  });

  it('keeps a pooled connection to every endpoint when maxConnections is unset', async () => {
    for (let i = 0; i < 9; i++) {
      const res = await send(sidecar.ports.outbound, `/p/${i}`, { host: 'pooled:9080' });
      expect(res.status).toBe(200);
    }
    for (const s of pooled) expect(s.requests).toBe(3);
    expect(pooledTally.open).toBeGreaterThanOrEqual(3);
    const accepted = pooledTally.accepted;
    for (let i = 0; i < 9; i++) {
      const res = await send(sidecar.ports.outbound, `/p2/${i}`, { host: 'pooled:9080' });
      expect(res.status).toBe(200);
    }
    // Reused, not reopened.
    expect(pooledTally.accepted).toBe(accepted);
    expect(connectionStats('pooled')).toMatchObject({ open: pooledTally.open, waits: 0, reclaims: 0 });
  });

  it('closes an idle connection to one endpoint to serve a request admitted for another', async () => {
    const [a, b] = single;
    const first = await send(sidecar.ports.outbound, '/first', { host: 'single:9080' });
    expect(first.status).toBe(200);
    const firstServer = first.body === a.name ? a : b;
    const other = firstServer === a ? b : a;
    expect(firstServer.open).toBe(1);
    // The only connection is idle on the first endpoint; the next request goes to the other one.
    const second = await send(sidecar.ports.outbound, '/second', { host: 'single:9080' });
    expect(second.status).toBe(200);
    expect(second.body).toBe(other.name);
    expect(firstServer.open).toBe(0);
    expect(other.open).toBe(1);
    for (let i = 0; i < 6; i++) {
      const res = await send(sidecar.ports.outbound, `/again/${i}`, { host: 'single:9080' });
      expect(res.status).toBe(200);
    }
    expect(a.requests + b.requests).toBe(8);
    expect(singleTally.maxOpen).toBe(1);
    expect(singleTally.accepted).toBe(8);
    expect(connectionStats('single').reclaims).toBeGreaterThanOrEqual(7);
    // The admin endpoint shows the cluster's connections and where they are.
    const admin = JSON.parse((await send(sidecar.ports.admin, '/clusters', { host: 'localhost' })).body) as {
      clusters: {
        key: string;
        connections: ConnectionStats;
        endpoints: { port: number; connections: number }[];
      }[];
    };
    const status = admin.clusters.find((c) => c.key === clusterKey('single'))!;
    expect(status.connections.open).toBe(1);
    const byPort = new Map(status.endpoints.map((e) => [e.port, e.connections]));
    expect(byPort.get(a.port)! + byPort.get(b.port)!).toBe(1);
    expect(byPort.get(a.port)).toBe(a.open);
  });

  it('waits for a busy connection to finish before connecting elsewhere (retry after a 503)', async () => {
    // The 503's body is still arriving on the only connection when the retry to the other
    // endpoint needs one: the retry waits until that connection is idle, then replaces it.
    for (let i = 0; i < 3; i++) {
      const res = await send(sidecar.ports.outbound, `/flaky/f${i}`, { host: 'retry:9080' });
      expect(res.status).toBe(200);
    }
    expect(retryTally.failed.size).toBe(3);
    expect(retryTally.maxOpen).toBe(1);
    const stats = connectionStats('retry');
    expect(stats.waits).toBeGreaterThanOrEqual(3);
    expect(stats.waiting).toBe(0);
    expect(stats.open).toBe(1);
  });
});

describe('a connect waiting for room when its endpoint leaves the cluster', () => {
  const tally = newTally();
  let servers: CountingServer[] = [];
  let sidecar: Sidecar;

  afterAll(async () => {
    for (const f of tally.held.splice(0)) f();
    await sidecar?.proxy.stop();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('fails as a connect failure (503 UF) at the snapshot update, and nothing stays queued', async () => {
    servers = await Promise.all(['u0', 'u1'].map((n) => countingServer(n, tally)));
    const me = pod({ name: 'client-0', app: 'client', ports: [8080] });
    const backends = servers.map((s) => {
      const w = pod({ name: `upd-${s.name}`, app: 'upd', ports: [s.port], meshed: false });
      w.ports[0].name = 'http-port';
      return w;
    });
    const objects = [
      service('client', [{ port: 80, targetPort: 8080 }]),
      service('upd', [{ port: 9080, targetPort: 'http-port' }]),
      istio('DestinationRule', 'upd', {
        host: 'upd',
        trafficPolicy: {
          loadBalancer: { simple: 'ROUND_ROBIN' },
          connectionPool: { tcp: { maxConnections: 1 } },
        },
      }),
      istio('VirtualService', 'upd', {
        hosts: ['upd'],
        http: [{ route: [{ destination: { host: 'upd' } }], retries: { attempts: 1, retryOn: '5xx' } }],
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads: [me, ...backends], peers: new Map() });
    const stats = () =>
      (
        sidecar.proxy as unknown as {
          active: { clusters: Map<string, { connectionStats(): ConnectionStats }> };
        }
      ).active.clusters
        .get(clusterKey('upd'))!
        .connectionStats();
    // The first try gets a 503 whose body never ends; the retry to the other endpoint then
    // waits for the only connection, which stays busy.
    const pending = send(sidecar.ports.outbound, '/held/1', { host: 'upd:9080' });
    await waitFor(() => stats().waiting === 1);
    const other = servers.find((s) => s.name !== tally.heldBy)!;
    const remaining = backends.filter((w) => w.name !== `upd-${other.name}`);
    await sidecar.snapshots.push(snapshot(proxyOf(me), objects, [me, ...remaining], 2));
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.body).toContain('connection failure');
    expect(stats().waiting).toBe(0);
    expect(other.accepted).toBe(0);
    expect(tally.maxOpen).toBe(1);
  });
});

describe('maxConnections over mesh mTLS', () => {
  let pki: TestPki;
  const apps: EchoServer[] = [];
  const servers: Sidecar[] = [];
  const relays: { close(): Promise<void> }[] = [];
  let client: Sidecar;
  const tally = newTally();

  beforeAll(async () => {
    pki = createTestPki();
    const peers: PeerPorts = new Map();
    for (const name of ['reviews-0', 'reviews-1']) apps.push(await startEcho(name));
    const reviews = apps.map((a) => {
      const w = pod({ name: a.name, app: 'reviews', ports: [a.port] });
      w.ports[0].name = 'http-port';
      return w;
    });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('reviews', [{ port: 9080, targetPort: 'http-port' }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      istio('DestinationRule', 'reviews', {
        host: 'reviews',
        trafficPolicy: {
          loadBalancer: { simple: 'ROUND_ROBIN' },
          connectionPool: { tcp: { maxConnections: 1 } },
        },
      }),
    ];
    const workloads = [...reviews, sleep];
    for (const w of reviews) {
      const sidecar = await startSidecar({
        pod: w,
        objects,
        workloads,
        peers,
        cert: pki.leaf({ uris: [spiffe('default', 'reviews')] }),
      });
      servers.push(sidecar);
      // The client sidecar reaches each server sidecar through a relay that counts connections.
      const relay = await countingRelay(sidecar.ports.inbound, tally);
      relays.push(relay);
      peers.set(`default/${w.name}`, relay.port);
    }
    client = await startSidecar({
      pod: sleep,
      objects,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
  });

  afterAll(async () => {
    await client?.proxy.stop();
    for (const s of servers) await s.proxy.stop();
    for (const r of relays) await r.close();
    for (const a of apps) await a.close();
    pki?.cleanup();
  });

  it('keeps one mTLS connection for two server sidecars, moving it between them', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await send(client.ports.outbound, `/m/${i}`, { host: 'reviews:9080' });
      expect(res.status).toBe(200);
      seen.push(JSON.parse(res.body).server);
    }
    expect(new Set(seen)).toEqual(new Set(['reviews-0', 'reviews-1']));
    expect(tally.maxOpen).toBe(1);
    // Round robin alternates, so every request needed a connection to the other sidecar.
    expect(tally.accepted).toBe(6);
    const ok = await Promise.all(
      Array.from({ length: 10 }, (_, i) => send(client.ports.outbound, `/c/${i}`, { host: 'reviews:9080' })),
    );
    expect(ok.every((r) => r.status === 200)).toBe(true);
    expect(tally.maxOpen).toBe(1);
  });
});

describe('ConnectionBudget', () => {
  let server: TcpServer;
  let port: number;
  const accepted: Socket[] = [];

  beforeAll(async () => {
    server = createTcpServer((s) => {
      accepted.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Connects through the budget; resolves with the socket or the error. */
  const connectVia = (ep: EndpointConnections, connectTimeoutMs = 2000) => {
    const connect = ep.wrap(createConnector({ address: '127.0.0.1', port, connectTimeoutMs }));
    return new Promise<Socket | Error>((resolve) => {
      const cb: ConnectCallback = (err, socket) => resolve(err ?? socket!);
      connect(undefined, cb);
    });
  };
  const closed = (s: Socket) => new Promise((resolve) => s.once('close', resolve));

  it('starts waiting connects oldest first as sockets close, and counts a socket until its close', async () => {
    const budget = new ConnectionBudget(1);
    const e1 = budget.endpoint();
    const e2 = budget.endpoint();
    const first = (await connectVia(e1)) as Socket;
    expect(budget.open).toBe(1);
    const order: string[] = [];
    const noting = (name: string) => (r: Socket | Error) => {
      order.push(name);
      return r;
    };
    const second = connectVia(e2).then(noting('second'));
    const third = connectVia(e1).then(noting('third'));
    expect(budget.waiting).toBe(2);
    // A socket with no undici connection on it is not idle: it is never closed to make room.
    await new Promise((r) => setTimeout(r, 150));
    expect(first.destroyed).toBe(false);
    expect(budget.waiting).toBe(2);
    first.destroy();
    const s2 = (await second) as Socket;
    expect(s2.destroyed).toBe(false);
    expect(order).toEqual(['second']);
    expect(budget.open).toBe(1);
    expect(e1.open).toBe(0);
    expect(e2.open).toBe(1);
    s2.destroy();
    const s3 = (await third) as Socket;
    expect(order).toEqual(['second', 'third']);
    s3.destroy();
    await closed(s3);
    expect(budget.open).toBe(0);
    expect(budget.waits).toBe(2);
  });

  it('fails the waiting connects of a closed endpoint or cluster with a connect error', async () => {
    const budget = new ConnectionBudget(1);
    const e1 = budget.endpoint();
    const e2 = budget.endpoint();
    const first = (await connectVia(e1)) as Socket;
    const waiting = connectVia(e2);
    const waiting2 = connectVia(e1);
    expect(budget.waiting).toBe(2);
    e2.close();
    const err = await waiting;
    expect(err).toBeInstanceOf(ConnectionPoolClosedError);
    expect((err as ConnectionPoolClosedError).tsmeshConnect).toBe(true);
    expect(budget.waiting).toBe(1);
    budget.close();
    expect(await waiting2).toBeInstanceOf(ConnectionPoolClosedError);
    expect(budget.waiting).toBe(0);
    first.destroy();
    await closed(first);
    expect(budget.open).toBe(0);
  });

  it('starts the connect timeout only when a waiting connect starts connecting', async () => {
    const budget = new ConnectionBudget(1);
    const e = budget.endpoint();
    const first = (await connectVia(e, 50)) as Socket;
    const waiting = connectVia(e, 50);
    expect(budget.waiting).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    first.destroy();
    const s = await waiting;
    expect(s).not.toBeInstanceOf(Error);
    (s as Socket).destroy();
  });

  it('counts but does not limit when undici internals are missing (per-endpoint limits only)', async () => {
    vi.resetModules();
    vi.doMock('../../runtime/proxy/upstream/undici-pool.js', async (load) => ({
      ...(await load<Record<string, unknown>>()),
      undiciSymbols: undefined,
      undiciPoolSymbols: undefined,
    }));
    try {
      const fallback = await import('../../runtime/proxy/upstream/connection-budget.js');
      const budget = new fallback.ConnectionBudget(1);
      expect(budget.enforcing).toBe(false);
      const e = budget.endpoint();
      const sockets = (await Promise.all([connectVia(e), connectVia(e)])) as Socket[];
      expect(sockets.some((s) => s instanceof Error)).toBe(false);
      expect(budget.open).toBe(2);
      expect(budget.waits).toBe(0);
      for (const s of sockets) s.destroy();
      await Promise.all(sockets.map(closed));
      expect(budget.open).toBe(0);
    } finally {
      vi.doUnmock('../../runtime/proxy/upstream/undici-pool.js');
      vi.resetModules();
    }
  });

  it('does not limit or queue when unlimited', async () => {
    const budget = new ConnectionBudget(4294967295);
    const e = budget.endpoint();
    const sockets = (await Promise.all([connectVia(e), connectVia(e), connectVia(e)])) as Socket[];
    expect(budget.open).toBe(3);
    expect(budget.waits).toBe(0);
    for (const s of sockets) s.destroy();
    await Promise.all(sockets.map(closed));
    expect(budget.open).toBe(0);
  });
});

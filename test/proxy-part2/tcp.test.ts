import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { WorkloadInstance } from '../../lib/model.js';
import { type PeerPorts, type Sidecar, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';
import { find, parseExposition } from '../proxy/telemetry/prom-parse.js';
import { openTcp, seeded, startTcpEcho, type TcpApp, tcpExchange } from './helpers/tcp.js';

function dbPod(name: string, version: string, port: number): WorkloadInstance {
  const w = pod({ name, app: 'db', version, ports: [port] });
  w.ports = [{ containerPort: port, name: 'db', protocol: 'tcp' }];
  return w;
}

describe('TCP passthrough through two sidecars over mTLS', () => {
  let pki: TestPki;
  let v1: TcpApp;
  let v2: TcpApp;
  let client: Sidecar;
  let db1: Sidecar;
  let db2: Sidecar;
  let listenerPort: number;
  const peers: PeerPorts = new Map();
  let workloads: WorkloadInstance[];
  let sleep: WorkloadInstance;
  let base: MeshObject[];

  const metrics = (s: Sidecar) => parseExposition(s.proxy.telemetry.metricsText());
  const push = async (target: Sidecar, w: WorkloadInstance, objects: MeshObject[], version: number) => {
    await target.snapshots.push(snapshot(proxyOf(w), objects, workloads, version));
  };

  beforeAll(async () => {
    pki = createTestPki();
    v1 = await startTcpEcho('db-v1');
    v2 = await startTcpEcho('db-v2');
    const p1 = dbPod('db-v1-0', 'v1', v1.port);
    const p2 = dbPod('db-v2-0', 'v2', v2.port);
    sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    workloads = [p1, p2, sleep];
    base = [
      service('db', [{ port: 5432, targetPort: 'db', name: 'tcp-db' }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      istio('DestinationRule', 'db', {
        host: 'db',
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
    ];
    const cert = (sa: string) => pki.leaf({ uris: [spiffe('default', sa)] });
    db1 = await startSidecar({ pod: p1, objects: base, workloads, peers, cert: cert('db') });
    db2 = await startSidecar({ pod: p2, objects: base, workloads, peers, cert: cert('db') });
    client = await startSidecar({
      pod: sleep,
      objects: base,
      workloads,
      peers,
      cert: cert('sleep'),
      options: { random: seeded(7), protocols: { tcpListeners: [{ port: 0, destination: 'db:5432' }] } },
    });
    listenerPort = client.proxy.protocols.tcpListenerPorts()['db:5432'];
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), db1?.proxy.stop(), db2?.proxy.stop()]);
    await Promise.all([v1?.close(), v2?.close()]);
    pki?.cleanup();
  });

  it('echoes bytes end to end and reports istio_tcp metrics on both sides', async () => {
    const payload = 'x'.repeat(100_000);
    const res = await tcpExchange(listenerPort, payload, { expectBytes: 6 + 100_000 });
    expect(res.data.length).toBe(6 + 100_000);
    expect(res.data.slice(0, 6)).toMatch(/^db-v[12]\n$/);
    expect(res.data.slice(6)).toBe(payload);
    const server = res.data.startsWith('db-v1') ? db1 : db2;
    await waitFor(() => find(metrics(client), 'istio_tcp_connections_closed_total').length > 0);
    const opened = find(metrics(client), 'istio_tcp_connections_opened_total', { reporter: 'source' });
    expect(opened).toHaveLength(1);
    expect(opened[0].labels).toMatchObject({
      source_workload: 'sleep',
      destination_service: 'db.default.svc.cluster.local',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/db',
      request_protocol: 'tcp',
      response_flags: '-',
    });
    const sent = find(metrics(client), 'istio_tcp_sent_bytes_total', { reporter: 'source' });
    const received = find(metrics(client), 'istio_tcp_received_bytes_total', { reporter: 'source' });
    expect(received[0].value).toBe(100_000);
    expect(sent[0].value).toBe(100_006);
    await waitFor(() => find(metrics(server), 'istio_tcp_connections_closed_total').length > 0);
    const inbound = find(metrics(server), 'istio_tcp_connections_opened_total', { reporter: 'destination' });
    expect(inbound[0].labels).toMatchObject({
      connection_security_policy: 'mutual_tls',
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      source_workload: 'sleep',
      destination_workload: server === db1 ? 'db-v1' : 'db-v2',
    });
    expect(
      find(metrics(server), 'istio_tcp_received_bytes_total', { reporter: 'destination' })[0].value,
    ).toBe(100_000);
  });

  it('keeps the reply direction open after the client half-closes', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: listenerPort });
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString();
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve(got));
      // Send everything and half-close at once: the answer must still come back.
      s.end('x'.repeat(50_000));
    });
    expect(reply).toMatch(/^db-v[12]\n/);
    expect(reply.length).toBe(6 + 50_000);
  });

  it('splits connections by the weights of the tcp route', async () => {
    const vs = istio('VirtualService', 'db', {
      hosts: ['db'],
      tcp: [
        {
          match: [{ port: 5432 }],
          route: [
            { destination: { host: 'db', subset: 'v1' }, weight: 75 },
            { destination: { host: 'db', subset: 'v2' }, weight: 25 },
          ],
        },
      ],
    });
    await push(client, sleep, [...base, vs], 2);
    const seen = { 'db-v1': 0, 'db-v2': 0 } as Record<string, number>;
    for (let i = 0; i < 40; i++) {
      const r = await tcpExchange(listenerPort, 'ping', { expectBytes: 10 });
      seen[r.data.slice(0, 5)]++;
    }
    expect(seen['db-v1'] + seen['db-v2']).toBe(40);
    expect(seen['db-v1']).toBeGreaterThan(seen['db-v2']);
    expect(seen['db-v2']).toBeGreaterThan(0);

    const onlyV2 = istio('VirtualService', 'db', {
      hosts: ['db'],
      tcp: [{ route: [{ destination: { host: 'db', subset: 'v2' } }] }],
    });
    await push(client, sleep, [...base, onlyV2], 3);
    for (let i = 0; i < 5; i++) {
      const r = await tcpExchange(listenerPort, 'ping', { expectBytes: 10 });
      expect(r.data.slice(0, 5)).toBe('db-v2');
    }
    await push(client, sleep, base, 4);
  });

  it('closes connections an AuthorizationPolicy does not allow, failing closed on HTTP-only fields', async () => {
    const both = async (objects: MeshObject[], version: number) => {
      await push(db1, workloads[0], objects, version);
      await push(db2, workloads[1], objects, version);
    };
    const allowSleep = istio('AuthorizationPolicy', 'db-allow', {
      selector: { matchLabels: { app: 'db' } },
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }],
    });
    await both([...base, allowSleep], 10);
    const ok = await tcpExchange(listenerPort, 'hello', { expectBytes: 11 });
    expect(ok.data.slice(6)).toBe('hello');

    const allowOther = istio('AuthorizationPolicy', 'db-allow', {
      selector: { matchLabels: { app: 'db' } },
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/other'] } }] }],
    });
    await both([...base, allowOther], 11);
    const denied = await tcpExchange(listenerPort, 'hello');
    expect(denied.data).toBe('');
    expect(denied.closedByPeer).toBe(true);

    // An ALLOW rule with an HTTP-only field never matches a TCP connection.
    const allowGet = istio('AuthorizationPolicy', 'db-allow', {
      selector: { matchLabels: { app: 'db' } },
      rules: [{ to: [{ operation: { methods: ['GET'] } }] }],
    });
    await both([...base, allowGet], 12);
    expect((await tcpExchange(listenerPort, 'hello')).data).toBe('');

    // A DENY rule with an HTTP-only field always matches one.
    const denyPath = istio('AuthorizationPolicy', 'db-deny', {
      selector: { matchLabels: { app: 'db' } },
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin'] } }] }],
    });
    await both([...base, denyPath], 13);
    expect((await tcpExchange(listenerPort, 'hello')).data).toBe('');
    expect(db1.proxy.protocols.tcp.counters.denied + db2.proxy.protocols.tcp.counters.denied).toBe(3);

    await both(base, 14);
    expect((await tcpExchange(listenerPort, 'hello', { expectBytes: 11 })).data.slice(6)).toBe('hello');
  });

  it('closes a connection silent for the idleTimeout of the connection pool', async () => {
    const idle = istio('DestinationRule', 'db', {
      host: 'db',
      trafficPolicy: { connectionPool: { tcp: { idleTimeout: '300ms' } } },
    });
    await push(client, sleep, [idle, ...base.filter((o) => o.kind !== 'DestinationRule')], 30);
    const { socket, greeting } = await openTcp(listenerPort);
    expect(greeting).toMatch(/^db-v[12]\n$/);
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    socket.on('error', () => undefined);
    await waitFor(() => closed, 5000);
    await push(client, sleep, base, 31);
  });

  it('closes connections over maxConnections at once with flag UO', async () => {
    const limited = istio('DestinationRule', 'db', {
      host: 'db',
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } } },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    });
    await push(client, sleep, [limited, ...base.filter((o) => o.kind !== 'DestinationRule')], 20);
    const held: Socket[] = [];
    try {
      const first = await openTcp(listenerPort);
      held.push(first.socket);
      expect(first.greeting).toMatch(/^db-v[12]\n$/);
      const second = await tcpExchange(listenerPort, 'hello', { timeoutMs: 2000 });
      expect(second.data).toBe('');
      expect(second.closedByPeer).toBe(true);
      const uo = find(metrics(client), 'istio_tcp_connections_opened_total', { response_flags: 'UO' });
      expect(uo[0]?.value).toBe(1);
    } finally {
      for (const s of held) s.destroy();
    }
    // The slot is free again once the held connection closed.
    await waitFor(() => v1.open.size + v2.open.size === 0);
    const again = await tcpExchange(listenerPort, 'hello', { expectBytes: 11 });
    expect(again.data.slice(6)).toBe('hello');
    await push(client, sleep, base, 21);
  });
});

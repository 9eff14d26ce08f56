import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { WorkloadInstance } from '../../lib/model.js';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';
import { seeded } from './helpers/tcp.js';

interface Shadow {
  server: Server;
  port: number;
  received: { url: string; host: string; traceparent: string; body: string }[];
  /** Requests held open until `release()`. */
  held: ServerResponse[];
  hold: boolean;
  release(): void;
}

/** The mirror target: records what it gets; while `hold` is set it answers nothing (then 503). */
async function startShadow(): Promise<Shadow> {
  const shadow: Shadow = {
    server: createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        shadow.received.push({
          url: req.url ?? '',
          host: req.headers.host ?? '',
          traceparent: String(req.headers.traceparent ?? ''),
          body: Buffer.concat(chunks).toString(),
        });
        if (shadow.hold) shadow.held.push(res);
        else res.writeHead(503).end('shadow failure');
      });
    }),
    port: 0,
    received: [],
    held: [],
    hold: false,
    release() {
      shadow.hold = false;
      for (const res of shadow.held.splice(0)) res.writeHead(503).end('shadow failure');
    },
  };
  await new Promise<void>((r) => shadow.server.listen(0, '127.0.0.1', r));
  shadow.port = (shadow.server.address() as AddressInfo).port;
  return shadow;
}

describe('mirroring through sidecars over mTLS', () => {
  let pki: TestPki;
  let primary: EchoServer;
  let shadow: Shadow;
  let client: Sidecar;
  const servers: Sidecar[] = [];
  let sleep: WorkloadInstance;
  let workloads: WorkloadInstance[];
  const peers: PeerPorts = new Map();

  const objects = (percent?: number): MeshObject[] => [
    service('web', [{ port: 8000, targetPort: primary.port, name: 'http' }]),
    service('web-shadow', [{ port: 8000, targetPort: shadow.port, name: 'http' }]),
    service('sleep', [{ port: 80, targetPort: 8080 }]),
    istio('VirtualService', 'web', {
      hosts: ['web'],
      http: [
        {
          route: [{ destination: { host: 'web' } }],
          mirror: { host: 'web-shadow' },
          ...(percent === undefined ? {} : { mirrorPercentage: { value: percent } }),
        },
      ],
    }),
  ];
  const configure = (percent: number | undefined, version: number) =>
    client.snapshots.push(snapshot(proxyOf(sleep), objects(percent), workloads, version));

  beforeAll(async () => {
    pki = createTestPki();
    primary = await startEcho('web');
    shadow = await startShadow();
    const web = pod({ name: 'web-0', app: 'web', ports: [primary.port] });
    const webShadow = pod({ name: 'web-shadow-0', app: 'web-shadow', ports: [shadow.port] });
    sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    workloads = [web, webShadow, sleep];
    servers.push(
      await startSidecar({
        pod: web,
        objects: objects(),
        workloads,
        peers,
        cert: pki.leaf({ uris: [spiffe('default', 'web')] }),
      }),
      await startSidecar({
        pod: webShadow,
        objects: objects(),
        workloads,
        peers,
        cert: pki.leaf({ uris: [spiffe('default', 'web-shadow')] }),
      }),
    );
    client = await startSidecar({
      pod: sleep,
      objects: objects(),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
      options: { random: seeded(11) },
    });
  });

  afterAll(async () => {
    shadow?.release();
    await Promise.all([client?.proxy.stop(), ...servers.map((s) => s.proxy.stop())]);
    await primary?.close();
    shadow?.server.closeAllConnections();
    shadow?.server.close();
    pki?.cleanup();
  });

  it('copies every request (no mirrorPercentage) with the authority unchanged and unsampled', async () => {
    const res = await send(client.ports.outbound, '/orders?id=7', {
      host: 'web:8000',
      method: 'POST',
      body: 'order-7',
      headers: { 'content-type': 'text/plain', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).body).toBe('order-7');
    await waitFor(() => shadow.received.length === 1);
    const copy = shadow.received[0];
    expect(copy).toMatchObject({ url: '/orders?id=7', host: 'web:8000', body: 'order-7' });
    expect(copy.traceparent).toMatch(new RegExp(`^00-${'a'.repeat(32)}-[0-9a-f]{16}-00$`));
  });

  it('never waits for the mirror nor fails with it', async () => {
    shadow.hold = true;
    const before = shadow.received.length;
    for (let i = 0; i < 5; i++) {
      const res = await send(client.ports.outbound, `/fast/${i}`, { host: 'web:8000' });
      expect(res.status).toBe(200);
    }
    await waitFor(() => shadow.received.length === before + 5);
    // Every primary answered while all five copies were still unanswered.
    expect(shadow.held).toHaveLength(5);
    shadow.release();
  });

  it('copies the configured share of requests', async () => {
    await configure(25, 2);
    const before = shadow.received.length;
    for (let i = 0; i < 80; i++)
      expect((await send(client.ports.outbound, `/s/${i}`, { host: 'web:8000' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    const copies = shadow.received.length - before;
    expect(copies).toBeGreaterThan(8);
    expect(copies).toBeLessThan(35);

    await configure(0, 3);
    const none = shadow.received.length;
    for (let i = 0; i < 10; i++) await send(client.ports.outbound, `/z/${i}`, { host: 'web:8000' });
    // A request after the others reaches the primary last; no copy may have arrived meanwhile.
    await send(client.ports.outbound, '/barrier', { host: 'web:8000' });
    expect(shadow.received.length).toBe(none);
  });

  it('copies HTTP/2 requests too', async () => {
    await configure(undefined, 4);
    const before = shadow.received.length;
    const status = await new Promise<number>((resolve, reject) => {
      const session = h2connect(`http://127.0.0.1:${client.ports.outbound}`);
      session.on('error', reject);
      const req = session.request({
        ':method': 'POST',
        ':path': '/h2/orders',
        ':authority': 'web:8000',
        traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`,
      });
      let code = 0;
      req.on('response', (h) => {
        code = Number(h[':status']);
      });
      req.on('data', () => undefined);
      req.on('close', () => {
        session.close();
        resolve(code);
      });
      req.end('h2-order');
    });
    expect(status).toBe(200);
    await waitFor(() => shadow.received.length === before + 1);
    const copy = shadow.received.at(-1)!;
    expect(copy).toMatchObject({ url: '/h2/orders', host: 'web:8000', body: 'h2-order' });
    expect(copy.traceparent).toMatch(new RegExp(`^00-${'1'.repeat(32)}-[0-9a-f]{16}-00$`));
  });
});

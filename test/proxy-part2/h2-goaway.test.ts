import { createServer as createH2Server, type Http2Server, connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PeerPorts, Sidecar } from '../proxy/helpers/mesh.js';
import { startPair } from '../proxy/helpers/pair.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { pod, service } from '../proxy/helpers/snapshot.js';

/**
 * An h2c app whose first connection sends GOAWAY (last stream 1) as soon as a second stream
 * arrives, leaving the streams after it unprocessed; later connections answer normally.
 */
async function startGoawayApp(): Promise<{ server: Http2Server; port: number; sessions: () => number }> {
  let sessions = 0;
  const server = createH2Server();
  server.on('session', (s) => {
    sessions++;
    (s as unknown as { n: number }).n = sessions;
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const session = stream.session as unknown as {
      n: number;
      gone?: boolean;
      goaway(c: number, l: number): void;
    };
    if (session.n === 1 && (stream.id ?? 0) >= 3) {
      if (!session.gone) {
        session.gone = true;
        session.goaway(0, 1);
      }
      return;
    }
    stream.respond({ ':status': 200, 'x-session': String(session.n) });
    stream.end(`${headers[':path']} on connection ${session.n}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sessions: () => sessions };
}

function get(port: number, authority: string, paths: string[]): Promise<{ status: number; body: string }[]> {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return Promise.all(
    paths.map(
      (path) =>
        new Promise<{ status: number; body: string }>((resolve) => {
          const req = session.request({ ':path': path, ':authority': authority });
          let status = 0;
          let body = '';
          req.on('response', (h) => {
            status = Number(h[':status']);
          });
          req.on('data', (c: Buffer) => {
            body += c.toString();
          });
          req.on('error', () => undefined);
          req.on('close', () => resolve({ status, body }));
          req.end();
        }),
    ),
  ).finally(() => session.close());
}

describe('HTTP/2 streams refused by a GOAWAY are sent again', () => {
  let pki: TestPki;
  let app: Awaited<ReturnType<typeof startGoawayApp>>;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startGoawayApp();
    const appPod = pod({ name: 'h2app-0', app: 'h2app', ports: [app.port] });
    appPod.ports = [{ containerPort: app.port, name: 'http2', protocol: 'http2' }];
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('h2app', [{ port: 8080, targetPort: app.port, name: 'http2' }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
    ];
    const workloads = [appPod, sleep];
    ({ server, client } = await startPair({ pki, peers, objects, workloads, server: appPod, client: sleep }));
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), server?.proxy.stop()]);
    app?.server.close();
    pki?.cleanup();
  });

  it('answers every request although the app refused two streams on its first connection', async () => {
    const [first] = await get(client.ports.outbound, 'h2app:8080', ['/first']);
    expect(first).toEqual({ status: 200, body: '/first on connection 1' });
    const after = await get(client.ports.outbound, 'h2app:8080', ['/second', '/third']);
    expect(after.map((r) => r.status)).toEqual([200, 200]);
    expect(after.map((r) => r.body).sort()).toEqual(['/second on connection 2', '/third on connection 2']);
    expect(app.sessions()).toBe(2);
  });
});

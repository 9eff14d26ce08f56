import { createServer as createH2Server, type Http2Server, connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PeerPorts, type Sidecar, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { pod, service, spiffe } from '../proxy/helpers/snapshot.js';

/** An h2c app that answers `/slow` after 400 ms and everything else at once. */
async function startApp(): Promise<{ server: Http2Server; port: number }> {
  const server = createH2Server();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const answer = () => {
      stream.respond({ ':status': 200 });
      stream.end(String(headers[':path']));
    };
    if (headers[':path'] === '/slow') setTimeout(answer, 400);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('draining an HTTP/2 inbound side', () => {
  let pki: TestPki;
  let app: Awaited<ReturnType<typeof startApp>>;
  let sidecar: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startApp();
    const appPod = pod({ name: 'h2app-0', app: 'h2app', ports: [app.port] });
    appPod.ports = [{ containerPort: app.port, name: 'http2', protocol: 'http2' }];
    sidecar = await startSidecar({
      pod: appPod,
      objects: [service('h2app', [{ port: 8080, targetPort: app.port, name: 'http2' }])],
      workloads: [appPod],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'h2app')] }),
    });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    app?.server.close();
    pki?.cleanup();
  });

  it('sends GOAWAY to an idle session and one with a stream in flight, and the stream still ends 200', async () => {
    const open = () => {
      const s = h2connect(`http://127.0.0.1:${sidecar.ports.inbound}`);
      s.on('error', () => undefined);
      let goaway = false;
      s.on('goaway', () => {
        goaway = true;
      });
      return { s, goaway: () => goaway };
    };
    const request = (s: ReturnType<typeof h2connect>, path: string) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const req = s.request({ ':path': path, ':authority': `127.0.0.1:${app.port}` });
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
      });
    const idle = open();
    const busy = open();
    expect(await request(idle.s, '/warm')).toEqual({ status: 200, body: '/warm' });
    expect(await request(busy.s, '/warm')).toEqual({ status: 200, body: '/warm' });
    const slow = request(busy.s, '/slow');
    await new Promise((r) => setTimeout(r, 100));
    expect(idle.goaway()).toBe(false);
    sidecar.proxy.drain();
    // No new stream is opened on either session: the GOAWAY must come from the drain itself.
    await waitFor(() => idle.goaway() && busy.goaway(), 2000);
    expect(await slow).toEqual({ status: 200, body: '/slow' });
    await waitFor(() => idle.s.closed && busy.s.closed, 2000);
  });
});

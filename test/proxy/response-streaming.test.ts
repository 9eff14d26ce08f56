import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { istio, pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/**
 * How upstream responses stream back through a sidecar: informational answers, bodiless
 * responses, hop-by-hop response headers, and a route timeout that fires mid-body.
 */
describe('upstream responses streamed to the client', () => {
  let upstream: Server;
  let sidecar: Sidecar;
  const { telemetry, records } = capturingTelemetry();
  const lastRecord = (path: string) => [...records].reverse().find((r) => r.path === path);

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      switch (req.url) {
        case '/early-hints':
          res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }, () => res.end('final'));
          return;
        case '/no-content':
          res.writeHead(204).end();
          return;
        case '/hop-headers':
          res.writeHead(200, [
            ['Connection', 'x-private'],
            ['X-Private', 'secret'],
            ['Set-Cookie', 'a=1'],
            ['Set-Cookie', 'b=2'],
            ['Content-Length', '2'],
          ]);
          res.end('ok');
          return;
        case '/slow-body':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first part;');
          setTimeout(() => res.end('late part'), 1500).unref();
          return;
        default:
          res.writeHead(200, { 'content-length': 5, 'x-upstream': 'yes' });
          res.end(req.method === 'HEAD' ? undefined : 'hello');
      }
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    const me = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const workloads = [me, pod({ name: 'web-0', app: 'web', ports: [port], meshed: false })];
    const objects = [
      service('sleep', [{ port: 80, targetPort: 8080 }]),
      service('web', [{ port: 9080, targetPort: port }]),
      istio('VirtualService', 'web', {
        hosts: ['web'],
        http: [
          {
            match: [{ uri: { exact: '/slow-body' } }],
            route: [{ destination: { host: 'web' } }],
            timeout: '300ms',
          },
          { route: [{ destination: { host: 'web' } }] },
        ],
      }),
    ];
    sidecar = await startSidecar({ pod: me, objects, workloads, peers: new Map(), options: { telemetry } });
  });

  afterAll(async () => {
    await sidecar?.proxy.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream?.close(() => r()));
  });

  it('passes the final response after an informational 103', async () => {
    const res = await send(sidecar.ports.outbound, '/early-hints', { host: 'web:9080' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('final');
  });

  it('answers HEAD with the upstream headers and no body, and passes 204 through', async () => {
    const head = await send(sidecar.ports.outbound, '/thing', { host: 'web:9080', method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    expect(head.headers['x-upstream']).toBe('yes');
    expect(head.body).toBe('');
    const empty = await send(sidecar.ports.outbound, '/no-content', { host: 'web:9080' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBe('');
    const after = await send(sidecar.ports.outbound, '/after', { host: 'web:9080' });
    expect(after.body).toBe('hello');
  });

  it('drops the response headers the Connection header names and keeps repeated ones', async () => {
    const res = await send(sidecar.ports.outbound, '/hop-headers', { host: 'web:9080' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('ok');
    expect(res.headers['x-private']).toBeUndefined();
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('cuts a response short when the route timeout fires mid-body, and flags UT', async () => {
    const res = await send(sidecar.ports.outbound, '/slow-body', { host: 'web:9080' });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body).toBe('first part;');
    await waitFor(() => lastRecord('/slow-body') !== undefined);
    expect(lastRecord('/slow-body')!.responseFlags).toBe('UT');
  });
});

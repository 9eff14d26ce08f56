import { connect as h2connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkloadInstance } from '../../lib/model.js';
import { type PeerPorts, type Sidecar, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';
import { find, parseExposition } from '../proxy/telemetry/prom-parse.js';
import { type EchoClient, echoClient, type GrpcApp, grpc, startGrpcEcho } from './helpers/grpc.js';

describe('gRPC through two sidecars over mTLS (HTTP/2 end to end)', () => {
  let pki: TestPki;
  let app: GrpcApp;
  let client: Sidecar;
  let server: Sidecar;
  let echo: EchoClient;
  let workloads: WorkloadInstance[];
  let sleep: WorkloadInstance;
  const peers: PeerPorts = new Map();
  const objects = () => [
    service('echo', [{ port: 7070, targetPort: app.port, name: 'grpc' }]),
    service('sleep', [{ port: 80, targetPort: 8080 }]),
    service('nobody', [{ port: 7070, name: 'grpc' }], { selector: { app: 'nobody' } }),
    istio('VirtualService', 'echo-routes', {
      hosts: ['echo'],
      http: [
        { match: [{ uri: { prefix: '/tsmesh.test.Echo/' } }], route: [{ destination: { host: 'echo' } }] },
      ],
    }),
  ];

  beforeAll(async () => {
    pki = createTestPki();
    app = await startGrpcEcho();
    const echoPod = pod({ name: 'echo-0', app: 'echo', ports: [app.port] });
    echoPod.ports = [{ containerPort: app.port, name: 'grpc', protocol: 'grpc' }];
    sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    workloads = [echoPod, sleep];
    server = await startSidecar({
      pod: echoPod,
      objects: objects(),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'echo')] }),
    });
    client = await startSidecar({
      pod: sleep,
      objects: objects(),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
    echo = echoClient(client.ports.outbound, 'echo:7070');
  });

  afterAll(async () => {
    echo?.close();
    await Promise.all([client?.proxy.stop(), server?.proxy.stop()]);
    await app?.close();
    pki?.cleanup();
  });

  it('keeps the status and custom trailing metadata of a unary call', async () => {
    const ok = await echo.unary({ message: 'hello' });
    expect(ok.error).toBeUndefined();
    expect(ok.reply?.message).toBe('hello');
    expect(ok.reply?.authority).toBe('echo:7070');
    expect(ok.reply?.peerCert).toContain(`URI=${spiffe('default', 'sleep')}`);
    expect(ok.trailers?.get('x-trailer')).toEqual(['unary-hello']);

    const failed = await echo.unary({ message: 'not-found' });
    expect(failed.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.error?.details).toBe('no such thing');
    expect(failed.trailers?.get('x-trailer')).toEqual(['unary-not-found']);
  });

  it('streams replies larger than the 64 KiB default window and keeps the trailers', async () => {
    const { replies, status } = await echo.stream({ message: 'big', count: 8, size: 256 * 1024 });
    expect(status.code).toBe(grpc.status.OK);
    expect(status.metadata.get('x-trailer')).toEqual(['stream-8']);
    expect(replies).toHaveLength(8);
    expect(replies.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(replies.every((r, i) => r.payload.length === 256 * 1024 && r.payload[100] === i)).toBe(true);
  });

  it('holds a 200 ms deadline and cancels the call on the server', async () => {
    const started = Date.now();
    const res = await echo.unary({ message: 'slow', delayMs: 3000 }, 200);
    const elapsed = Date.now() - started;
    expect(res.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(elapsed).toBeLessThan(2000);
    await waitFor(() => app.cancelled.includes('slow'), 3000);
  });

  it('answers local errors as trailers-only gRPC statuses (404 → 12, 403 → 7, 503 → 14)', async () => {
    const other = echoClient(client.ports.outbound, 'echo:7070');
    // No rule of the VirtualService matches another service path: 404 NR → UNIMPLEMENTED.
    const raw = await rawGrpc(client.ports.outbound, 'echo:7070', '/other.Service/Call');
    expect(raw.status).toBe(200);
    expect(raw.grpcStatus).toBe('12');

    const unreachable = await rawGrpc(client.ports.outbound, 'nobody:7070', '/tsmesh.test.Echo/Unary');
    expect(unreachable.grpcStatus).toBe('14');

    const deny = istio('AuthorizationPolicy', 'deny-sleep', {
      selector: { matchLabels: { app: 'echo' } },
      action: 'DENY',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }],
    });
    await server.snapshots.push(snapshot(proxyOf(workloads[0]), [...objects(), deny], workloads, 2));
    const denied = await other.unary({ message: 'hello' });
    expect(denied.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    await server.snapshots.push(snapshot(proxyOf(workloads[0]), objects(), workloads, 3));
    other.close();
  });

  it('reports request_protocol grpc and grpc_response_status on both sides', async () => {
    await echo.unary({ message: 'metrics' });
    const labels = { request_protocol: 'grpc', grpc_response_status: '0', response_code: '200' };
    const series = (s: Sidecar, want: Record<string, string>) =>
      find(parseExposition(s.proxy.telemetry.metricsText()), 'istio_requests_total', want);
    const src = { ...labels, reporter: 'source', destination_service: 'echo.default.svc.cluster.local' };
    await waitFor(() => series(client, src).length > 0);
    expect(series(client, src)[0].value).toBeGreaterThan(0);
    const dst = {
      ...labels,
      reporter: 'destination',
      connection_security_policy: 'mutual_tls',
      source_workload: 'sleep',
    };
    await waitFor(() => series(server, dst).length > 0);
    expect(series(server, dst)[0].value).toBeGreaterThan(0);
    expect(series(client, { reporter: 'source', grpc_response_status: '5' })[0]?.value).toBe(1);
  });

  it('announces flow-control windows above 64 KiB to HTTP/2 clients', async () => {
    const session = h2connect(`http://127.0.0.1:${client.ports.outbound}`);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    expect(session.remoteSettings.initialWindowSize).toBeGreaterThan(65_535);
    session.destroy();
  });
});

/** One gRPC-framed request with node:http2, returning the status and grpc-status seen. */
function rawGrpc(
  port: number,
  authority: string,
  path: string,
): Promise<{ status: number; grpcStatus: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status = 0;
    let grpcStatus: string | undefined;
    req.on('response', (h) => {
      status = Number(h[':status']);
      if (typeof h['grpc-status'] === 'string') grpcStatus = h['grpc-status'];
    });
    req.on('trailers', (t) => {
      if (typeof t['grpc-status'] === 'string') grpcStatus = t['grpc-status'];
    });
    req.on('data', () => undefined);
    req.on('close', () => {
      session.close();
      resolve({ status, grpcStatus });
    });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import { type ControlPlaneSources, createControlPlaneSources } from '../../runtime/discovery-client/index.js';
import { SidecarProxy } from '../../runtime/proxy/proxy.js';
import {
  deployment,
  type Fixture,
  fixture,
  startControlPlane,
  trustBundle,
} from '../control-plane/helpers.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { send, waitFor } from './helpers/mesh.js';

/** Two sidecars fed by the real control plane: certificates from its CA, snapshots from its registry. */
describe('sidecars fed by the control plane', () => {
  let f: Fixture;
  let cp: ControlPlane;
  let app: EchoServer;
  const sources: ControlPlaneSources[] = [];
  const proxies: SidecarProxy[] = [];
  const inboundPorts = new Map<string, number>();

  async function sidecar(
    sa: string,
    app: string,
    version: string,
    pod: string,
    port: number,
  ): Promise<SidecarProxy> {
    const s = createControlPlaneSources({
      address: `127.0.0.1:${cp.addresses.discovery.port}`,
      trustBundlePem: await trustBundle(f),
      token: cp.mintToken('default', sa).token,
      identity: {
        namespace: 'default',
        serviceAccount: sa,
        workload: `${app}-${version}`,
        pod,
        labels: { app, version },
        address: '127.0.0.1',
        ports: [{ name: 'http', containerPort: port }],
      },
      localAddress: '127.0.0.1',
      initialBackoffMs: 50,
      log: () => undefined,
    });
    sources.push(s);
    const proxy = new SidecarProxy({
      snapshotSource: s.snapshots,
      certificateSource: s.certificates,
      address: '127.0.0.1',
      ports: { outbound: 0, inbound: 0, admin: 0, stats: 0, health: 0 },
      accessLog: false,
      log: () => undefined,
      peerAddress: (ep) => {
        const p = inboundPorts.get(ep.pod);
        return p === undefined ? undefined : { address: '127.0.0.1', port: p };
      },
    });
    await proxy.start();
    inboundPorts.set(`default/${pod}`, proxy.ports().inbound);
    proxies.push(proxy);
    return proxy;
  }

  beforeAll(async () => {
    app = await startEcho('reviews');
    const yaml = [
      deployment('default', 'reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews'),
      deployment('default', 'sleep-v1', { app: 'sleep', version: 'v1' }, 'sleep'),
      `apiVersion: v1\nkind: Service\nmetadata: { name: reviews, namespace: default }\nspec:\n  selector: { app: reviews }\n  ports: [{ name: http, port: 9080, targetPort: ${app.port} }]\n`,
      `apiVersion: v1\nkind: Service\nmetadata: { name: sleep, namespace: default }\nspec:\n  selector: { app: sleep }\n  ports: [{ name: http, port: 80, targetPort: 8080 }]\n`,
    ].join('---\n');
    f = await fixture(yaml);
    cp = await startControlPlane(f);
  }, 60_000);

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    for (const s of sources) await s.close().catch(() => undefined);
    await cp?.close();
    await app?.close();
    await f?.cleanup();
  });

  it('becomes ready with an issued certificate and a pushed snapshot, and carries a request over mTLS', async () => {
    const server = await sidecar('reviews', 'reviews', 'v1', 'reviews-v1-0', app.port);
    const client = await sidecar('sleep', 'sleep', 'v1', 'sleep-v1-0', 8080);
    await waitFor(() => server.isReady() && client.isReady(), 30_000);
    let res = await send(client.ports().outbound, '/hello', { host: 'reviews:9080' });
    const end = Date.now() + 20_000;
    // The reviews endpoint appears in the client's snapshot once the server sidecar registered.
    while (res.status !== 200 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      res = await send(client.ports().outbound, '/hello', { host: 'reviews:9080' });
    }
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.headers['x-forwarded-client-cert']).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews;Hash=[0-9a-f]{64};URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep$/,
    );
  }, 60_000);
});

/**
 * A gateway (`tsmesh proxy --gateway`) registers with mode `gateway`: its endpoints are not
 * meshed, so a sidecar calling the gateway's own Service dials it on the target port in
 * plaintext (as Istio does for endpoints without a sidecar), not with mesh mTLS on 15006.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProxyMessage } from '../../lib/protocol/decode.js';
import type { ControlPlane } from '../../runtime/control-plane/server.js';
import {
  deployment,
  type Fixture,
  fixture,
  freePort,
  outboundGet,
  service,
  startControlPlane,
} from './helpers.js';

let f: Fixture | undefined;
let cp: ControlPlane | undefined;
const children: ChildProcess[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
  }
  for (const s of servers.splice(0)) s.close();
  await cp?.close();
  cp = undefined;
  await f?.cleanup();
  f = undefined;
});

const ROOT = join(import.meta.dirname, '..', '..');

function proxy(
  args: string[],
  env: { namespace: string; pod: string; sa: string; workload: string; labels: object; ports: object[] },
  token: string,
): { child: ChildProcess; stderr: () => string } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'runtime/cli/main.ts', 'proxy', ...args, '--no-access-log'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        TSMESH_BOOTSTRAP_TOKEN: token,
        TSMESH_NAMESPACE: env.namespace,
        TSMESH_POD_NAME: env.pod,
        TSMESH_SERVICE_ACCOUNT: env.sa,
        TSMESH_WORKLOAD: env.workload,
        TSMESH_POD_LABELS: JSON.stringify(env.labels),
        TSMESH_POD_PORTS: JSON.stringify(env.ports),
      },
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  children.push(child);
  return { child, stderr: () => stderr };
}

describe('gateway mode in the registry', () => {
  it('accepts mode in register and refuses an unknown one, naming the field', () => {
    const reg = {
      type: 'register',
      namespace: 'default',
      serviceAccount: 'ingress',
      workload: 'ingress',
      pod: 'ingress-0',
      labels: {},
      address: '127.0.0.1',
      ports: [],
    };
    expect(decodeProxyMessage({ ...reg, mode: 'gateway' }, 3)).toMatchObject({ mode: 'gateway' });
    expect(decodeProxyMessage(reg, 3)).not.toHaveProperty('mode');
    expect(() => decodeProxyMessage({ ...reg, mode: 'waypoint' }, 3)).toThrow(
      'register.mode: expected one of sidecar, gateway, got "waypoint"',
    );
  });

  it("a sidecar reaches the gateway's own Service on its target port in plaintext", {
    timeout: 60_000,
  }, async () => {
    const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
    const [appAddr, gwAddr, clientAddr] = [`${net}.31`, `${net}.32`, `${net}.33`];
    const backend = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('productpage'));
    });
    servers.push(backend);
    await new Promise<void>((r) => backend.listen(0, appAddr, () => r()));
    const appPort = (backend.address() as AddressInfo).port;
    const gwPort = await freePort();
    const yaml = [
      deployment('default', 'sleep', { app: 'sleep' }, 'sleep'),
      service('default', 'sleep', { app: 'sleep' }, 80),
      deployment('default', 'ingress', { istio: 'ingressgateway' }, 'ingress'),
      service('default', 'ingress', { istio: 'ingressgateway' }, 80).replace(
        'port: 80 }',
        `port: 80, targetPort: ${gwPort} }`,
      ),
      service('default', 'productpage', { app: 'productpage' }).replace(
        'port: 9080 }',
        `port: 9080, targetPort: ${appPort} }`,
      ),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ingress, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: front, namespace: default }
spec:
  hosts: ["*"]
  gateways: [ingress]
  http: [{ route: [{ destination: { host: productpage, port: { number: 9080 } } }] }]
`,
    ].join('---\n');
    f = await fixture(yaml);
    cp = await startControlPlane(f);
    cp.registerWorkload({
      name: 'productpage-0',
      namespace: 'default',
      workload: 'productpage',
      serviceAccount: 'productpage',
      labels: { app: 'productpage' },
      address: appAddr,
      ports: [{ containerPort: appPort }],
      meshed: false,
    });
    const bundle = join(f.stateDir, 'ca', 'trust-bundle.pem');
    const cpAddress = `127.0.0.1:${cp.addresses.discovery.port}`;
    const gateway = proxy(
      [
        '--gateway',
        '--control-plane',
        cpAddress,
        '--trust-bundle',
        bundle,
        '--address',
        gwAddr,
        '--port-offset',
        String(gwPort - 80),
        '--admin-socket',
        join(f.dir, 'gw.sock'),
      ],
      {
        namespace: 'default',
        pod: 'ingress-0',
        sa: 'ingress',
        workload: 'ingress',
        labels: { istio: 'ingressgateway' },
        ports: [{ name: 'http', containerPort: gwPort }],
      },
      cp.mintToken('default', 'ingress').token,
    );
    const sidecar = proxy(
      [
        '--control-plane',
        cpAddress,
        '--trust-bundle',
        bundle,
        '--address',
        clientAddr,
        '--admin-socket',
        join(f.dir, 'sleep.sock'),
      ],
      {
        namespace: 'default',
        pod: 'sleep-0',
        sa: 'sleep',
        workload: 'sleep',
        labels: { app: 'sleep' },
        ports: [{ name: 'http', containerPort: 8080 }],
      },
      cp.mintToken('default', 'sleep').token,
    );
    const agent = new Agent({ keepAlive: true });
    const get = () => outboundGet(clientAddr, 'ingress:80', agent);
    try {
      await expect
        .poll(() => cp!.proxies().filter((p) => p.state === 'SYNCED').length, { timeout: 40_000 })
        .toBe(2);
      const gw = cp.registry.list().find((w) => w.name === 'ingress-0');
      expect(gw).toMatchObject({ meshed: false, address: gwAddr });
      expect(cp.proxies().map((p) => [p.pod, p.mode])).toEqual([
        ['ingress-0', 'gateway'],
        ['sleep-0', 'sidecar'],
      ]);
      let last = '';
      await expect
        .poll(
          async () => {
            last = await get();
            return last;
          },
          { timeout: 20_000, interval: 250 },
        )
        .toBe('200 productpage')
        .catch((err: Error) => {
          throw new Error(`${err.message}; last answer ${last}\n${gateway.stderr()}\n${sidecar.stderr()}`);
        });
    } finally {
      agent.destroy();
    }
  });
});

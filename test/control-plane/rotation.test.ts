/**
 * Certificate rotation with traffic through two real sidecars (`tsmesh proxy` processes) fed by a
 * real control plane process. The workload certificate TTL is 6 s instead of Istio-like hours so
 * that three rotations (at about half the lifetime each) fit in a short test; the code path is the
 * one a 24 h certificate takes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminRequest } from '../../runtime/control-plane/admin-client.js';
import {
  type ControlPlaneProcess,
  deployment,
  type Fixture,
  fixture,
  freePort,
  service,
  spawnControlPlane,
} from './helpers.js';

let f: Fixture | undefined;
const processes: ControlPlaneProcess[] = [];
const children: ChildProcess[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGKILL');
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
  }
  for (const p of processes.splice(0)) await p.kill('SIGKILL');
  for (const s of servers.splice(0)) s.close();
  await f?.cleanup();
  f = undefined;
});

const ROOT = join(import.meta.dirname, '..', '..');

async function echoApp(): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function sidecar(opts: {
  cpPort: number;
  bundlePath: string;
  token: string;
  address: string;
  socket: string;
  namespace: string;
  serviceAccount: string;
  workload: string;
  pod: string;
  labels: Record<string, string>;
  ports: { name: string; containerPort: number }[];
}): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'runtime/cli/main.ts',
      'proxy',
      '--control-plane',
      `127.0.0.1:${opts.cpPort}`,
      '--trust-bundle',
      opts.bundlePath,
      '--address',
      opts.address,
      '--admin-socket',
      opts.socket,
      '--no-access-log',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        TSMESH_BOOTSTRAP_TOKEN: opts.token,
        TSMESH_NAMESPACE: opts.namespace,
        TSMESH_POD_NAME: opts.pod,
        TSMESH_SERVICE_ACCOUNT: opts.serviceAccount,
        TSMESH_WORKLOAD: opts.workload,
        TSMESH_POD_LABELS: JSON.stringify(opts.labels),
        TSMESH_POD_PORTS: JSON.stringify(opts.ports),
      },
    },
  );
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err = (err + c.toString()).slice(-4000);
  });
  (child as ChildProcess & { lastErr: () => string }).lastErr = () => err;
  children.push(child);
  return child;
}

async function serialOf(socket: string): Promise<string | undefined> {
  try {
    const answer = await adminRequest<{ certificate: { serial: string } | null }>(
      socket,
      'GET',
      '/certs',
      undefined,
      2000,
    );
    return answer.body.certificate?.serial;
  } catch {
    return undefined;
  }
}

describe('certificate rotation under traffic', () => {
  it('rotates both sidecars three times at 200 req/s with no failed request', {
    timeout: 90_000,
  }, async () => {
    const appPort = await echoApp();
    const yaml = [
      deployment('default', 'reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews'),
      deployment('default', 'sleep', { app: 'sleep' }, 'sleep'),
      service('default', 'reviews', { app: 'reviews' }).replace(
        'port: 9080 }',
        `port: 9080, targetPort: ${appPort} }`,
      ),
      service('default', 'sleep', { app: 'sleep' }, 80),
    ].join('---\n');
    f = await fixture(yaml);
    const cpPort = await freePort();
    processes.push(await spawnControlPlane(f, cpPort, ['--cert-ttl', '6s']));
    const socket = join(f.stateDir, 'control-plane.sock');
    const bundlePath = join(f.stateDir, 'ca', 'trust-bundle.pem');
    const token = async (sa: string) =>
      (
        await adminRequest<{ token: string }>(socket, 'POST', '/v1/tokens', {
          namespace: 'default',
          serviceAccount: sa,
        })
      ).body.token;
    // Addresses of our own in 127/8, unlikely to meet another test's.
    const net = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
    const [serverAddr, clientAddr] = [`${net}.11`, `${net}.12`];
    const serverSocket = join(f.dir, 'reviews.sock');
    const clientSocket = join(f.dir, 'sleep.sock');
    sidecar({
      cpPort,
      bundlePath,
      token: await token('reviews'),
      address: serverAddr,
      socket: serverSocket,
      namespace: 'default',
      serviceAccount: 'reviews',
      workload: 'reviews-v1',
      pod: 'reviews-v1-0',
      labels: { app: 'reviews', version: 'v1' },
      ports: [{ name: 'http', containerPort: appPort }],
    });
    sidecar({
      cpPort,
      bundlePath,
      token: await token('sleep'),
      address: clientAddr,
      socket: clientSocket,
      namespace: 'default',
      serviceAccount: 'sleep',
      workload: 'sleep',
      pod: 'sleep-0',
      labels: { app: 'sleep' },
      ports: [{ name: 'http', containerPort: 8080 }],
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const get = () =>
      new Promise<number>((resolve) => {
        const req = request(
          {
            host: clientAddr,
            port: 15001,
            path: '/reviews/1',
            agent,
            headers: { host: 'reviews:9080' },
            timeout: 5000,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(-1));
        req.end();
      });
    // Ready: both hold a certificate and the client reaches the server.
    await expect.poll(async () => get(), { timeout: 40_000, interval: 250 }).toBe(200);

    const serials = { server: new Set<string>(), client: new Set<string>() };
    const codes = new Map<number, number>();
    let sent = 0;
    const inflight = new Set<Promise<void>>();
    const started = Date.now();
    const ticker = setInterval(async () => {
      for (const [side, sock] of [
        ['server', serverSocket],
        ['client', clientSocket],
      ] as const) {
        const s = await serialOf(sock);
        if (s) serials[side].add(s);
      }
    }, 250);
    try {
      // 200 requests per second: one every 5 ms, until both sides rotated three times (or 40 s).
      while ((serials.server.size < 4 || serials.client.size < 4) && Date.now() - started < 40_000) {
        const p = get().then((code) => {
          codes.set(code, (codes.get(code) ?? 0) + 1);
        });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        sent++;
        const next = started + sent * 5;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
      await Promise.all(inflight);
    } finally {
      clearInterval(ticker);
      agent.destroy();
    }
    expect(serials.server.size).toBeGreaterThanOrEqual(4);
    expect(serials.client.size).toBeGreaterThanOrEqual(4);
    expect(Object.fromEntries(codes)).toEqual({ 200: sent });
    expect(sent).toBeGreaterThan(1000);
  });
});

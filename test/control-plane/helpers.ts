/** Shared set-up for the control-plane tests: a config folder, a state folder, loopback ports. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import type { ControlPlaneOptions } from '../../runtime/control-plane/options.js';
import { ControlPlane } from '../../runtime/control-plane/server.js';
import { createControlPlaneSources } from '../../runtime/discovery-client/index.js';
import type { ControlPlaneSourcesOptions } from '../../runtime/discovery-client/options.js';
import type { CertificateBundle } from '../../runtime/proxy/sources.js';

export function deployment(ns: string, name: string, labels: Record<string, string>, sa: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { matchLabels: ${JSON.stringify(labels)} }
  template:
    metadata: { labels: ${JSON.stringify(labels)} }
    spec:
      serviceAccountName: ${sa}
      containers: [{ name: app, image: example/app }]
`;
}

export function service(ns: string, name: string, selector: Record<string, string>, port = 9080): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: ${JSON.stringify(selector)}
  ports: [{ name: http, port: ${port} }]
`;
}

export function virtualService(ns: string, host: string, weights: [string, number][]): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${host}, namespace: ${ns} }
spec:
  hosts: [${host}]
  http:
    - route:
${weights.map(([subset, w]) => `        - destination: { host: ${host}, subset: ${subset} }\n          weight: ${w}`).join('\n')}
`;
}

/** Two services (reviews v1/v2 and productpage) with a 75/25 route. */
export function bookinfoYaml(weights: [number, number] = [75, 25]): string {
  return [
    deployment('default', 'reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews'),
    deployment('default', 'reviews-v2', { app: 'reviews', version: 'v2' }, 'reviews'),
    deployment('default', 'productpage-v1', { app: 'productpage', version: 'v1' }, 'productpage'),
    service('default', 'reviews', { app: 'reviews' }),
    service('default', 'productpage', { app: 'productpage' }),
    virtualService('default', 'reviews', [
      ['v1', weights[0]],
      ['v2', weights[1]],
    ]),
  ].join('---\n');
}

export interface Fixture {
  dir: string;
  configDir: string;
  stateDir: string;
  cleanup(): Promise<void>;
}

export async function fixture(configYaml = bookinfoYaml()): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'tsmesh-cp-'));
  const configDir = join(dir, 'config');
  const stateDir = join(dir, 'state');
  await import('node:fs/promises').then((fs) => fs.mkdir(configDir));
  await writeFile(join(configDir, 'mesh.yaml'), configYaml);
  return { dir, configDir, stateDir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function startControlPlane(
  f: Fixture,
  extra: Partial<ControlPlaneOptions> = {},
): Promise<ControlPlane> {
  return ControlPlane.start({
    configPaths: [f.configDir],
    stateDir: f.stateDir,
    listen: { host: '127.0.0.1', port: 0 },
    monitoring: { host: '127.0.0.1', port: 0 },
    configPollMs: 200,
    log: () => {},
    ...extra,
  });
}

export async function trustBundle(f: Fixture): Promise<string[]> {
  return [await readFile(join(f.stateDir, 'ca', 'trust-bundle.pem'), 'utf8')];
}

export interface TestClient {
  snapshots: ProxySnapshot[];
  certificates: CertificateBundle[];
  nextSnapshot(predicate?: (s: ProxySnapshot) => boolean, timeoutMs?: number): Promise<ProxySnapshot>;
  nextCertificate(
    predicate?: (c: CertificateBundle) => boolean,
    timeoutMs?: number,
  ): Promise<CertificateBundle>;
  close(): Promise<void>;
  logs: string[];
}

export function reviewsIdentity(pod = 'reviews-v1-0', address = '127.0.0.1') {
  return {
    namespace: 'default',
    serviceAccount: 'reviews',
    workload: 'reviews-v1',
    pod,
    labels: { app: 'reviews', version: 'v1' },
    address,
    ports: [{ name: 'http', containerPort: 9080 }],
  };
}

export function startClient(
  options: Partial<ControlPlaneSourcesOptions> &
    Pick<ControlPlaneSourcesOptions, 'address' | 'trustBundlePem' | 'token'>,
): TestClient {
  const logs: string[] = [];
  const sources = createControlPlaneSources({
    identity: reviewsIdentity(),
    localAddress: '127.0.0.1',
    initialBackoffMs: 50,
    maxBackoffMs: 500,
    log: (l) => logs.push(l),
    ...options,
  });
  const snapshots: ProxySnapshot[] = [];
  const certificates: CertificateBundle[] = [];
  const waitFor = <T>(list: T[], predicate: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const tick = (): void => {
        const found = list.find(predicate);
        if (found) resolve(found);
        else if (Date.now() - started > timeoutMs) {
          reject(new Error(`no ${what} within ${timeoutMs} ms; logs: ${logs.join(' | ')}`));
        } else setTimeout(tick, 20);
      };
      tick();
    });
  sources.snapshots.start((s) => {
    snapshots.push(s);
  });
  sources.certificates.start((c) => {
    certificates.push(c);
  });
  return {
    snapshots,
    certificates,
    logs,
    nextSnapshot: (p = () => true, t = 10_000) => waitFor(snapshots, p, t, 'snapshot'),
    nextCertificate: (p = () => true, t = 10_000) => waitFor(certificates, p, t, 'certificate'),
    close: () => sources.close(),
  };
}

/** A free loopback port (bound and released), for a control plane that must come back on it. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ControlPlaneProcess {
  pid: number;
  stderr: () => string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** `tsmesh control-plane` in its own process (TypeScript sources through tsx). */
export async function spawnControlPlane(
  f: Fixture,
  port: number,
  extraArgs: string[] = [],
): Promise<ControlPlaneProcess> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'runtime/cli/main.ts',
      'control-plane',
      '--config',
      f.configDir,
      '--state-dir',
      f.stateDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--monitoring',
      'off',
      ...extraArgs,
    ],
    { cwd: join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`control plane did not start within 30 s: ${stderr}`)),
      30_000,
    );
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('ready:')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited with ${code}: ${stderr}`));
    });
  });
  return {
    pid: child.pid!,
    stderr: () => stderr,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * One GET through a sidecar's outbound listener (15001) at `address`, with `hostHeader` as Host;
 * resolves `"<status> <body>"`, or `"error <message>"` (5 s timeout), never rejects.
 */
export function outboundGet(address: string, hostHeader: string, agent: Agent): Promise<string> {
  return new Promise<string>((resolve) => {
    const req = request(
      { host: address, port: 15001, path: '/', agent, headers: { host: hostHeader }, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', (e) => resolve(`error ${e.message}`));
    req.end();
  });
}

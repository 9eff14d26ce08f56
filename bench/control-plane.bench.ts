/**
 * Control-plane benchmark: 1000 simulated sidecars (each its own TLS connection, decoding, applying
 * and hashing every push with the discovery client's code before it ACKs) on a mesh of 100
 * services in 10 namespaces.
 *
 * Measures certificate issuance (rate and CSR→certificate latency, idle and during a change), then
 * changes one VirtualService weight through the admin API and measures the time from the change to
 * each sidecar's ACK (p50/p99), bytes per push, and the control plane's RSS. Two meshes: without
 * Sidecar resources (every proxy sees every service and endpoint) and with a Sidecar per namespace
 * (egress `./*`). Knobs and what each figure means: bench/README.md.
 *
 * Needs the compiled control plane: `npm run build` first. Run: `npm run bench control-plane`.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsr, generateRsaKeyPair } from '../lib/pki/index.js';
import { adminRequest } from '../runtime/control-plane/admin-client.js';
import type { SimulatedSidecar } from './control-plane/sidecars.js';

const ROOT = join(import.meta.dirname, '..');
const NAMESPACES = 10;
const SERVICES_PER_NAMESPACE = 10;
const PODS_PER_SERVICE = Number(process.env.BENCH_PODS_PER_SERVICE ?? 10);
/**
 * Without Sidecar scoping every proxy receives every endpoint (the issue's scenario: 1000 sidecars,
 * each snapshot holding all 1000 endpoints). BENCH_UNSCOPED_PODS_PER_SERVICE sets it apart.
 */
const UNSCOPED_PODS_PER_SERVICE = Number(process.env.BENCH_UNSCOPED_PODS_PER_SERVICE ?? PODS_PER_SERVICE);
/** The compiled CLI to run (another build with TSMESH_CLI, e.g. a copy that later rebuilds cannot change). */
const CLI = process.env.TSMESH_CLI ?? join(ROOT, 'build/runtime/cli/main.js');
const progress = (what: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${what}\n`);
};
const WORKERS = 2;
/** Connections of the CA client process, 20 CSRs each per measurement. */
const CA_CLIENT_CONNECTIONS = 20;
const CHANGES = 5;

function meshYaml(scoped: boolean): string {
  const docs: string[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`);
    if (scoped) {
      docs.push(
        `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: ${ns} }\nspec:\n  egress:\n    - hosts: ["./*", "tsmesh-system/*"]\n`,
      );
    }
    for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
      const name = `svc-${s}`;
      docs.push(`apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${name}, namespace: ${ns} }\n`);
      for (const version of ['v1', 'v2']) {
        docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}-${version}, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: ${name}, version: ${version} } }
  template:
    metadata: { labels: { app: ${name}, version: ${version} } }
    spec:
      serviceAccountName: ${name}
      containers: [{ name: app, image: example/${name}:${version}, ports: [{ containerPort: 9080 }] }]
`);
      }
      docs.push(`apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${ns} }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 9080, targetPort: 9080 }]
`);
      docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${ns} }
spec:
  host: ${name}
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`);
      docs.push(virtualService(ns, name, 50));
    }
  }
  return docs.join('---\n');
}

function virtualService(ns: string, name: string, weight: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${name}]
  http:
    - route:
        - { destination: { host: ${name}, subset: v1 }, weight: ${weight} }
        - { destination: { host: ${name}, subset: v2 }, weight: ${100 - weight} }
`;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function rssMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** CPU time (user + system) a process has used so far, in ms (from /proc, 100 ticks per second). */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

function send<T>(worker: ChildProcess, message: unknown, expect: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: any): void => {
      if (m.type === 'error') {
        worker.off('message', onMessage);
        reject(new Error(m.message));
      } else if (m.type === expect) {
        worker.off('message', onMessage);
        resolve(m as T);
      }
    };
    worker.on('message', onMessage);
    worker.send(message as object);
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function scenario(scoped: boolean) {
  const podsPerService = scoped ? PODS_PER_SERVICE : UNSCOPED_PODS_PER_SERVICE;
  const dir = await mkdtemp(join(tmpdir(), 'tsmesh-cp-bench-'));
  const configDir = join(dir, 'config');
  const stateDir = join(dir, 'state');
  await mkdir(configDir);
  await writeFile(join(configDir, 'mesh.yaml'), meshYaml(scoped));
  const [port, monitoring] = [await freePort(), await freePort()];
  const cp = spawn(
    process.execPath,
    [
      ...(process.env.TSMESH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      CLI,
      'control-plane',
      '--config',
      configDir,
      '--state-dir',
      stateDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--monitoring',
      `127.0.0.1:${monitoring}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    cp.stderr!.on('data', (c: Buffer) => {
      log += c;
      if (log.includes('ready:')) resolve();
    });
    cp.once('exit', (code) => reject(new Error(`control plane exited ${code}: ${log}`)));
  });
  const workers: ChildProcess[] = [];
  progress(`control plane ready (${scoped ? 'scoped' : 'unscoped'})`);
  try {
    const socket = join(stateDir, 'control-plane.sock');
    const trustBundle = [await readFile(join(stateDir, 'ca', 'trust-bundle.pem'), 'utf8')];
    const sidecars: SimulatedSidecar[] = [];
    let i = 0;
    for (let n = 0; n < NAMESPACES; n++) {
      for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
        const ns = `ns-${n}`;
        const sa = `svc-${s}`;
        const { body } = await adminRequest<{ token: string }>(socket, 'POST', '/v1/tokens', {
          namespace: ns,
          serviceAccount: sa,
        });
        for (let p = 0; p < podsPerService; p++, i++) {
          const version = p % 2 === 0 ? 'v1' : 'v2';
          sidecars.push({
            namespace: ns,
            serviceAccount: sa,
            workload: `${sa}-${version}`,
            pod: `${sa}-${version}-${p}`,
            labels: { app: sa, version },
            address: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`,
            token: body.token,
          });
        }
      }
    }
    const keys = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const k = await generateRsaKeyPair();
        return { privateKeyPem: k.privateKeyPem, csrPem: await createCsr(k) };
      }),
    );
    for (let w = 0; w < WORKERS; w++) {
      workers.push(
        fork(join(import.meta.dirname, 'control-plane', 'sidecars.ts'), [], {
          // Each simulated sidecar holds its whole snapshot, as a real one does.
          execArgv: ['--import', 'tsx', '--max-old-space-size=6144'],
        }),
      );
    }
    const share = Math.ceil(sidecars.length / WORKERS);
    const issued = await Promise.all(
      workers.map((w, k) =>
        send<{ latencies: number[]; elapsedMs: number }>(
          w,
          {
            cmd: 'start',
            port,
            trustBundle,
            sidecars: sidecars.slice(k * share, (k + 1) * share),
            keys,
            concurrency: 25,
          },
          'issued',
        ),
      ),
    );
    progress(`certificates issued`);
    const issueLatencies = issued.flatMap((r) => r.latencies);
    const issueElapsed = Math.max(...issued.map((r) => r.elapsedMs));
    await Promise.all(workers.map((w) => send(w, { cmd: 'connect' }, 'connected')));
    progress('all sidecars registered');
    // The CA's client: its own identities (certificates by bootstrap), connections not registered.
    const caClient = fork(join(import.meta.dirname, 'control-plane', 'sidecars.ts'), [], {
      execArgv: ['--import', 'tsx'],
    });
    workers.push(caClient);
    await send(
      caClient,
      {
        cmd: 'start',
        port,
        trustBundle,
        sidecars: sidecars.slice(0, CA_CLIENT_CONNECTIONS).map((s, n) => ({
          ...s,
          pod: `ca-client-${n}`,
          address: `127.2.0.${n + 1}`,
        })),
        keys,
        concurrency: CA_CLIENT_CONNECTIONS,
      },
      'issued',
    );
    await send(caClient, { cmd: 'open' }, 'opened');
    // Wait until every sidecar holds a snapshot and every one is SYNCED.
    for (;;) {
      const status = (await adminRequest<{ counts: { synced: number } }>(socket, 'GET', '/v1/status')).body;
      if (status.counts.synced === sidecars.length) break;
      progress(`synced ${status.counts.synced}/${sidecars.length}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await rssMb(cp.pid!);
    const idleMemory = (await adminRequest<{ memory?: Record<string, number> }>(socket, 'GET', '/v1/status'))
      .body.memory;
    const latencies: number[] = [];
    const applyMs: number[] = [];
    const pushedPerChange: number[] = [];
    const bytesPerPush: number[] = [];
    const workerHeapMb: number[] = [];
    const perChange: { p50: number; max: number }[] = [];
    const sidecarPids = workers.slice(0, WORKERS).map((w) => w.pid!);
    const cpuBefore = { cp: await cpuMs(cp.pid!), sidecars: await Promise.all(sidecarPids.map(cpuMs)) };
    for (let c = 1; c <= CHANGES; c++) {
      const weight = 50 + c;
      const [bytes0, pushes0] = [
        await metric(monitoring, 'tsmesh_snapshot_push_bytes_total'),
        await metric(monitoring, 'tsmesh_snapshot_pushes_total'),
      ];
      const t0 = Date.now();
      const answer = await adminRequest<{ acked?: string[]; error?: string }>(socket, 'POST', '/v1/apply', {
        yaml: virtualService('ns-0', 'svc-0', weight),
        timeoutMs: 60_000,
      });
      applyMs.push(Date.now() - t0);
      progress(`change ${c} answered in ${Date.now() - t0} ms`);
      if (answer.status !== 200)
        throw new Error(`apply answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
      const reports = await Promise.all(
        workers
          .slice(0, WORKERS)
          .map((w) => send<{ acks: number[]; heapUsedMb: number }>(w, { cmd: 'report', weight }, 'report')),
      );
      workerHeapMb.push(...reports.map((r) => r.heapUsedMb));
      perChange.push({
        p50: percentile(
          reports.flatMap((r) => r.acks).map((t) => t - t0),
          50,
        ),
        max: Math.max(...reports.flatMap((r) => r.acks).map((t) => t - t0)),
      });
      const acks = reports.flatMap((r) => r.acks);
      latencies.push(...acks.map((t) => t - t0));
      const [bytes1, pushes1] = [
        await metric(monitoring, 'tsmesh_snapshot_push_bytes_total'),
        await metric(monitoring, 'tsmesh_snapshot_pushes_total'),
      ];
      pushedPerChange.push(pushes1 - pushes0);
      bytesPerPush.push((bytes1 - bytes0) / Math.max(1, pushes1 - pushes0));
      if (acks.length !== answer.body.acked?.length) {
        throw new Error(
          `workers saw ${acks.length} ACKs, the control plane reported ${answer.body.acked?.length}`,
        );
      }
    }
    const cpuAfter = { cp: await cpuMs(cp.pid!), sidecars: await Promise.all(sidecarPids.map(cpuMs)) };
    const cpuPerChange = {
      controlPlaneMs: Math.round((cpuAfter.cp - cpuBefore.cp) / CHANGES),
      sidecarWorkersMs: Math.round(
        cpuAfter.sidecars.reduce((a, b, i) => a + b - cpuBefore.sidecars[i], 0) / CHANGES,
      ),
    };
    // The CA alone: certificate requests over open mTLS connections (how sidecars rotate), from a
    // process of its own (the sidecar workers hold 1000 snapshots, and their pauses are not the CA's).
    const rotate = () =>
      send<{ latencies: number[]; elapsedMs: number }>(
        caClient,
        { cmd: 'rotate', connections: CA_CLIENT_CONNECTIONS, perConnection: 20 },
        'rotated',
      );
    const idleRotation = await rotate();
    const rotateLatencies = idleRotation.latencies;
    const rotateElapsed = idleRotation.elapsedMs;
    progress('rotations measured');
    // The same certificate requests while a change is pushed to every affected sidecar.
    const busyWeight = 50 + CHANGES + 1;
    const tBusy = Date.now();
    const [busyRotated, busyAnswer] = await Promise.all([
      rotate(),
      adminRequest<{ acked?: string[] }>(socket, 'POST', '/v1/apply', {
        yaml: virtualService('ns-0', 'svc-0', busyWeight),
        timeoutMs: 60_000,
      }),
    ]);
    if (busyAnswer.status !== 200) throw new Error(`apply during rotations answered ${busyAnswer.status}`);
    const busyAcks = (
      await Promise.all(
        workers
          .slice(0, WORKERS)
          .map((w) => send<{ acks: number[] }>(w, { cmd: 'report', weight: busyWeight }, 'report')),
      )
    )
      .flatMap((r) => r.acks)
      .map((t) => t - tBusy);
    const busyLatencies = busyRotated.latencies;
    const busyElapsed = busyRotated.elapsedMs;
    progress('rotations during a change measured');
    const after = await rssMb(cp.pid!);
    const pushLatency = await metric(monitoring, 'tsmesh_push_latency_seconds_count');
    return {
      mesh: scoped ? 'Sidecar per namespace (egress ./*)' : 'no Sidecar (every proxy sees all 100 services)',
      sidecars: sidecars.length,
      certificates: {
        loadAverage: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
        rotationPathPerSecond: Math.round((rotateLatencies.length / rotateElapsed) * 1000),
        rotationPathP50Ms: +percentile(rotateLatencies, 50).toFixed(1),
        rotationPathP99Ms: +percentile(rotateLatencies, 99).toFixed(1),
        duringChangePerSecond: Math.round((busyLatencies.length / busyElapsed) * 1000),
        duringChangeP50Ms: +percentile(busyLatencies, 50).toFixed(1),
        duringChangeP99Ms: +percentile(busyLatencies, 99).toFixed(1),
        changeWhileIssuingP50Ms: percentile(busyAcks, 50),
        changeWhileIssuingP99Ms: percentile(busyAcks, 99),
        bootstrapPerSecond: Math.round((issueLatencies.length / issueElapsed) * 1000),
        bootstrapP50Ms: +percentile(issueLatencies, 50).toFixed(1),
        bootstrapP99Ms: +percentile(issueLatencies, 99).toFixed(1),
      },
      convergence: {
        proxiesPerChange: Math.round(pushedPerChange.reduce((a, b) => a + b, 0) / CHANGES),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: Math.max(...latencies),
        perChangeMs: perChange,
        cpuPerChange,
        applyAnswerMs: { p50: percentile(applyMs, 50), max: Math.max(...applyMs) },
      },
      bytesPerSnapshot: Math.round(bytesPerPush.reduce((a, b) => a + b, 0) / CHANGES),
      bytesPerChange: Math.round(
        (bytesPerPush.reduce((a, b) => a + b, 0) / CHANGES) *
          (pushedPerChange.reduce((a, b) => a + b, 0) / CHANGES),
      ),
      controlPlaneRssMb: {
        idle: Math.round(idle.rss),
        afterChanges: Math.round(after.rss),
        peak: Math.round(after.peak),
        idleBreakdown: Object.fromEntries(
          Object.entries(idleMemory ?? {}).map(([k, v]) => [k, Math.round(v / 1048576)]),
        ),
      },
      pushLatencyObservations: pushLatency,
      simulatedSidecarsHeapMbPerWorker: Math.max(...workerHeapMb),
    };
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    cp.kill('SIGTERM');
    await new Promise((r) => cp.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

if (!existsSync(CLI)) {
  console.error('control-plane bench: run `npm run build` first (it runs the compiled control plane)');
  process.exit(2);
}
/** Why signatures go through node:crypto: forge's RSA signing is synchronous and slow. */
async function signing() {
  const forge = (await import('node-forge')).default;
  const { createPrivateKey, sign } = await import('node:crypto');
  const { CertificateSigner, createRootCertificate, verifyCsr } = await import('../lib/pki/index.js');
  const k = await generateRsaKeyPair();
  const data = Buffer.alloc(1000, 1);
  const forgeKey = forge.pki.privateKeyFromPem(k.privateKeyPem);
  let t = performance.now();
  for (let i = 0; i < 10; i++) {
    const md = forge.md.sha256.create();
    md.update(data.toString('binary'));
    forgeKey.sign(md);
  }
  const forgeMs = (performance.now() - t) / 10;
  const key = createPrivateKey(k.privateKeyPem);
  t = performance.now();
  for (let i = 0; i < 200; i++) await new Promise((r) => sign('sha256', data, key, r));
  const nodeMs = (performance.now() - t) / 200;
  const signer = new CertificateSigner(
    await createRootCertificate({ ...k, trustDomain: 'cluster.local' }),
    k.privateKeyPem,
  );
  const csr = await createCsr(k);
  t = performance.now();
  for (let i = 0; i < 200; i++) {
    const { publicKeyPem } = verifyCsr(csr);
    await signer.issue({ publicKeyPem, spiffeId: 'spiffe://cluster.local/ns/a/sa/b', ttlMs: 3600_000 });
  }
  const issueMs = (performance.now() - t) / 200;
  return {
    forgeRsaSignMs: +forgeMs.toFixed(2),
    nodeCryptoAsyncSignMs: +nodeMs.toFixed(2),
    wholeIssuanceInProcessMs: +issueMs.toFixed(2),
    loadAverage: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
  };
}

const results: unknown[] = [];
const sig = await signing();
console.log(JSON.stringify({ signing: sig }, null, 2));
results.push({ signing: sig });
for (const scoped of (process.env.BENCH_SCENARIOS ?? 'scoped,unscoped')
  .split(',')
  .map((s) => s === 'scoped')) {
  const r = await scenario(scoped);
  console.log(JSON.stringify(r, null, 2));
  results.push(r);
}
await mkdir(join(import.meta.dirname, 'out'), { recursive: true });
await writeFile(
  join(import.meta.dirname, 'out', 'control-plane.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);

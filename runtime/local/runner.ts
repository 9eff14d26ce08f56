/**
 * `tsmesh up`: runs synthesized manifests as local processes. The control plane first, then for
 * every pod its sidecar, then (once the sidecar is ready) its app containers. As root each pod
 * gets its own network namespace with the capture rules, service virtual IPs and a hosts file;
 * without root pods get loopback addresses and apps use their sidecar as an explicit proxy.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { captureScript, parseList } from '../../lib/capture.js';
import { ANNOTATIONS, PORTS } from '../../lib/constants.js';
import { adminCall, adminRequest } from './admin-client.js';
import { cleanupLeftovers, defaultLeaseDir, detectMode } from './environment.js';
import { forward } from './forwarder.js';
import { acquireLease, type Lease, processStart } from './leases.js';
import { LogSink } from './logs.js';
import { readManifests } from './manifests.js';
import {
  createBridge,
  createPodNs,
  destroyInstance,
  type ServiceRule,
  serviceRulesScript,
  shInNs,
  writeHostsFile,
} from './netns.js';
import { type MeshPlan, type PlannedPod, planMesh, resolveTargetPort, selects } from './plan.js';
import { explicitProxyEnv, processSpec } from './pod-processes.js';
import { probeOnce, tcpOpen, waitUntil } from './probe.js';
import { ManagedProcess } from './process.js';
import { packageRoot, tsmeshCommand } from './root.js';
import {
  DEFAULT_STATE_DIR,
  type MeshState,
  type PodRecord,
  type ProcessRecord,
  readState,
  removeState,
  socketDir,
  writeState,
} from './state.js';
import { type LocalMode, serviceNames, type Topology, topology } from './topology.js';

export interface RunnerOptions {
  /** Manifest files or folders. @default ['dist'] */
  paths?: string[];
  /** @default '.tsmesh' */
  stateDir?: string;
  /** @default process.cwd() */
  cwd?: string;
  /** `auto` picks `netns` as root, `loopback` otherwise. @default 'auto' */
  mode?: LocalMode | 'auto';
  /** The command that runs tsmesh. @default node + build/runtime/cli/main.js */
  tsmesh?: string[];
  /** Where instance leases live. @default /run/tsmesh/leases as root, else /tmp/tsmesh-leases */
  leaseDir?: string;
  /** Workload certificate lifetime passed to the control plane (e.g. `60s`). */
  certTtl?: string;
  /** How long each part may take to become ready. @default 60000 */
  readyTimeoutMs?: number;
  out?: Writable;
  color?: boolean;
  /** Validates the mesh objects before anything starts; throws with the diagnostics. */
  validate?: (files: string[]) => Promise<void>;
}

export class LocalMesh {
  private readonly o: Required<Omit<RunnerOptions, 'certTtl' | 'validate' | 'leaseDir' | 'tsmesh' | 'mode'>> &
    RunnerOptions;
  private readonly logs: LogSink;
  private readonly processes: { pod?: string; proc: ManagedProcess; record: ProcessRecord }[] = [];
  private lease?: Lease;
  private topo?: Topology;
  private state?: MeshState;
  private stopping?: Promise<void>;
  private plan?: MeshPlan;
  private ingressServer?: Server;

  constructor(options: RunnerOptions = {}) {
    const cwd = options.cwd ?? process.cwd();
    this.o = {
      paths: ['dist'],
      stateDir: resolve(cwd, options.stateDir ?? DEFAULT_STATE_DIR),
      cwd,
      readyTimeoutMs: 60_000,
      out: process.stdout,
      color: false,
      ...options,
    };
    this.o.stateDir = resolve(cwd, this.o.stateDir);
    this.logs = new LogSink({ out: this.o.out, color: this.o.color });
  }

  get current(): MeshState | undefined {
    return this.state;
  }

  /** Starts everything; resolves once every pod is ready (rejects, after cleaning up, otherwise). */
  async start(): Promise<MeshState> {
    const o = this.o;
    const manifests = readManifests(o.paths, o.cwd);
    await o.validate?.(manifests.files);
    const plan = planMesh(manifests.objects);
    this.plan = plan;
    for (const w of plan.warnings) this.logs.line('tsmesh', `warning: ${w}`);
    const existing = readState(o.stateDir);
    if (existing && processStart(existing.pid) === existing.pidStart && existing.pid !== process.pid) {
      throw new Error(
        `a mesh is already running from ${o.stateDir} (runner pid ${existing.pid}); stop it with tsmesh down`,
      );
    }
    if (existing) await cleanupLeftovers(existing);
    const mode = o.mode && o.mode !== 'auto' ? o.mode : await detectMode();
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    chmodSync(o.stateDir, 0o700);
    const root = packageRoot();
    const leaseDir = o.leaseDir ?? defaultLeaseDir(mode);
    this.lease = await acquireLease({
      dir: leaseDir,
      stateDir: o.stateDir,
      mode,
      reclaim: async (stale) => {
        const old = readState(stale.stateDir);
        if (old && old.index === stale.index) await cleanupLeftovers(old);
        else if (stale.mode === 'netns') await destroyInstance(topology(stale.index, 'netns').prefix);
      },
    });
    const topo = topology(this.lease.record.index, mode);
    this.topo = topo;
    const sockets = socketDir(o.stateDir);
    mkdirSync(sockets, { recursive: true, mode: 0o700 });
    for (const sub of ['tokens', 'control-plane'])
      mkdirSync(join(o.stateDir, sub), { recursive: true, mode: 0o700 });
    const caDir = join(o.stateDir, 'ca');
    this.state = {
      version: 1,
      pid: process.pid,
      pidStart: processStart(process.pid) ?? '',
      mode,
      index: topo.index,
      leaseDir,
      stateDir: o.stateDir,
      root,
      startedAt: new Date().toISOString(),
      phase: 'starting',
      files: manifests.files,
      socketDir: sockets,
      controlPlane: {
        address: topo.controlPlaneAddress,
        namespace: plan.controlPlaneNamespace,
        netns: mode === 'netns' ? topo.controlPlaneNs : undefined,
        adminSocket: join(sockets, 'control-plane.sock'),
        caDir,
        processes: [],
      },
      pods: [],
      services: [],
    };
    writeState(this.state);
    try {
      if (mode === 'netns') await this.createNetwork(plan, topo);
      else this.assignLoopback(plan, topo);
      writeState(this.state);
      await this.startControlPlane(manifests.files, root);
      await Promise.all(this.state.pods.map((p, k) => this.startPod(plan, p, k, root)));
      await this.exposeIngress(plan);
      this.state.phase = 'ready';
      writeState(this.state);
      return this.state;
    } catch (e) {
      this.state.phase = 'failed';
      this.state.message = (e as Error).message;
      await this.stop(true);
      throw e;
    }
  }

  private assignLoopback(plan: MeshPlan, topo: Topology): void {
    const state = this.state!;
    plan.pods.forEach((pod, k) => {
      state.pods.push(podRecord(pod, topo.podAddress(k)));
    });
    state.services = plan.services.map((s) => ({ name: s.name, namespace: s.namespace, ports: s.ports }));
  }

  private async createNetwork(plan: MeshPlan, topo: Topology): Promise<void> {
    const state = this.state!;
    await createBridge(topo.bridgeNs);
    await createPodNs(topo.controlPlaneNs, topo.bridgeNs, 'veth-cp', topo.controlPlaneAddress);
    plan.pods.forEach((pod, k) => {
      state.pods.push({ ...podRecord(pod, topo.podAddress(k)), netns: topo.podNs(pod) });
    });
    state.services = plan.services.map((s, k) => ({
      name: s.name,
      namespace: s.namespace,
      address: topo.serviceAddress(k),
      ports: s.ports,
    }));
    writeState(state);
    // Service virtual IPs → endpoints, as kube-proxy would program them.
    const rules: ServiceRule[] = [];
    plan.services.forEach((svc, k) => {
      const endpoints = plan.pods
        .map((pod, i) => ({ pod, i }))
        .filter(({ pod }) => pod.namespace === svc.namespace && selects(svc.selector, pod.labels));
      for (const port of svc.ports) {
        if (port.protocol !== 'TCP') continue;
        rules.push({
          address: topo.serviceAddress(k),
          port: port.port,
          endpoints: endpoints.flatMap(({ pod, i }) => {
            const target = resolveTargetPort(port.targetPort, pod);
            return target === undefined ? [] : [{ address: topo.podAddress(i), port: target }];
          }),
        });
      }
    });
    const rulesScript = serviceRulesScript(rules);
    const cpHost = {
      address: topo.controlPlaneAddress,
      names: serviceNames({ name: 'tsmesh-control-plane', namespace: plan.controlPlaneNamespace }, ''),
    };
    const hostsFor = (namespace: string, self?: { address: string; name: string }) => [
      ...(self ? [{ address: self.address, names: [self.name] }] : []),
      cpHost,
      ...plan.services.map((s, k) => ({
        address: topo.serviceAddress(k),
        names: serviceNames(s, namespace),
      })),
    ];
    writeHostsFile(topo.controlPlaneNs, hostsFor(plan.controlPlaneNamespace));
    await runLimited(
      state.pods.map((rec, k) => async () => {
        const pod = plan.pods[k];
        await createPodNs(rec.netns!, topo.bridgeNs, topo.bridgePort(k), rec.address);
        writeHostsFile(rec.netns!, hostsFor(pod.namespace, { address: rec.address, name: pod.name }));
        if (pod.meshed) await shInNs(rec.netns!, captureScript(captureOptions(pod)));
        await shInNs(rec.netns!, rulesScript);
      }),
      4,
    );
  }

  private spawn(
    spec: ConstructorParameters<typeof ManagedProcess>[0],
    role: ProcessRecord['role'],
    pod?: PodRecord,
  ) {
    const proc = new ManagedProcess(spec, this.logs);
    const record: ProcessRecord = {
      container: spec.name,
      role,
      pid: proc.pid ?? 0,
      pidStart: proc.pid ? (processStart(proc.pid) ?? '') : '',
    };
    this.processes.push({ pod: pod?.name, proc, record });
    if (pod) pod.processes.push(record);
    else this.state!.controlPlane.processes.push(record);
    writeState(this.state!);
    proc.exited.then((code) => {
      if (this.stopping) return;
      this.logs.line(spec.name, `exited with code ${code}`);
      if (pod) {
        pod.phase = 'exited';
        pod.message = `${spec.name} exited with code ${code}`;
        writeState(this.state!);
      }
    });
    return proc;
  }

  private async startControlPlane(files: string[], root: string): Promise<void> {
    const state = this.state!;
    const cp = state.controlPlane;
    const args = [
      'control-plane',
      '--config',
      ...files,
      '--state-dir',
      join(state.stateDir, 'control-plane'),
      '--ca-dir',
      cp.caDir,
      '--admin-socket',
      cp.adminSocket,
      '--listen',
      `${cp.address}:${PORTS.controlPlane}`,
      '--monitoring',
      `${cp.address}:${PORTS.controlPlaneMonitoring}`,
      '--namespace',
      cp.namespace,
    ];
    if (this.o.certTtl) args.push('--cert-ttl', this.o.certTtl);
    // The virtual IPs this runner gave the Services (as an API server would), so sidecars know a
    // captured connection to one of them is that service, also on TCP ports.
    const vips = Object.fromEntries(
      state.services.filter((s) => s.address).map((s) => [`${s.namespace}/${s.name}`, s.address]),
    );
    if (Object.keys(vips).length > 0) {
      const file = join(state.stateDir, 'control-plane', 'service-addresses.json');
      writeFileSync(file, `${JSON.stringify(vips, null, 2)}\n`, { mode: 0o600 });
      args.push('--service-addresses', file);
    }
    const proc = this.spawn(
      {
        name: 'control-plane',
        argv: [...tsmeshCommand(root, this.o.tsmesh), ...args],
        env: { ...processEnvForTsmesh() },
        cwd: this.o.cwd,
        netns: cp.netns,
      },
      'control-plane',
    );
    await waitUntil(
      'control plane',
      async () => {
        try {
          return (
            (await adminRequest(cp.adminSocket, { path: '/v1/status', timeoutMs: 2_000 })).status === 200
          );
        } catch {
          return false;
        }
      },
      {
        timeoutMs: this.o.readyTimeoutMs,
        abort: () => (proc.running ? undefined : `exited with code ${proc.exitCode}`),
      },
    );
    chmodSync(cp.caDir, 0o700);
    this.logs.line('tsmesh', `control plane ready at ${cp.address}:${PORTS.controlPlane}`);
  }

  private async startPod(plan: MeshPlan, rec: PodRecord, k: number, root: string): Promise<void> {
    const pod = plan.pods[k];
    const state = this.state!;
    const cp = state.controlPlane;
    const proxyContainer = pod.containers.find((c) => c.role === 'sidecar' || c.role === 'gateway');
    const ctxBase = {
      pod,
      address: rec.address,
      netns: rec.netns,
      tsmesh: tsmeshCommand(root, this.o.tsmesh),
      cwd: this.o.cwd,
      controlPlane: `${cp.address}:${PORTS.controlPlane}`,
      trustBundleFile: join(cp.caDir, 'trust-bundle.pem'),
      explicitProxy: state.mode === 'loopback',
    };
    try {
      if (proxyContainer) {
        const { token } = await adminCall<{ token: string }>(cp.adminSocket, {
          path: '/v1/tokens',
          body: { namespace: pod.namespace, serviceAccount: pod.serviceAccount },
        });
        const tokenFile = join(state.stateDir, 'tokens', `${pod.namespace}.${pod.name}.token`);
        writeFileSync(tokenFile, token, { mode: 0o600 });
        rec.adminSocket = join(state.socketDir, `${pod.namespace}.${pod.name}.sock`);
        const ctx = { ...ctxBase, tokenFile, adminSocket: rec.adminSocket };
        const proc = this.spawn(processSpec(ctx, proxyContainer), proxyContainer.role, rec);
        await waitUntil(
          `${pod.name}: sidecar`,
          () =>
            probeOnce({ address: rec.address, port: PORTS.health, path: '/healthz/ready', netns: rec.netns }),
          {
            timeoutMs: this.o.readyTimeoutMs,
            abort: () => (proc.running ? undefined : `exited with code ${proc.exitCode}`),
          },
        );
      }
      for (const c of pod.containers) {
        if (c === proxyContainer) continue;
        this.spawn(processSpec(ctxBase, c), 'app', rec);
      }
      if (!pod.meshed && !pod.gateway) {
        await adminCall(cp.adminSocket, {
          path: '/v1/workloads',
          body: {
            name: pod.name,
            namespace: pod.namespace,
            workload: pod.workload,
            serviceAccount: pod.serviceAccount,
            labels: pod.labels,
            address: rec.address,
            ports: pod.ports.map((p) => ({ name: p.name, containerPort: p.containerPort })),
            meshed: false,
          },
        });
      }
      await this.waitApps(pod, rec);
      rec.phase = 'ready';
      writeState(state);
    } catch (e) {
      rec.phase = 'failed';
      rec.message = (e as Error).message;
      writeState(state);
      throw e;
    }
  }

  /**
   * Apps are ready when their readiness probes pass (HTTP GET or TCP, as declared; a probe on
   * the sidecar's stats port goes through its rewritten app probe), or, without a probe, when
   * they are still running shortly after start, as in Kubernetes.
   */
  private async waitApps(pod: PlannedPod, rec: PodRecord): Promise<void> {
    const apps = this.processes.filter((p) => p.pod === rec.name && p.record.role === 'app');
    const abort = () => {
      const dead = apps.find((a) => !a.proc.running);
      return dead ? `${dead.record.container} exited with code ${dead.proc.exitCode}` : undefined;
    };
    const allPorts = pod.containers.flatMap((c) => c.ports);
    const portOf = (port: number | string) =>
      typeof port === 'number'
        ? port
        : (allPorts.find((p) => p.name === port)?.containerPort ?? Number(port));
    for (const c of pod.containers) {
      const probe = c.role === 'app' ? c.readiness : undefined;
      if (!probe) continue;
      const check = probe.httpGet
        ? () =>
            probeOnce({
              address: rec.address,
              port: portOf(probe.httpGet!.port),
              path: probe.httpGet!.path,
              netns: rec.netns,
            })
        : () => tcpOpen(rec.address, portOf(probe.tcpSocket!.port), rec.netns);
      await waitUntil(`${rec.name}: ${c.name} readiness`, check, { timeoutMs: this.o.readyTimeoutMs, abort });
    }
    await new Promise((r) => setTimeout(r, 300));
    const reason = abort();
    if (reason) throw new Error(`${rec.name}: ${reason}`);
  }

  /**
   * The ingress URL: a Service selecting a gateway pod. In the fallback the gateway's loopback
   * address is reachable as is; with namespaces a forwarder inside the gateway's namespace
   * listens on a Unix socket and the runner serves it on 127.0.0.1 (no route, no host rule).
   */
  private async exposeIngress(plan: MeshPlan): Promise<void> {
    const state = this.state!;
    for (const svc of plan.services) {
      const k = plan.pods.findIndex(
        (p) => p.gateway && p.namespace === svc.namespace && selects(svc.selector, p.labels),
      );
      if (k < 0 || svc.ports.length === 0) continue;
      const pod = plan.pods[k];
      const rec = state.pods[k];
      const port = svc.ports[0];
      const target = resolveTargetPort(port.targetPort, pod) ?? port.port;
      if (state.mode === 'loopback') {
        state.ingress = {
          url: `http://${rec.address}:${target}/`,
          target: `${pod.namespace}/${pod.name} ${rec.address}:${target}`,
        };
        return;
      }
      const socket = join(state.socketDir, `ingress.${pod.namespace}.${pod.name}.sock`);
      const proc = this.spawn(
        {
          name: `${pod.name}/ingress-forwarder`,
          argv: [
            process.execPath,
            join(state.root, 'build', 'runtime', 'local', 'forwarder.js'),
            socket,
            rec.address,
            String(target),
          ],
          env: processEnvForTsmesh(),
          cwd: this.o.cwd,
          netns: rec.netns,
        },
        'gateway',
        rec,
      );
      await waitUntil('ingress forwarder', async () => existsSync(socket), {
        timeoutMs: 10_000,
        abort: () => (proc.running ? undefined : `exited with code ${proc.exitCode}`),
      });
      const server = forward({ path: socket });
      const hostPort = await listenFirstFree(server, [port.port, target, 0]);
      this.ingressServer = server;
      state.ingress = {
        url: `http://127.0.0.1:${hostPort}/`,
        target: `${pod.namespace}/${pod.name} ${rec.address}:${target}`,
      };
      this.logs.line(
        'tsmesh',
        `ingress ${svc.namespace}/${svc.name} → ${pod.name} ${rec.address}:${target} at ${state.ingress.url}`,
      );
      return;
    }
  }

  /** Stops apps, then sidecars, then the control plane; removes the network and the lease. */
  stop(force = false): Promise<void> {
    if (this.stopping) {
      if (force) for (const p of this.processes) p.proc.signal('SIGKILL');
      return this.stopping;
    }
    this.stopping = (async () => {
      if (this.state && this.state.phase !== 'failed') {
        this.state.phase = 'stopping';
        writeState(this.state);
      }
      const grace = force ? 0 : 8_000;
      const byRole = (roles: ProcessRecord['role'][]) =>
        this.processes.filter((p) => roles.includes(p.record.role));
      await Promise.all(byRole(['app']).map((p) => p.proc.stop(grace)));
      await Promise.all(byRole(['sidecar', 'gateway']).map((p) => p.proc.stop(grace)));
      await Promise.all(byRole(['control-plane']).map((p) => p.proc.stop(grace)));
      this.ingressServer?.close();
      if (this.topo?.mode === 'netns') await destroyInstance(this.topo.prefix);
      this.lease?.release();
      if (this.state) removeState(this.state.stateDir);
    })();
    return this.stopping;
  }

  /** The plan (after start). */
  get planned(): MeshPlan | undefined {
    return this.plan;
  }

  /** Environment `tsmesh exec` uses for a pod (fallback: its explicit proxy). */
  static execEnv(rec: PodRecord): Record<string, string> {
    return rec.execEnv;
  }
}

function podRecord(pod: PlannedPod, address: string): PodRecord {
  return {
    name: pod.name,
    namespace: pod.namespace,
    workload: pod.workload,
    serviceAccount: pod.serviceAccount,
    labels: pod.labels,
    address,
    meshed: pod.meshed,
    gateway: pod.gateway,
    execEnv: pod.meshed ? explicitProxyEnv(address) : {},
    ports: pod.ports.map((p) => ({ name: p.name, containerPort: p.containerPort })),
    processes: [],
    phase: 'starting',
  };
}

function captureOptions(pod: PlannedPod) {
  const a = pod.annotations;
  return {
    excludeInboundPorts: [`${PORTS.admin}-${PORTS.health}`, ...parseList(a[ANNOTATIONS.excludeInboundPorts])],
    excludeOutboundPorts: [
      PORTS.inbound,
      PORTS.controlPlane,
      ...parseList(a[ANNOTATIONS.excludeOutboundPorts]),
    ],
    excludeOutboundCidrs: parseList(a[ANNOTATIONS.excludeOutboundIPRanges]),
  };
}

function processEnvForTsmesh(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'NODE_OPTIONS', 'TMPDIR', 'TSMESH_LOG_LEVEL']) {
    const v = process.env[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

function listenFirstFree(server: Server, ports: number[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const attempt = (i: number) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (i + 1 < ports.length && (err.code === 'EADDRINUSE' || err.code === 'EACCES')) attempt(i + 1);
        else reject(err);
      });
      server.listen(ports[i], '127.0.0.1', () => {
        server.removeAllListeners('error');
        resolve((server.address() as AddressInfo).port);
      });
    };
    attempt(0);
  });
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]();
  });
  await Promise.all(workers);
}

export function stateExists(stateDir: string): boolean {
  return existsSync(join(stateDir, 'run.json'));
}

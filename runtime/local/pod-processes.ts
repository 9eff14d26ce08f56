/**
 * What each container of a pod runs locally: the argv (tsmesh's image mapped to the bundled
 * runtime) and the environment (declared env, the downward API, and what the runner adds).
 */
import { ENV, PORTS, PROXY_GID, PROXY_PROCESS_ENV } from '../../lib/constants.js';
import type { PlannedContainer, PlannedPod } from './plan.js';
import { resolveEnv } from './plan.js';
import type { ProcessSpec } from './process.js';

export interface PodContext {
  pod: PlannedPod;
  address: string;
  netns?: string;
  /** The command that runs tsmesh (node + the compiled CLI). */
  tsmesh: string[];
  cwd: string;
  controlPlane: string;
  trustBundleFile: string;
  tokenFile?: string;
  adminSocket?: string;
  /** Loopback fallback: apps use the sidecar as an explicit HTTP proxy. */
  explicitProxy: boolean;
}

/** The few host variables a process needs to run at all (containers do not inherit the host's). */
export function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'NODE_OPTIONS', 'GLIBC_TUNABLES', 'TMPDIR']) {
    const v = process.env[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Variables the pod's apps get in the fallback mode (and `tsmesh exec` there). */
export function explicitProxyEnv(address: string): Record<string, string> {
  const proxy = `http://${address}:${PORTS.outbound}`;
  const noProxy = `localhost,127.0.0.1,${address}`;
  return { HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: noProxy, no_proxy: noProxy };
}

export function processSpec(ctx: PodContext, c: PlannedContainer): ProcessSpec {
  const { pod } = ctx;
  const facts = {
    name: pod.name,
    namespace: pod.namespace,
    address: ctx.address,
    serviceAccount: pod.serviceAccount,
    labels: pod.labels,
    annotations: pod.annotations,
  };
  const declared = resolveEnv(c.env, facts);
  const name = pod.containers.length > 1 ? `${pod.name}/${c.name}` : pod.name;
  if (c.role === 'sidecar' || c.role === 'gateway') {
    const base = baseEnv();
    const env: Record<string, string> = {
      ...base,
      // The injected container declares these too; a manifest without them still gets them.
      ...PROXY_PROCESS_ENV,
      ...declared,
      [ENV.namespace]: pod.namespace,
      [ENV.podName]: pod.name,
      [ENV.podIp]: ctx.address,
      [ENV.serviceAccount]: pod.serviceAccount,
      [ENV.workload]: pod.workload,
      [ENV.controlPlane]: ctx.controlPlane,
      [ENV.trustBundle]: ctx.trustBundleFile,
      [ENV.podLabels]: JSON.stringify(pod.labels),
      [ENV.podPorts]: JSON.stringify(pod.ports),
    };
    if (ctx.tokenFile) env[ENV.tokenFile] = ctx.tokenFile;
    if (ctx.adminSocket) env[ENV.adminSocket] = ctx.adminSocket;
    delete env[ENV.bootstrapToken];
    // Node options of the host (a loader, say) and of the container both apply.
    const nodeOptions = [base.NODE_OPTIONS, declared.NODE_OPTIONS ?? PROXY_PROCESS_ENV.NODE_OPTIONS];
    env.NODE_OPTIONS = nodeOptions.filter((o) => o !== undefined && o !== '').join(' ');
    // Likewise glibc's tunables (a later setting of the same tunable wins).
    const tunables = [base.GLIBC_TUNABLES, declared.GLIBC_TUNABLES ?? PROXY_PROCESS_ENV.GLIBC_TUNABLES];
    env.GLIBC_TUNABLES = tunables.filter((t) => t !== undefined && t !== '').join(':');
    // In a pod's own namespace the listeners bind every address: after an iptables REDIRECT the
    // app's outbound connection arrives on 127.0.0.1, not on the pod address. The pod address
    // (TSMESH_POD_IP) is still what the proxy registers and connects from.
    const listen = ctx.netns ? '0.0.0.0' : ctx.address;
    const overrides = ['--control-plane', ctx.controlPlane, '--address', listen];
    if (ctx.adminSocket) overrides.push('--admin-socket', ctx.adminSocket);
    if (c.role === 'sidecar') overrides.push('--app-host', ctx.address);
    return {
      name,
      argv: [...ctx.tsmesh, ...c.argv, ...overrides],
      env,
      cwd: ctx.cwd,
      netns: ctx.netns,
      gid: ctx.netns ? PROXY_GID : undefined,
    };
  }
  // Kubernetes sets HOSTNAME to the pod name.
  const env: Record<string, string> = {
    ...baseEnv(),
    HOSTNAME: pod.name,
    ...declared,
    [ENV.podIp]: ctx.address,
  };
  if (env.PORT === undefined && c.ports.length > 0) env.PORT = String(c.ports[0].containerPort);
  if (ctx.explicitProxy && pod.meshed) Object.assign(env, explicitProxyEnv(ctx.address));
  const argv = c.tsmesh ? [...ctx.tsmesh, ...c.argv] : c.argv;
  return { name, argv, env, cwd: ctx.cwd, netns: ctx.netns };
}

/**
 * Sidecar injection as a pure function of a rendered Deployment: adds the `tsmesh-init`
 * capture container, the `tsmesh-proxy` container, their volumes and the pod annotations.
 * Every field of what it adds is set explicitly.
 */
import { captureScript } from '../../lib/capture.js';
import {
  ANNOTATIONS,
  ENV,
  PORTS,
  PROXY_GID,
  PROXY_PROCESS_ENV,
  PROXY_UID,
  ROOT_CERT_CONFIG_MAP_NAME,
  TOKEN_AUDIENCE,
  TSMESH_VERSION,
} from '../../lib/constants.js';
import type { SidecarOptions } from '../sidecar-options.js';
import { INIT_RESOURCES, PROXY_RESOURCES, renderResources } from './resources.js';

export const INIT_CONTAINER_NAME = 'tsmesh-init';
export const PROXY_CONTAINER_NAME = 'tsmesh-proxy';
export const TOKEN_DIR = '/var/run/secrets/tsmesh/tokens';
export const TOKEN_FILE = `${TOKEN_DIR}/tsmesh-token`;
export const RUN_DIR = '/var/run/tsmesh';

export interface InjectionSettings {
  readonly image: string;
  readonly controlPlaneAddress: string;
  readonly trustDomain: string;
  readonly drainSeconds: number;
  readonly options: SidecarOptions;
  /** Rewrite the app's probes through the sidecar (STRICT mTLS). */
  readonly rewriteProbes: boolean;
}

type Json = Record<string, any>;

/** The proxy container shared by sidecars and gateways (args and ports differ). */
export function proxyContainer(settings: {
  image: string;
  args: string[];
  env: Json[];
  resources: Json;
  extraPorts?: Json[];
}): Json {
  return {
    name: PROXY_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    args: settings.args,
    env: settings.env,
    ports: [
      ...(settings.extraPorts ?? []),
      { name: 'tsmesh-stats', containerPort: PORTS.stats, protocol: 'TCP' },
      { name: 'tsmesh-health', containerPort: PORTS.health, protocol: 'TCP' },
    ],
    readinessProbe: readyProbe({ periodSeconds: 2, failureThreshold: 30 }),
    resources: settings.resources,
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_GID,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'tsmesh-token', mountPath: TOKEN_DIR, readOnly: true },
      { name: 'tsmesh-run', mountPath: RUN_DIR },
    ],
  };
}

export function readyProbe(timing: { periodSeconds: number; failureThreshold: number }): Json {
  return {
    httpGet: { path: '/healthz/ready', port: PORTS.health, scheme: 'HTTP' },
    initialDelaySeconds: 0,
    periodSeconds: timing.periodSeconds,
    timeoutSeconds: 3,
    failureThreshold: timing.failureThreshold,
    successThreshold: 1,
  };
}

/** The environment of a proxy: identity from the downward API, mesh settings as values. */
export function proxyEnv(settings: {
  workload: string;
  controlPlaneAddress: string;
  trustDomain: string;
  drainSeconds: number;
  logLevel: string;
  labels: Record<string, string>;
  ports: Json[];
  probers?: Json;
}): Json[] {
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const env: Json[] = [
    field(ENV.namespace, 'metadata.namespace'),
    field(ENV.podName, 'metadata.name'),
    field(ENV.podIp, 'status.podIP'),
    field(ENV.serviceAccount, 'spec.serviceAccountName'),
    { name: ENV.workload, value: settings.workload },
    { name: ENV.controlPlane, value: settings.controlPlaneAddress },
    { name: ENV.trustDomain, value: settings.trustDomain },
    {
      name: ENV.trustBundle,
      valueFrom: { configMapKeyRef: { name: ROOT_CERT_CONFIG_MAP_NAME, key: 'root-cert.pem' } },
    },
    { name: ENV.tokenFile, value: TOKEN_FILE },
    { name: ENV.adminSocket, value: `${RUN_DIR}/admin.sock` },
    { name: ENV.drainSeconds, value: String(settings.drainSeconds) },
    { name: ENV.logLevel, value: settings.logLevel },
    { name: ENV.podLabels, value: JSON.stringify(sortObject(settings.labels)) },
    { name: ENV.podPorts, value: JSON.stringify(settings.ports) },
    // Node and glibc settings that keep the proxy's memory down (lib/constants.ts).
    ...Object.entries(PROXY_PROCESS_ENV).map(([name, value]) => ({ name, value })),
  ];
  if (settings.probers) env.push({ name: ENV.appProbers, value: JSON.stringify(settings.probers) });
  return env;
}

/** The volumes every proxy mounts: the projected token (audience tsmesh-ca) and a runtime dir. */
export function proxyVolumes(): Json[] {
  return [
    {
      name: 'tsmesh-token',
      projected: {
        sources: [
          {
            serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'tsmesh-token' },
          },
        ],
      },
    },
    { name: 'tsmesh-run', emptyDir: { medium: 'Memory' } },
  ];
}

export function injectSidecar(deployment: Json, settings: InjectionSettings): Json {
  const out = structuredClone(deployment);
  const template = (out.spec.template ??= {});
  const meta = (template.metadata ??= {});
  const pod = (template.spec ??= { containers: [] });
  const labels: Record<string, string> = meta.labels ?? {};
  const annotations: Record<string, string> = (meta.annotations ??= {});
  const appContainers: Json[] = pod.containers ?? [];
  const options = settings.options;

  for (const name of [INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME]) {
    if ([...appContainers, ...(pod.initContainers ?? [])].some((c) => c.name === name)) {
      throw new Error(
        `sidecar: deployment '${out.metadata?.name}' already has a container named '${name}'; inject once, and do not name app containers ${name}`,
      );
    }
  }

  const probers = settings.rewriteProbes ? rewriteProbes(appContainers) : undefined;
  const ports = appContainers.flatMap((c) =>
    (c.ports ?? []).map((p: Json) => ({
      name: p.name,
      containerPort: p.containerPort,
      protocol: p.protocol ?? 'TCP',
    })),
  );

  const env = proxyEnv({
    workload: out.metadata?.name,
    controlPlaneAddress: settings.controlPlaneAddress,
    trustDomain: settings.trustDomain,
    drainSeconds: settings.drainSeconds,
    logLevel: options.logLevel ?? 'info',
    labels,
    ports,
    probers,
  });
  const proxy = proxyContainer({
    image: settings.image,
    args: ['proxy'],
    env,
    resources: renderResources(options.resources, PROXY_RESOURCES),
  });

  const excludeInbound = options.excludeInboundPorts ?? [];
  const excludeOutbound = options.excludeOutboundPorts ?? [];
  const excludeCidrs = options.excludeOutboundCidrs ?? [];
  const script = captureScript({
    excludeInboundPorts: [`${PORTS.admin}-${PORTS.health}`, ...excludeInbound],
    excludeOutboundPorts: [PORTS.inbound, PORTS.controlPlane, ...excludeOutbound],
    excludeOutboundCidrs: excludeCidrs,
  });
  const init: Json = {
    name: INIT_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', script],
    resources: renderResources(undefined, INIT_RESOURCES),
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };

  const native = options.nativeSidecar ?? false;
  if (native) {
    proxy.restartPolicy = 'Always';
    proxy.startupProbe = readyProbe({ periodSeconds: 1, failureThreshold: 600 });
    pod.initContainers = [init, proxy, ...(pod.initContainers ?? [])];
    pod.containers = appContainers;
  } else {
    if (options.holdApplicationUntilProxyStarts ?? true) {
      proxy.lifecycle = { postStart: { exec: { command: ['tsmesh', 'wait-ready', '--timeout', '60'] } } };
    }
    pod.initContainers = [init, ...(pod.initContainers ?? [])];
    pod.containers = [proxy, ...appContainers];
  }
  pod.volumes = [...(pod.volumes ?? []), ...proxyVolumes()];

  annotations[ANNOTATIONS.sidecarStatus] = JSON.stringify({
    version: TSMESH_VERSION,
    initContainers: [INIT_CONTAINER_NAME],
    containers: [PROXY_CONTAINER_NAME],
    native,
  });
  annotations[ANNOTATIONS.prometheusScrape] = 'true';
  annotations[ANNOTATIONS.prometheusPort] = String(PORTS.stats);
  annotations[ANNOTATIONS.prometheusPath] = '/stats/prometheus';
  if (probers) annotations[ANNOTATIONS.rewrittenProbes] = JSON.stringify(probers);
  if (excludeInbound.length > 0) annotations[ANNOTATIONS.excludeInboundPorts] = excludeInbound.join(',');
  if (excludeOutbound.length > 0) annotations[ANNOTATIONS.excludeOutboundPorts] = excludeOutbound.join(',');
  if (excludeCidrs.length > 0) annotations[ANNOTATIONS.excludeOutboundIPRanges] = excludeCidrs.join(',');
  return out;
}

const PROBE_KINDS = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;

/**
 * Under STRICT mTLS the kubelet's plaintext probes cannot reach the app through the sidecar, so
 * each HTTP or TCP probe goes to the sidecar's port 15020 at `/app-health/<container>/<kind>`,
 * and the sidecar performs the original probe on localhost. Returns the originals by new path.
 */
function rewriteProbes(containers: Json[]): Json | undefined {
  const probers: Json = {};
  for (const c of containers) {
    for (const [field, suffix] of PROBE_KINDS) {
      const probe = c[field];
      if (!probe || !(probe.httpGet || probe.tcpSocket)) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      const port = (p: number | string) => resolvePort(c, p);
      probers[path] = probe.httpGet
        ? {
            httpGet: {
              ...probe.httpGet,
              port: port(probe.httpGet.port),
              scheme: probe.httpGet.scheme ?? 'HTTP',
            },
            timeoutSeconds: probe.timeoutSeconds ?? 1,
          }
        : { tcpSocket: { port: port(probe.tcpSocket.port) }, timeoutSeconds: probe.timeoutSeconds ?? 1 };
      const { httpGet: _h, tcpSocket: _t, ...timing } = probe;
      c[field] = { ...timing, httpGet: { path, port: PORTS.stats, scheme: 'HTTP' } };
    }
  }
  return Object.keys(probers).length > 0 ? probers : undefined;
}

function resolvePort(container: Json, port: number | string): number | string {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: Json) => p.name === port);
  return named ? named.containerPort : port;
}

function sortObject(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Turns manifests into what the runner starts: the control plane, the pods (Deployment ×
 * replicas, named `<deployment>-<n>`) with their sidecar and app containers mapped to local
 * commands, and the Services with their ports. Pure: no processes, no files written.
 */
import {
  ANNOTATIONS,
  CONTROL_PLANE_NAME,
  DEFAULT_ROOT_NAMESPACE,
  TSMESH_IMAGE,
} from '../../lib/constants.js';
import type { ManifestObject, SourcedObject } from './manifests.js';
import { ManifestError, manifestRef } from './manifests.js';

/** The sidecar container's name in an injected pod template. */
export const SIDECAR_CONTAINER = 'tsmesh-proxy';

export interface PlannedPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

/** A readiness probe the runner evaluates locally (exec probes are not run). */
export interface PlannedProbe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
}

export interface PlannedContainer {
  name: string;
  /** `sidecar` (the pod's tsmesh-proxy), `gateway` (a standalone tsmesh proxy) or `app`. */
  role: 'sidecar' | 'gateway' | 'app';
  /** The argv: for tsmesh's image only the tsmesh arguments (the runner prepends its own command). */
  argv: string[];
  tsmesh: boolean;
  env: EnvSource[];
  ports: PlannedPort[];
  readiness?: PlannedProbe;
}

/** An environment variable as declared; `field` ones are resolved once the pod has an address. */
export type EnvSource =
  | { name: string; value: string }
  | { name: string; field: string }
  | { name: string; unresolved: string };

export interface PlannedPod {
  /** `<deployment>-<n>` */
  name: string;
  namespace: string;
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: PlannedContainer[];
  /** True when the pod has the tsmesh-proxy sidecar. */
  meshed: boolean;
  /** True when the pod is a standalone tsmesh proxy (an ingress or egress gateway). */
  gateway: boolean;
  ports: PlannedPort[];
  /** The file that declared the Deployment. */
  file: string;
}

export interface PlannedServicePort {
  name?: string;
  port: number;
  targetPort: number | string;
  protocol: string;
  appProtocol?: string;
}

export interface PlannedService {
  name: string;
  namespace: string;
  selector: Record<string, string>;
  ports: PlannedServicePort[];
  type: string;
}

export interface MeshPlan {
  pods: PlannedPod[];
  services: PlannedService[];
  namespaces: string[];
  /** The control plane's namespace (where its Deployment is declared, or tsmesh-system). */
  controlPlaneNamespace: string;
  /** The control plane Deployment's arguments (informative; the runner sets its own flags). */
  controlPlaneDeclared: boolean;
  /** Objects the runner cannot run, with the reason (printed as warnings). */
  warnings: string[];
}

/** True when a container runs tsmesh's own image. */
export function isTsmeshImage(image: string | undefined): boolean {
  if (!image) return false;
  const repo = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  return repo === TSMESH_IMAGE || repo.endsWith('/tsmesh/tsmesh');
}

export function planMesh(objects: readonly SourcedObject[]): MeshPlan {
  const warnings: string[] = [];
  const configMaps = new Map<string, ManifestObject>();
  for (const { object } of objects) {
    if (object.kind === 'ConfigMap' || object.kind === 'Secret') {
      configMaps.set(
        `${object.kind}/${object.metadata.namespace ?? 'default'}/${object.metadata.name}`,
        object,
      );
    }
  }
  const pods: PlannedPod[] = [];
  const services: PlannedService[] = [];
  const namespaces = new Set<string>(['default']);
  let controlPlaneNamespace = DEFAULT_ROOT_NAMESPACE;
  let controlPlaneDeclared = false;
  for (const { object, file } of objects) {
    const ns = object.metadata.namespace ?? 'default';
    if (object.kind === 'Namespace') namespaces.add(object.metadata.name);
    else namespaces.add(ns);
    if (object.kind === 'Service') {
      services.push(planService(object));
    } else if (object.kind === 'Deployment') {
      if (isControlPlane(object)) {
        controlPlaneNamespace = ns;
        controlPlaneDeclared = true;
        continue;
      }
      pods.push(...planDeployment(object, file, configMaps, warnings));
    } else if (['StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet'].includes(object.kind)) {
      warnings.push(
        `${manifestRef(object)} (${file}): kind ${object.kind} is not run locally; use a Deployment`,
      );
    }
  }
  services.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return {
    pods,
    services,
    namespaces: [...namespaces].sort(),
    controlPlaneNamespace,
    controlPlaneDeclared,
    warnings,
  };
}

function isControlPlane(obj: ManifestObject): boolean {
  const containers = (obj.spec?.template?.spec?.containers ?? []) as any[];
  return (
    obj.metadata.name === CONTROL_PLANE_NAME ||
    containers.some(
      (c) =>
        isTsmeshImage(c.image) && (c.args?.[0] === 'control-plane' || c.command?.includes('control-plane')),
    )
  );
}

function planService(obj: ManifestObject): PlannedService {
  const spec = obj.spec ?? {};
  return {
    name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? 'default',
    selector: spec.selector ?? {},
    type: spec.type ?? 'ClusterIP',
    ports: ((spec.ports ?? []) as any[]).map((p) => ({
      name: p.name,
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      protocol: p.protocol ?? 'TCP',
      appProtocol: p.appProtocol,
    })),
  };
}

function planDeployment(
  obj: ManifestObject,
  file: string,
  configMaps: Map<string, ManifestObject>,
  warnings: string[],
): PlannedPod[] {
  const ref = manifestRef(obj);
  const ns = obj.metadata.namespace ?? 'default';
  const template = obj.spec?.template ?? {};
  const podSpec = template.spec ?? {};
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  const annotations: Record<string, string> = { ...(template.metadata?.annotations ?? {}) };
  const localCommands = parseLocalCommands(annotations[ANNOTATIONS.localCommand], ref, file);
  const containers: PlannedContainer[] = [];
  for (const c of (podSpec.containers ?? []) as any[]) {
    containers.push(planContainer(c, ns, ref, file, localCommands, configMaps, warnings));
  }
  if (containers.length === 0)
    throw new ManifestError(`${ref} (${file}): spec.template.spec.containers is empty`);
  const meshed = containers.some((c) => c.role === 'sidecar');
  const gateway = !meshed && containers.some((c) => c.role === 'gateway');
  const replicas = obj.spec?.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new ManifestError(
      `${ref} (${file}): spec.replicas must be a whole number >= 0, got ${JSON.stringify(replicas)}`,
    );
  }
  const ports = containers.filter((c) => c.role === 'app' || c.role === 'gateway').flatMap((c) => c.ports);
  const pods: PlannedPod[] = [];
  for (let i = 0; i < replicas; i++) {
    pods.push({
      name: `${obj.metadata.name}-${i}`,
      namespace: ns,
      workload: obj.metadata.name,
      serviceAccount: podSpec.serviceAccountName ?? podSpec.serviceAccount ?? 'default',
      labels,
      annotations,
      containers,
      meshed,
      gateway,
      ports,
      file,
    });
  }
  return pods;
}

function parseLocalCommands(raw: string | undefined, ref: string, file: string): Record<string, string[]> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ManifestError(
      `${ref} (${file}): annotation ${ANNOTATIONS.localCommand} is not JSON (${(e as Error).message}); expected {"<container>": ["argv", ...]}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ManifestError(
      `${ref} (${file}): annotation ${ANNOTATIONS.localCommand} must be a JSON object of container name → argv`,
    );
  }
  for (const [name, argv] of Object.entries(parsed)) {
    if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
      throw new ManifestError(
        `${ref} (${file}): annotation ${ANNOTATIONS.localCommand}: container ${name}: expected a non-empty array of strings, got ${JSON.stringify(argv)}`,
      );
    }
  }
  return parsed as Record<string, string[]>;
}

function planContainer(
  c: any,
  ns: string,
  ref: string,
  file: string,
  localCommands: Record<string, string[]>,
  configMaps: Map<string, ManifestObject>,
  warnings: string[],
): PlannedContainer {
  const tsmesh = isTsmeshImage(c.image);
  const ports: PlannedPort[] = ((c.ports ?? []) as any[]).map((p) => ({
    name: p.name,
    containerPort: p.containerPort,
    protocol: p.protocol,
  }));
  const env = ((c.env ?? []) as any[]).map((e) =>
    planEnv(e, ns, configMaps, `${ref} container ${c.name}`, warnings),
  );
  let argv: string[];
  let role: PlannedContainer['role'] = 'app';
  if (localCommands[c.name]) {
    argv = localCommands[c.name];
  } else if (tsmesh) {
    const command: string[] = c.command ?? [];
    const fromCommand = command.length > 0 && /(^|\/)tsmesh$/.test(command[0]) ? command.slice(1) : command;
    argv = [...fromCommand, ...(c.args ?? [])];
    if (argv[0] === 'proxy' && argv.includes('--gateway')) role = 'gateway';
    else if (c.name === SIDECAR_CONTAINER) role = 'sidecar';
    else if (argv[0] === 'proxy') role = 'gateway';
  } else {
    throw new ManifestError(
      `${ref} (${file}): container ${c.name} (image ${c.image ?? '-'}) has no local command; ` +
        `add it to the pod template annotation ${ANNOTATIONS.localCommand}, e.g. {"${c.name}": ["node", "build/examples/app.js"]}`,
    );
  }
  const probe = c.readinessProbe;
  const readiness: PlannedProbe | undefined = probe?.httpGet
    ? { httpGet: { path: probe.httpGet.path ?? '/', port: probe.httpGet.port } }
    : probe?.tcpSocket
      ? { tcpSocket: { port: probe.tcpSocket.port } }
      : undefined;
  return { name: c.name, role, argv, tsmesh: tsmesh && !localCommands[c.name], env, ports, readiness };
}

function planEnv(
  e: any,
  ns: string,
  configMaps: Map<string, ManifestObject>,
  where: string,
  warnings: string[],
): EnvSource {
  if (e.value !== undefined) return { name: e.name, value: String(e.value) };
  const from = e.valueFrom ?? {};
  if (from.fieldRef?.fieldPath) return { name: e.name, field: from.fieldRef.fieldPath };
  for (const [kind, key] of [
    ['ConfigMap', 'configMapKeyRef'],
    ['Secret', 'secretKeyRef'],
  ] as const) {
    const ref = from[key];
    if (!ref) continue;
    const obj = configMaps.get(`${kind}/${ns}/${ref.name}`);
    const raw = obj?.data?.[ref.key] ?? (obj as any)?.stringData?.[ref.key];
    if (raw === undefined) return { name: e.name, unresolved: `${kind} ${ns}/${ref.name} key ${ref.key}` };
    const value =
      kind === 'Secret' && obj?.data?.[ref.key] !== undefined ? Buffer.from(raw, 'base64').toString() : raw;
    return { name: e.name, value };
  }
  if (from.resourceFieldRef) return { name: e.name, unresolved: 'resourceFieldRef' };
  warnings.push(`${where}: env ${e.name} has no value the local runner can resolve`);
  return { name: e.name, unresolved: 'unknown valueFrom' };
}

/** Facts of a running pod that downward-API env vars refer to. */
export interface PodFacts {
  name: string;
  namespace: string;
  address: string;
  serviceAccount: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Resolves declared env vars for one pod (fieldRef via the downward API's field paths). */
export function resolveEnv(env: readonly EnvSource[], pod: PodFacts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if ('value' in e) out[e.name] = expandRefs(e.value, out);
    else if ('field' in e) {
      const v = fieldValue(e.field, pod);
      if (v !== undefined) out[e.name] = v;
    }
  }
  return out;
}

/** Kubernetes' `$(VAR)` expansion of earlier variables. */
function expandRefs(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => env[name] ?? m);
}

function fieldValue(path: string, pod: PodFacts): string | undefined {
  switch (path) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'status.podIP':
    case 'status.hostIP':
      return pod.address;
    case 'spec.serviceAccountName':
      return pod.serviceAccount;
    case 'spec.nodeName':
      return 'local';
  }
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2]];
  return undefined;
}

/** True when every selector label matches (an empty selector selects nothing, as for Services). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The container port a Service's targetPort means on a pod (named ports resolved). */
export function resolveTargetPort(target: number | string, pod: PlannedPod): number | undefined {
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  return pod.ports.find((p) => p.name === target)?.containerPort;
}

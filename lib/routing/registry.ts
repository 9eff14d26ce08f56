/**
 * The service registry a route table is built from: Kubernetes Services and ServiceEntries with
 * their ports, and the workload instances that back them. Also derives workload instances from
 * declared Deployments when no live registry exists (explain, the testing helper).
 */
import type { Deployment, MeshObject, ServiceEntry, ServicePort } from '../api/types.js';
import { DEFAULT_TRUST_DOMAIN } from '../constants.js';
import { resolveConfigHost } from '../hosts.js';
import { spiffeId } from '../identity.js';
import type { WorkloadInstance, WorkloadPort } from '../model.js';
import { labelsMatch, namespaceOf, ofKind, selectorLabels, serviceExportTo } from './objects.js';

export interface ServicePortInfo {
  port: number;
  name?: string;
  /** `http`, `http2`, `grpc`, `tcp`, `tls`, `https`, ... or `auto` when undeclared (sniffed). */
  protocol: string;
  /** Service targetPort (number or container port name); absent means the same as `port`. */
  targetPort?: number | string;
}

/** A static endpoint of a ServiceEntry. */
export interface StaticEndpoint {
  address: string;
  /** Port name → port. */
  ports?: Record<string, number>;
  labels: Record<string, string>;
  serviceAccount?: string;
}

export interface ServiceInfo {
  /** FQDN (or, for ServiceEntries, the host as written, lower-case, possibly a wildcard). */
  host: string;
  namespace: string;
  /** Kubernetes Service name; absent for ServiceEntries. */
  name?: string;
  kind: 'Service' | 'ServiceEntry';
  ports: readonly ServicePortInfo[];
  exportTo?: readonly string[];
  /** Virtual IPs that also name this service (clusterIP, ServiceEntry addresses). */
  addresses: readonly string[];
  /** The workload instances behind it (selector match in its namespace). */
  workloads: readonly WorkloadInstance[];
  staticEndpoints: readonly StaticEndpoint[];
  /** ServiceEntry resolution; `DNS` endpoints without an address use the host name. */
  resolution?: ServiceEntry['spec']['resolution'];
  /** `Kind namespace/name` of the declaring object. */
  source: string;
}

const KNOWN_PROTOCOLS = new Set([
  'http',
  'http2',
  'https',
  'grpc',
  'grpc-web',
  'tcp',
  'tls',
  'mongo',
  'mysql',
  'redis',
  'udp',
]);

/** A service port's protocol from appProtocol or the `<protocol>[-suffix]` naming convention. */
export function portProtocol(port: { name?: string; appProtocol?: string; protocol?: string }): string {
  if (port.appProtocol) return port.appProtocol.toLowerCase();
  if (port.name) {
    const lower = port.name.toLowerCase();
    if (KNOWN_PROTOCOLS.has(lower)) return lower;
    const dash = lower.indexOf('-');
    if (dash > 0 && KNOWN_PROTOCOLS.has(lower.slice(0, dash))) return lower.slice(0, dash);
  }
  if (port.protocol && port.protocol !== 'TCP') return port.protocol.toLowerCase();
  return 'auto';
}

/** Builds the registry: every Service and ServiceEntry with its backing workloads. */
export function buildRegistry(
  objects: readonly MeshObject[],
  workloads: readonly WorkloadInstance[],
  domain: string,
): ServiceInfo[] {
  const byNamespace = new Map<string, WorkloadInstance[]>();
  for (const w of workloads) {
    let list = byNamespace.get(w.namespace);
    if (!list) byNamespace.set(w.namespace, (list = []));
    list.push(w);
  }
  const select = (ns: string, selector: Record<string, string> | undefined): WorkloadInstance[] =>
    selector && Object.keys(selector).length > 0
      ? (byNamespace.get(ns) ?? []).filter((w) => labelsMatch(selector, w.labels))
      : [];

  const out: ServiceInfo[] = [];
  for (const svc of ofKind(objects, 'Service')) {
    const ns = namespaceOf(svc);
    const spec = svc.spec ?? {};
    const addresses = spec.clusterIP && spec.clusterIP !== 'None' ? [spec.clusterIP] : [];
    const info: ServiceInfo = {
      host: `${svc.metadata.name}.${ns}.svc.${domain}`,
      namespace: ns,
      name: svc.metadata.name,
      kind: 'Service',
      ports: (spec.ports ?? []).map(servicePortInfo),
      addresses,
      workloads: select(ns, spec.selector),
      staticEndpoints: [],
      source: `Service ${ns}/${svc.metadata.name}`,
    };
    const exportTo = serviceExportTo(svc.metadata.annotations);
    if (exportTo) info.exportTo = exportTo;
    out.push(info);
  }
  for (const se of ofKind(objects, 'ServiceEntry')) {
    const ns = namespaceOf(se);
    const spec = se.spec;
    const ports: ServicePortInfo[] = (spec.ports ?? []).map((p) => {
      const info: ServicePortInfo = {
        port: p.number,
        protocol: portProtocol({ name: p.name, protocol: p.protocol }),
      };
      if (p.protocol) info.protocol = p.protocol.toLowerCase();
      if (p.name !== undefined) info.name = p.name;
      if (p.targetPort !== undefined) info.targetPort = p.targetPort;
      return info;
    });
    const selected = spec.workloadSelector ? select(ns, selectorLabels(spec.workloadSelector)) : [];
    const endpoints: StaticEndpoint[] = (spec.endpoints ?? []).map((e) => {
      const ep: StaticEndpoint = { address: e.address ?? '', labels: e.labels ?? {} };
      if (e.ports) ep.ports = e.ports;
      if (e.serviceAccount) ep.serviceAccount = e.serviceAccount;
      return ep;
    });
    for (const rawHost of spec.hosts ?? []) {
      const host =
        rawHost.includes('.') || rawHost.startsWith('*')
          ? rawHost.toLowerCase()
          : resolveConfigHost(rawHost, ns, domain);
      const info: ServiceInfo = {
        host,
        namespace: ns,
        kind: 'ServiceEntry',
        ports,
        addresses: spec.addresses ?? [],
        workloads: selected,
        staticEndpoints: endpoints,
        source: `ServiceEntry ${ns}/${se.metadata.name}`,
      };
      if (spec.resolution) info.resolution = spec.resolution;
      if (spec.exportTo) info.exportTo = spec.exportTo;
      out.push(info);
    }
  }
  return out;
}

function servicePortInfo(p: ServicePort): ServicePortInfo {
  const info: ServicePortInfo = { port: p.port, protocol: portProtocol(p) };
  if (p.name !== undefined) info.name = p.name;
  if (p.targetPort !== undefined) info.targetPort = p.targetPort;
  return info;
}

/** The port a workload listens on for a service port: targetPort by number or by container port name. */
export function targetPortOf(
  port: ServicePortInfo,
  workloadPorts: readonly WorkloadPort[],
): number | undefined {
  const t = port.targetPort;
  if (t === undefined) return port.port;
  if (typeof t === 'number') return t;
  if (/^[0-9]+$/.test(t)) return Number(t);
  return workloadPorts.find((p) => p.name === t)?.containerPort;
}

export interface DeploymentWorkloadOptions {
  trustDomain?: string;
}

/**
 * Workload instances for the declared Deployments, one per replica (at least one), named
 * `<deployment>-<i>`. Their `address` is empty: no pod exists. A pod template annotated
 * `sidecar.istio.io/inject: "false"` (or so labelled) is unmeshed; every other one is meshed
 * and carries its service account's SPIFFE id.
 */
export function workloadsFromDeployments(
  objects: readonly MeshObject[],
  options: DeploymentWorkloadOptions = {},
): WorkloadInstance[] {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const out: WorkloadInstance[] = [];
  for (const d of ofKind(objects, 'Deployment') as Deployment[]) {
    const ns = namespaceOf(d);
    const template = d.spec?.template;
    const annotations = (template?.metadata?.annotations ?? {}) as Record<string, string>;
    const templateLabels = (template?.metadata?.labels ?? {}) as Record<string, string>;
    const inject = annotations['sidecar.istio.io/inject'] ?? templateLabels['sidecar.istio.io/inject'];
    const meshed = inject !== 'false';
    const labels = {
      ...(template?.metadata?.labels ? templateLabels : (d.spec?.selector?.matchLabels ?? {})),
    };
    const serviceAccount = template?.spec?.serviceAccountName ?? 'default';
    const ports: WorkloadPort[] = [];
    for (const c of template?.spec?.containers ?? []) {
      for (const p of c.ports ?? []) {
        const wp: WorkloadPort = { containerPort: p.containerPort };
        if (p.name !== undefined) wp.name = p.name;
        ports.push(wp);
      }
    }
    const replicas = Math.max(1, d.spec?.replicas ?? 1);
    for (let i = 0; i < replicas; i++) {
      const w: WorkloadInstance = {
        name: `${d.metadata.name}-${i}`,
        namespace: ns,
        workload: d.metadata.name,
        serviceAccount,
        labels,
        address: '',
        ports,
        meshed,
      };
      if (meshed) w.identity = spiffeId(trustDomain, ns, serviceAccount);
      out.push(w);
    }
  }
  return out;
}

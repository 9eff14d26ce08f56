/**
 * Upstream clusters as seen by one proxy: one per (service, port) plus one per DestinationRule
 * subset, each with its endpoints, accepted server identities and effective traffic policy.
 */
import type { DestinationRule, MeshObject } from '../api/types.js';
import { hostMatches } from '../hosts.js';
import { spiffeId } from '../identity.js';
import type { ProxyIdentity } from '../model.js';
import type { MeshSettings } from './mesh.js';
import { isExportedTo, labelsMatch, namespaceOf, nsName, ofKind, oldestFirst } from './objects.js';
import {
  mergeSubsetPolicy,
  policyForPort,
  resolveConnectionPool,
  resolveLoadBalancer,
  resolveOutlierDetection,
  resolveTls,
} from './policies.js';
import { type ServiceInfo, type ServicePortInfo, targetPortOf } from './registry.js';
import type { Cluster, ClusterEndpoint } from './types.js';

export function clusterKey(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ''}|${host}`;
}

interface ResolvedRule {
  rule: DestinationRule;
  host: string;
  wildcard: boolean;
}

/** Finds the DestinationRule for a host as one proxy sees it. */
export class DestinationRuleIndex {
  private readonly byNamespace = new Map<string, ResolvedRule[]>();

  constructor(
    objects: readonly MeshObject[],
    private readonly proxy: ProxyIdentity,
    private readonly mesh: MeshSettings,
    resolveHost: (host: string, namespace: string) => string,
  ) {
    for (const dr of oldestFirst(ofKind(objects, 'DestinationRule'))) {
      const ns = namespaceOf(dr);
      if (!isExportedTo(dr.spec?.exportTo, ns, proxy.namespace)) continue;
      const selector = dr.spec?.workloadSelector?.matchLabels;
      if (selector && (ns !== proxy.namespace || !labelsMatch(selector, proxy.labels))) continue;
      const host = resolveHost(dr.spec.host, ns);
      let list = this.byNamespace.get(ns);
      if (!list) this.byNamespace.set(ns, (list = []));
      list.push({ rule: dr, host, wildcard: host.startsWith('*') });
    }
    // Within a namespace: selector-bound rules first, then exact hosts, then the most specific wildcard.
    for (const list of this.byNamespace.values()) {
      list.sort((a, b) => {
        const sa = a.rule.spec.workloadSelector ? 0 : 1;
        const sb = b.rule.spec.workloadSelector ? 0 : 1;
        if (sa !== sb) return sa - sb;
        if (a.wildcard !== b.wildcard) return a.wildcard ? 1 : -1;
        return b.host.length - a.host.length;
      });
    }
  }

  /** Client namespace, then the service's namespace, then the root namespaces. */
  lookup(host: string, serviceNamespace: string): DestinationRule | undefined {
    const order = [this.proxy.namespace, serviceNamespace, ...this.mesh.rootNamespaces];
    const seen = new Set<string>();
    for (const ns of order) {
      if (seen.has(ns)) continue;
      seen.add(ns);
      const list = this.byNamespace.get(ns);
      if (!list) continue;
      for (const r of list) if (r.wildcard ? hostMatches(r.host, host) : r.host === host) return r.rule;
    }
    return undefined;
  }
}

/** Builds every cluster of a service (one per port, plus one per subset and port). */
export function buildClusters(
  svc: ServiceInfo,
  rule: DestinationRule | undefined,
  mesh: MeshSettings,
  out: Map<string, Cluster>,
): void {
  const identities = serverIdentities(svc, mesh);
  for (const port of svc.ports) {
    out.set(...makeCluster(svc, port, undefined, rule, identities));
    for (const subset of rule?.spec.subsets ?? []) {
      out.set(...makeCluster(svc, port, subset.name, rule, identities));
    }
  }
}

function makeCluster(
  svc: ServiceInfo,
  port: ServicePortInfo,
  subsetName: string | undefined,
  rule: DestinationRule | undefined,
  identities: readonly string[],
): [string, Cluster] {
  const subset =
    subsetName === undefined ? undefined : rule?.spec.subsets?.find((s) => s.name === subsetName);
  const policy =
    subset === undefined
      ? policyForPort(rule?.spec.trafficPolicy, port.port)
      : mergeSubsetPolicy(rule?.spec.trafficPolicy, subset.trafficPolicy, port.port);
  const tls = resolveTls(policy.tls);
  const endpoints: ClusterEndpoint[] = [];
  const subsetLabels = subset?.labels;
  for (const w of svc.workloads) {
    if (!labelsMatch(subsetLabels, w.labels)) continue;
    const target = targetPortOf(port, w.ports);
    if (target === undefined) continue;
    const ep: ClusterEndpoint = {
      address: w.address,
      port: target,
      meshed: w.meshed,
      labels: w.labels,
      pod: `${w.namespace}/${w.name}`,
      mtls: tls.mode === 'ISTIO_MUTUAL' || (tls.mode === 'AUTO' && w.meshed),
    };
    if (w.identity) ep.identity = w.identity;
    endpoints.push(ep);
  }
  for (const e of svc.staticEndpoints) {
    if (!labelsMatch(subsetLabels, e.labels)) continue;
    const named = port.name !== undefined ? e.ports?.[port.name] : undefined;
    const target = named ?? (typeof port.targetPort === 'number' ? port.targetPort : port.port);
    endpoints.push({
      address: e.address || svc.host,
      port: target,
      meshed: false,
      labels: e.labels,
      pod: `${svc.namespace}/${e.address || svc.host}`,
      mtls: tls.mode === 'ISTIO_MUTUAL',
    });
  }
  if (
    svc.kind === 'ServiceEntry' &&
    svc.resolution === 'DNS' &&
    svc.staticEndpoints.length === 0 &&
    !svc.host.startsWith('*') &&
    svc.workloads.length === 0
  ) {
    endpoints.push({
      address: svc.host,
      port: typeof port.targetPort === 'number' ? port.targetPort : port.port,
      meshed: false,
      labels: {},
      pod: `${svc.namespace}/${svc.host}`,
      mtls: tls.mode === 'ISTIO_MUTUAL',
    });
  }
  const key = clusterKey(port.port, subsetName, svc.host);
  const loadBalancer =
    svc.kind === 'ServiceEntry' &&
    (svc.resolution === 'NONE' || svc.resolution === undefined) &&
    endpoints.length === 0
      ? { kind: 'PASSTHROUGH' as const }
      : resolveLoadBalancer(policy.loadBalancer);
  const cluster: Cluster = {
    key,
    host: svc.host,
    port: port.port,
    protocol: port.protocol,
    endpoints,
    serverIdentities: identities,
    loadBalancer,
    connectionPool: resolveConnectionPool(policy.connectionPool),
    tls,
  };
  if (subsetName !== undefined) cluster.subset = subsetName;
  if (svc.name !== undefined) cluster.service = { namespace: svc.namespace, name: svc.name };
  const od = resolveOutlierDetection(policy.outlierDetection);
  if (od) cluster.outlierDetection = od;
  if (rule) cluster.destinationRule = nsName(rule);
  return [key, cluster];
}

function serverIdentities(svc: ServiceInfo, mesh: MeshSettings): string[] {
  const ids = new Set<string>();
  for (const w of svc.workloads) if (w.meshed && w.identity) ids.add(w.identity);
  for (const e of svc.staticEndpoints) {
    if (e.serviceAccount) ids.add(spiffeId(mesh.trustDomain, svc.namespace, e.serviceAccount));
  }
  return [...ids].sort();
}

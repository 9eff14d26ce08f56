/**
 * Compiles the mesh's config into a route table for one proxy, once per snapshot: visibility
 * (exportTo, Sidecar egress), VirtualService selection and conflicts, compile-time match
 * conditions (sourceLabels, sourceNamespace, gateways), destinations with weights, the
 * per-rule policies, and every cluster with its DestinationRule policy.
 */
import type { Gateway, MeshObject, VirtualService } from '../api/types.js';
import { hostMatches, resolveConfigHost } from '../hosts.js';
import type { ProxyIdentity, WorkloadInstance } from '../model.js';
import { buildClusters, clusterKey, DestinationRuleIndex } from './clusters.js';
import { type MeshSettingsOptions, meshSettings } from './mesh.js';
import { isExportedTo, namespaceOf, nsName, ofKind, oldestFirst } from './objects.js';
import { resolveRetries } from './policies.js';
import { buildRegistry, type ServiceInfo } from './registry.js';
import { bindsTo, type Context, compileRule, decision, noRoute, special } from './rules.js';
import { gatewaysFor, proxyScope } from './scope.js';
import type { CompiledRule, PortRoutes, RouteTable, VirtualHost, VirtualServiceConflict } from './table.js';
import { compileTcpPorts } from './tcp.js';
import type { Cluster, RouteDecision, RouteDestination, ServiceRef } from './types.js';

export interface CompileInput {
  objects: readonly MeshObject[];
  workloads: readonly WorkloadInstance[];
}

export type CompileOptions = MeshSettingsOptions;

/** Compiles the route table for `proxy`. Throws only on config lib/api validation would refuse. */
export function compileRoutes(
  input: CompileInput,
  proxy: ProxyIdentity,
  options: CompileOptions = {},
): RouteTable {
  const mesh = meshSettings(input.objects, options);
  const scope = proxyScope(input.objects, proxy, mesh);
  const registry = buildRegistry(input.objects, input.workloads, mesh.domain);
  const knownHosts = new Set(registry.map((s) => s.host));
  const resolveHost = (host: string, namespace: string): string => {
    const resolved = resolveConfigHost(host, namespace, mesh.domain);
    // `name.ns` means a Kubernetes service only when one exists; otherwise it is an external name.
    if (host.includes('.') && !knownHosts.has(resolved)) return host.toLowerCase().replace(/\.$/, '');
    return resolved;
  };

  const services = new Map<string, ServiceInfo>();
  for (const svc of registry) {
    if (services.has(svc.host)) continue;
    if (!isExportedTo(svc.exportTo, svc.namespace, proxy.namespace)) continue;
    if (!scope.sees(svc.namespace, svc.host)) continue;
    services.set(svc.host, svc);
  }

  const drIndex = new DestinationRuleIndex(input.objects, proxy, mesh, resolveHost);
  const clusters = new Map<string, Cluster>();
  for (const svc of services.values())
    buildClusters(svc, drIndex.lookup(svc.host, svc.namespace), mesh, clusters);

  const gateways = gatewaysFor(input.objects, proxy);
  const ctx: Context = {
    proxy,
    mesh,
    services,
    gatewayNames: new Set(gateways.map(nsName)),
    gatewayMode: proxy.mode === 'gateway',
    defaultRetry: resolveRetries(undefined, mesh.defaultRetry),
    resolveHost,
  };

  // VirtualServices that apply to this proxy, oldest first, grouped by resolved host.
  const vsByHost = new Map<string, VirtualService[]>();
  for (const vs of oldestFirst(ofKind(input.objects, 'VirtualService'))) {
    const ns = namespaceOf(vs);
    if (!isExportedTo(vs.spec?.exportTo, ns, proxy.namespace)) continue;
    if (!bindsTo(vs.spec?.gateways, ns, ctx)) continue;
    for (const raw of vs.spec?.hosts ?? []) {
      const host = ctx.gatewayMode && raw.includes('.') ? raw.toLowerCase() : resolveHost(raw, ns);
      if (!ctx.gatewayMode && !scope.sees(ns, host)) continue;
      if (ctx.gatewayMode && !gatewayServes(gateways, vs, host)) continue;
      let list = vsByHost.get(host);
      if (!list) vsByHost.set(host, (list = []));
      if (!list.includes(vs)) list.push(vs);
    }
  }
  const conflicts: VirtualServiceConflict[] = [];
  const winners = new Map<string, VirtualService>();
  for (const [host, list] of vsByHost) {
    winners.set(host, list[0]);
    if (list.length > 1)
      conflicts.push({ host, winner: nsName(list[0]), ignored: list.slice(1).map(nsName) });
  }
  const wildcardVs = [...winners.entries()]
    .filter(([h]) => h.startsWith('*'))
    .sort((a, b) => b[0].length - a[0].length);

  const hosts = new Map<string, VirtualHost>();
  const wildcardHosts: VirtualHost[] = [];
  const addKey = (key: string, vh: VirtualHost) => {
    if (!hosts.has(key)) hosts.set(key, vh);
  };

  if (!ctx.gatewayMode) {
    for (const svc of services.values()) {
      let vs = winners.get(svc.host);
      if (!vs) vs = wildcardVs.find(([pattern]) => matchesPattern(pattern, svc.host))?.[1];
      const vh = serviceHost(svc, vs, ctx);
      if (svc.host.startsWith('*')) {
        wildcardHosts.push(vh);
        continue;
      }
      for (const name of nameForms(svc, proxy.namespace, mesh.domain)) {
        addKey(name, vh);
        for (const p of svc.ports) addKey(`${name}:${p.port}`, vh);
      }
    }
  }
  // Hosts that only a VirtualService names (external names, gateway hosts, wildcards).
  for (const [host, vs] of winners) {
    if (services.has(host)) continue;
    if (!ctx.gatewayMode && host.startsWith('*')) continue;
    const vh: VirtualHost = {
      host,
      virtualService: nsName(vs),
      ports: new Map(),
      anyPort: portRoutes(host, undefined, 80, vs, ctx),
    };
    if (host.startsWith('*')) wildcardHosts.push(vh);
    else addKey(host, vh);
  }
  wildcardHosts.sort((a, b) => b.host.length - a.host.length);

  const unknownHost: RouteDecision = ctx.gatewayMode
    ? noRoute(undefined, undefined, 'no VirtualService bound to this gateway serves the host')
    : scope.outboundTrafficPolicy === 'REGISTRY_ONLY'
      ? special(
          'blackhole',
          'host not in the registry visible to this proxy and outboundTrafficPolicy is REGISTRY_ONLY',
          'NR',
        )
      : special('passthrough', 'host not in the registry; outboundTrafficPolicy ALLOW_ANY passes it through');

  const table: RouteTable = {
    proxy,
    mesh,
    outboundTrafficPolicy: scope.outboundTrafficPolicy,
    clusters,
    services,
    hosts,
    wildcardHosts,
    unknownHost,
    conflicts,
  };
  if (scope.sidecar) (table as { sidecar?: string }).sidecar = scope.sidecar;
  return table;
}

function matchesPattern(pattern: string, host: string): boolean {
  const suffix = pattern.slice(1);
  return pattern === '*' || (host.length > suffix.length && host.endsWith(suffix));
}

/** Every name a request from `callerNamespace` can use for the service, plus its VIPs. */
function nameForms(svc: ServiceInfo, callerNamespace: string, domain: string): string[] {
  const names = [svc.host, ...svc.addresses];
  if (svc.kind === 'Service' && svc.name !== undefined) {
    names.push(`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`);
    if (svc.host !== `${svc.name}.${svc.namespace}.svc.${domain}`)
      names.push(`${svc.name}.${svc.namespace}.svc.${domain}`);
    if (svc.namespace === callerNamespace) names.push(svc.name);
  }
  return names;
}

/**
 * Whether a Gateway the VirtualService is bound to serves `host`: one of its servers lists a
 * matching host (`host`, `*.suffix` or `*`, optionally `namespace/`-qualified: `*`, `.` or the
 * VirtualService's namespace).
 */
function gatewayServes(gateways: readonly Gateway[], vs: VirtualService, host: string): boolean {
  const vsNs = namespaceOf(vs);
  const bound = new Set((vs.spec.gateways ?? []).map((g) => (g.includes('/') ? g : `${vsNs}/${g}`)));
  for (const gw of gateways) {
    if (!bound.has(nsName(gw))) continue;
    for (const server of gw.spec?.servers ?? []) {
      for (const entry of server.hosts ?? []) {
        const slash = entry.indexOf('/');
        const ns = slash >= 0 ? entry.slice(0, slash) : '*';
        const pattern = slash >= 0 ? entry.slice(slash + 1) : entry;
        const nsOk = ns === '*' || ns === vsNs || (ns === '.' && namespaceOf(gw) === vsNs);
        if (nsOk && (hostMatches(pattern, host) || hostMatches(host, pattern))) return true;
      }
    }
  }
  return false;
}

function serviceRef(host: string, svc: ServiceInfo | undefined, port: number): ServiceRef {
  const ref: ServiceRef = { host, port };
  if (svc?.name !== undefined) {
    ref.namespace = svc.namespace;
    ref.name = svc.name;
  }
  return ref;
}

function serviceHost(svc: ServiceInfo, vs: VirtualService | undefined, ctx: Context): VirtualHost {
  const ports = new Map<number, PortRoutes>();
  for (const p of svc.ports) ports.set(p.port, portRoutes(svc.host, svc, p.port, vs, ctx));
  const vh: VirtualHost = { host: svc.host, service: svc, ports };
  if (vs) vh.virtualService = nsName(vs);
  const tcp = compileTcpPorts(
    vs,
    svc.ports.map((p) => p.port),
    ctx,
  );
  if (tcp) vh.tcp = tcp;
  if (ports.size === 0 && vs) vh.anyPort = portRoutes(svc.host, svc, 80, vs, ctx);
  return vh;
}

function portRoutes(
  host: string,
  svc: ServiceInfo | undefined,
  port: number,
  vs: VirtualService | undefined,
  ctx: Context,
): PortRoutes {
  const ref = serviceRef(host, svc, port);
  if (!vs) {
    const key = clusterKey(port, undefined, host);
    const dest: RouteDestination = { host, port, weight: 1, probability: 1, clusterKey: key };
    return {
      port,
      rules: null,
      fallback: decision('route', `no VirtualService for ${host}: all endpoints of the service`, {
        service: ref,
        destinations: [dest],
        chosen: dest,
        clusterKey: key,
        timeoutMs: ctx.mesh.defaultTimeoutMs,
        retries: ctx.defaultRetry,
      }),
    };
  }
  const vsRef = nsName(vs);
  const rules: CompiledRule[] = [];
  const http = vs.spec.http ?? [];
  for (let index = 0; index < http.length; index++) {
    const compiled = compileRule(http[index], index, vs, vsRef, ref, port, ctx);
    if (compiled) rules.push(compiled);
  }
  return {
    port,
    rules,
    fallback: noRoute(ref, vsRef, `VirtualService ${vsRef} has no rule matching the request`),
  };
}

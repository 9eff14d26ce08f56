/**
 * Compiles the mesh's config into a route table for one proxy, once per snapshot: visibility
 * (exportTo, Sidecar egress), VirtualService selection and conflicts, compile-time match
 * conditions (sourceLabels, sourceNamespace, gateways), destinations with weights, the
 * per-rule policies, and every cluster with its DestinationRule policy.
 */
import type { Gateway, HTTPRoute, HTTPRouteDestination, MeshObject, VirtualService } from '../api/types.js';
import { hostMatches, resolveConfigHost } from '../hosts.js';
import type { ProxyIdentity, WorkloadInstance } from '../model.js';
import { buildClusters, clusterKey, DestinationRuleIndex } from './clusters.js';
import { type CompiledMatch, compileMatch } from './matchers.js';
import { type MeshSettings, type MeshSettingsOptions, meshSettings } from './mesh.js';
import { isExportedTo, labelsMatch, namespaceOf, nsName, ofKind, oldestFirst } from './objects.js';
import {
  disabledRetry,
  mergeHeaderEdits,
  NO_HEADER_EDITS,
  resolveFault,
  resolveHeaders,
  resolveRetries,
  resolveTimeout,
} from './policies.js';
import { buildRegistry, type ServiceInfo } from './registry.js';
import { gatewaysFor, proxyScope } from './scope.js';
import type { CompiledRule, PortRoutes, RouteTable, VirtualHost, VirtualServiceConflict } from './table.js';
import type {
  Cluster,
  HeaderEdits,
  MirrorPolicy,
  RetryPolicy,
  RewritePolicy,
  RouteDecision,
  RouteDestination,
  ServiceRef,
} from './types.js';

export interface CompileInput {
  objects: readonly MeshObject[];
  workloads: readonly WorkloadInstance[];
}

export type CompileOptions = MeshSettingsOptions;

interface Context {
  proxy: ProxyIdentity;
  mesh: MeshSettings;
  services: ReadonlyMap<string, ServiceInfo>;
  gatewayNames: ReadonlySet<string>;
  gatewayMode: boolean;
  /** The mesh default retry policy, resolved once and shared. */
  defaultRetry: RetryPolicy;
  resolveHost(host: string, namespace: string): string;
}

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

/** Whether a VirtualService's `gateways` list binds it to this proxy. */
function bindsTo(list: readonly string[] | undefined, vsNamespace: string, ctx: Context): boolean {
  if (!list || list.length === 0) return !ctx.gatewayMode;
  for (const g of list) {
    if (g === 'mesh') {
      if (!ctx.gatewayMode) return true;
    } else if (ctx.gatewayMode && ctx.gatewayNames.has(g.includes('/') ? g : `${vsNamespace}/${g}`)) {
      return true;
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

/**
 * Every decision is built here with the same property order and set, so `route()` returns
 * objects of one shape (absent fields are undefined and vanish from JSON).
 */
function decision(
  kind: RouteDecision['kind'],
  reason: string,
  fields: Partial<RouteDecision> = {},
  /** Rule-wide fields; `fields` wins where both set one. */
  common: Partial<RouteDecision> = {},
): RouteDecision {
  const mirrors = fields.mirrors ?? common.mirrors;
  return {
    kind,
    service: fields.service ?? common.service,
    virtualService: fields.virtualService ?? common.virtualService,
    ruleIndex: fields.ruleIndex ?? common.ruleIndex,
    ruleName: fields.ruleName ?? common.ruleName,
    matchIndex: fields.matchIndex,
    destinations: fields.destinations ?? NO_DESTINATIONS,
    chosen: fields.chosen,
    clusterKey: fields.clusterKey,
    timeoutMs: fields.timeoutMs ?? common.timeoutMs ?? null,
    retries: fields.retries ?? common.retries ?? DISABLED_RETRY,
    fault: fields.fault ?? common.fault,
    mirror: mirrors?.[0],
    mirrors: mirrors ?? NO_MIRRORS,
    rewrite: fields.rewrite,
    redirect: fields.redirect,
    directResponse: fields.directResponse,
    headers: fields.headers ?? NO_HEADER_EDITS,
    responseFlag: fields.responseFlag,
    reason,
  };
}

const DISABLED_RETRY = disabledRetry();
const NO_MIRRORS: readonly MirrorPolicy[] = Object.freeze([]);
const NO_DESTINATIONS: readonly RouteDestination[] = Object.freeze([]);

function serviceHost(svc: ServiceInfo, vs: VirtualService | undefined, ctx: Context): VirtualHost {
  const ports = new Map<number, PortRoutes>();
  for (const p of svc.ports) ports.set(p.port, portRoutes(svc.host, svc, p.port, vs, ctx));
  const vh: VirtualHost = { host: svc.host, service: svc, ports };
  if (vs) vh.virtualService = nsName(vs);
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

/** Match entries that can hold for this proxy (sourceLabels, sourceNamespace, gateways), with their indices. */
function applicableMatches(
  rule: HTTPRoute,
  vsNamespace: string,
  ctx: Context,
): [number, CompiledMatch][] | null {
  if (!rule.match || rule.match.length === 0) return null;
  const out: [number, CompiledMatch][] = [];
  for (let i = 0; i < rule.match.length; i++) {
    const m = rule.match[i];
    if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.proxy.labels)) continue;
    if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxy.namespace) continue;
    if (m.gateways && m.gateways.length > 0 && !bindsTo(m.gateways, vsNamespace, ctx)) continue;
    out.push([i, compileMatch(m)]);
  }
  return out;
}

function destinationPort(
  host: string,
  explicit: number | undefined,
  requestPort: number,
  ctx: Context,
): number {
  if (explicit !== undefined) return explicit;
  const svc = ctx.services.get(host);
  if (svc && svc.ports.length === 1) return svc.ports[0].port;
  return requestPort;
}

function compileRule(
  rule: HTTPRoute,
  index: number,
  vs: VirtualService,
  vsRef: string,
  service: ServiceRef,
  port: number,
  ctx: Context,
): CompiledRule | undefined {
  const vsNs = namespaceOf(vs);
  const matches = applicableMatches(rule, vsNs, ctx);
  if (matches && matches.length === 0) return undefined; // no entry can hold for this proxy
  const slots: (number | undefined)[] = matches ? matches.map(([i]) => i) : [undefined];
  const ruleName = rule.name;
  const label = `rule ${index}${ruleName ? ` (${ruleName})` : ''} of VirtualService ${vsRef}`;
  const common: Partial<RouteDecision> = {
    service,
    virtualService: vsRef,
    ruleIndex: index,
    ruleName,
    timeoutMs: resolveTimeout(rule.timeout, ctx.mesh.defaultTimeoutMs),
    retries:
      rule.retries === undefined ? ctx.defaultRetry : resolveRetries(rule.retries, ctx.mesh.defaultRetry),
    fault: resolveFault(rule.fault),
    mirrors: resolveMirrors(rule, vsNs, port, ctx),
  };
  const routeHeaders = resolveHeaders(rule.headers);
  const compiled: CompiledRule = {
    index,
    matches: matches ? matches.map(([, m]) => m) : null,
    decisions: [],
    cumulative: [0],
    total: 1,
  };
  if (ruleName !== undefined) compiled.name = ruleName;

  if (rule.redirect) {
    const redirect = { status: rule.redirect.redirectCode ?? 301, location: '' };
    compiled.redirect = rule.redirect;
    compiled.decisions = slots.map((matchIndex) => [
      decision(
        'redirect',
        `redirect by ${label}`,
        { matchIndex, retries: DISABLED_RETRY, headers: routeHeaders, redirect },
        common,
      ),
    ]);
    return compiled;
  }
  if (rule.directResponse) {
    const dr = rule.directResponse;
    const body =
      dr.body?.string ??
      (dr.body?.bytes !== undefined ? Buffer.from(dr.body.bytes, 'base64').toString('utf8') : undefined);
    const directResponse = body === undefined ? { status: dr.status } : { status: dr.status, body };
    compiled.decisions = slots.map((matchIndex) => [
      decision(
        'direct-response',
        `direct response ${dr.status} by ${label}`,
        { matchIndex, retries: DISABLED_RETRY, headers: routeHeaders, directResponse },
        common,
      ),
    ]);
    return compiled;
  }

  const dests = weightedDestinations(rule.route ?? [], vsNs, port, ctx);
  if (dests.length === 0) {
    compiled.decisions = slots.map(() => [noRoute(service, vsRef, `${label} has no destination`)]);
    return compiled;
  }
  const cumulative: number[] = [];
  let total = 0;
  for (const d of dests) cumulative.push((total += d.dest.weight));
  compiled.cumulative = cumulative;
  compiled.total = total;
  const destinations = dests.map((d) => d.dest);
  const reasons = dests.map(
    ({ dest }) =>
      `${label} → ${dest.host}${dest.subset ? ` subset ${dest.subset}` : ''} (${(dest.probability * 100).toFixed(1)} %)`,
  );
  const headerEdits = dests.map(({ headers }) => mergeHeaderEdits(routeHeaders, headers));
  compiled.decisions = slots.map((matchIndex) => {
    const matchedPrefix = matchIndex === undefined ? undefined : rule.match?.[matchIndex]?.uri?.prefix;
    const rewrite = resolveRewrite(rule, matchedPrefix);
    return dests.map(({ dest }, d) =>
      decision(
        'route',
        reasons[d],
        {
          matchIndex,
          destinations,
          chosen: dest,
          clusterKey: dest.clusterKey,
          headers: headerEdits[d],
          rewrite,
        },
        common,
      ),
    );
  });
  return compiled;
}

function resolveRewrite(rule: HTTPRoute, matchedPrefix: string | undefined): RewritePolicy | undefined {
  const r = rule.rewrite;
  if (!r || (r.uri === undefined && r.authority === undefined && !r.uriRegexRewrite)) return undefined;
  const out: RewritePolicy = {};
  if (r.uri !== undefined) out.uri = r.uri;
  if (r.authority !== undefined) out.authority = r.authority;
  if (r.uriRegexRewrite)
    out.uriRegex = { match: r.uriRegexRewrite.match, rewrite: r.uriRegexRewrite.rewrite };
  if (matchedPrefix !== undefined) out.matchedPrefix = matchedPrefix;
  return out;
}

/** Relative weights: a lone destination gets everything, zero weights are dropped. */
function weightedDestinations(
  route: readonly HTTPRouteDestination[],
  vsNamespace: string,
  port: number,
  ctx: Context,
): { dest: RouteDestination; headers?: HeaderEdits }[] {
  let entries = route.map((r) => ({
    r,
    weight: route.length === 1 ? (r.weight === 0 ? 0 : (r.weight ?? 1)) : (r.weight ?? 0),
  }));
  if (route.length === 1 && entries[0].weight === 0) entries[0].weight = 1;
  const positive = entries.filter((e) => e.weight > 0);
  // All zero is invalid config (validation reports it); split evenly rather than drop traffic.
  entries = positive.length > 0 ? positive : entries.map((e) => ({ ...e, weight: 1 }));
  const sum = entries.reduce((s, e) => s + e.weight, 0);
  return entries.map(({ r, weight }) => {
    const host = ctx.resolveHost(r.destination.host, vsNamespace);
    const destPort = destinationPort(host, r.destination.port?.number, port, ctx);
    const dest: RouteDestination = {
      host,
      port: destPort,
      weight,
      probability: weight / sum,
      clusterKey: clusterKey(destPort, r.destination.subset, host),
    };
    if (r.destination.subset !== undefined) dest.subset = r.destination.subset;
    const headers = resolveHeaders(r.headers);
    if (headers) dest.headers = headers;
    return headers ? { dest, headers } : { dest };
  });
}

function resolveMirrors(rule: HTTPRoute, vsNamespace: string, port: number, ctx: Context): MirrorPolicy[] {
  const list: { destination: NonNullable<HTTPRoute['mirror']>; percent: number }[] = [];
  if (rule.mirror) {
    list.push({
      destination: rule.mirror,
      percent: rule.mirrorPercentage?.value ?? rule.mirrorPercent ?? 100,
    });
  }
  for (const m of rule.mirrors ?? [])
    list.push({ destination: m.destination, percent: m.percentage?.value ?? 100 });
  return list.map(({ destination, percent }) => {
    const host = ctx.resolveHost(destination.host, vsNamespace);
    const mirrorPort = destinationPort(host, destination.port?.number, port, ctx);
    const m: MirrorPolicy = {
      host,
      port: mirrorPort,
      percent,
      clusterKey: clusterKey(mirrorPort, destination.subset, host),
    };
    if (destination.subset !== undefined) m.subset = destination.subset;
    return m;
  });
}

function noRoute(service: ServiceRef | undefined, vsRef: string | undefined, reason: string): RouteDecision {
  return decision('no-route', reason, { service, virtualService: vsRef, responseFlag: 'NR' });
}

function special(kind: 'passthrough' | 'blackhole', reason: string, flag?: string): RouteDecision {
  return decision(kind, reason, { responseFlag: flag });
}

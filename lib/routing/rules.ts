/**
 * Compiles the `http[]` rules of one VirtualService for one host and port: the match entries that
 * can hold for the proxy, weighted destinations, the rule's policies, and one precomputed
 * decision per (match entry, destination). Used by ./compile.ts.
 */
import type { HTTPRoute, HTTPRouteDestination, VirtualService } from '../api/types.js';
import type { ProxyIdentity } from '../model.js';
import { clusterKey } from './clusters.js';
import { compileCors } from './cors.js';
import { type CompiledMatch, compileMatch } from './matchers.js';
import type { MeshSettings } from './mesh.js';
import { labelsMatch, namespaceOf } from './objects.js';
import {
  disabledRetry,
  mergeHeaderEdits,
  NO_HEADER_EDITS,
  resolveFault,
  resolveHeaders,
  resolveRetries,
  resolveTimeout,
} from './policies.js';
import type { ServiceInfo } from './registry.js';
import type { CompiledRule } from './table.js';
import type {
  HeaderEdits,
  MirrorPolicy,
  RetryPolicy,
  RewritePolicy,
  RouteDecision,
  RouteDestination,
  ServiceRef,
} from './types.js';

/** What rule compilation needs to know about the proxy and the registry. */
export interface Context {
  proxy: ProxyIdentity;
  mesh: MeshSettings;
  services: ReadonlyMap<string, ServiceInfo>;
  gatewayNames: ReadonlySet<string>;
  gatewayMode: boolean;
  /** The mesh default retry policy, resolved once and shared. */
  defaultRetry: RetryPolicy;
  resolveHost(host: string, namespace: string): string;
}

/** Whether a VirtualService's `gateways` list binds it to this proxy. */
export function bindsTo(list: readonly string[] | undefined, vsNamespace: string, ctx: Context): boolean {
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

/**
 * Every decision is built here with the same property order and set, so `route()` returns
 * objects of one shape (absent fields are undefined and vanish from JSON).
 */
export function decision(
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
    cors: fields.cors,
    responseFlag: fields.responseFlag,
    reason,
  };
}

export const DISABLED_RETRY = disabledRetry();
const NO_MIRRORS: readonly MirrorPolicy[] = Object.freeze([]);
const NO_DESTINATIONS: readonly RouteDestination[] = Object.freeze([]);

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

export function compileRule(
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
  const cors = compileCors(rule.corsPolicy);
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
          cors,
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
export function weightedDestinations(
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

export function noRoute(
  service: ServiceRef | undefined,
  vsRef: string | undefined,
  reason: string,
): RouteDecision {
  return decision('no-route', reason, { service, virtualService: vsRef, responseFlag: 'NR' });
}

export function special(kind: 'passthrough' | 'blackhole', reason: string, flag?: string): RouteDecision {
  return decision(kind, reason, { responseFlag: flag });
}

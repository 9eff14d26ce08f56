/**
 * TCP routing: VirtualService `tcp[]` rules for connections to a service port carried as opaque
 * TCP. L4 matches (`port`, `destinationSubnets`, and `sourceLabels`/`sourceNamespace`/`gateways`
 * decided when compiling), first matching rule wins, relative weights with zero weights
 * dropped. A connection no rule matches goes to the whole service, as without a VirtualService.
 */
import type { VirtualService } from '../api/types.js';
import { type Cidr, cidrContains, parseCidr } from '../policy/cidr.js';
import { clusterKey } from './clusters.js';
import { labelsMatch, namespaceOf } from './objects.js';
import { lookupHost } from './route.js';
import { bindsTo, type Context, weightedDestinations } from './rules.js';
import type { RouteTable } from './table.js';
import type { RouteDestination, ServiceRef } from './types.js';

/** Service port protocols carried as opaque TCP; everything else is routed as HTTP. */
export const TCP_PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'tls', 'https', 'mongo', 'mysql', 'redis']);

export interface CompiledTcpRule {
  index: number;
  /** null: the rule matches every connection. */
  matches: readonly { port?: number; subnets?: readonly Cidr[] }[] | null;
  destinations: readonly RouteDestination[];
  cumulative: readonly number[];
  total: number;
}

/** The result of `routeTcp()`. */
export interface TcpRouteDecision {
  kind: 'route' | 'passthrough' | 'blackhole';
  service?: ServiceRef;
  /** The port's protocol (`tcp`, `tls`, ...). */
  protocol?: string;
  /** `namespace/name` of the VirtualService whose tcp rule matched. */
  virtualService?: string;
  ruleIndex?: number;
  destinations: readonly RouteDestination[];
  chosen?: RouteDestination;
  clusterKey?: string;
  reason: string;
}

/** Compiles a VirtualService's `tcp[]` rules for one service port. */
export function compileTcpRules(vs: VirtualService, port: number, ctx: Context): CompiledTcpRule[] {
  const ns = namespaceOf(vs);
  const out: CompiledTcpRule[] = [];
  (vs.spec.tcp ?? []).forEach((rule, index) => {
    let matches: { port?: number; subnets?: Cidr[] }[] | null = null;
    if (rule.match && rule.match.length > 0) {
      matches = [];
      for (const m of rule.match) {
        if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.proxy.labels)) continue;
        if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxy.namespace) continue;
        if (m.gateways && m.gateways.length > 0 && !bindsTo(m.gateways, ns, ctx)) continue;
        const entry: { port?: number; subnets?: Cidr[] } = {};
        if (m.port !== undefined) entry.port = m.port;
        if (m.destinationSubnets && m.destinationSubnets.length > 0)
          entry.subnets = m.destinationSubnets.map(parseCidr);
        matches.push(entry);
      }
      if (matches.length === 0) return;
    }
    const destinations = weightedDestinations(rule.route ?? [], ns, port, ctx).map((d) => d.dest);
    if (destinations.length === 0) return;
    const cumulative: number[] = [];
    let total = 0;
    for (const d of destinations) cumulative.push((total += d.weight));
    out.push({ index, matches, destinations, cumulative, total });
  });
  return out;
}

function matches(rule: CompiledTcpRule, port: number, address: string | undefined): boolean {
  if (rule.matches === null) return true;
  for (const m of rule.matches) {
    if (m.port !== undefined && m.port !== port) continue;
    if (m.subnets && !(address !== undefined && m.subnets.some((c) => cidrContains(c, address)))) continue;
    return true;
  }
  return false;
}

/**
 * Routes a TCP connection to `host` (a service name in any form, or its VIP) on `port`.
 * `address` is the connection's original destination IP, for `destinationSubnets`.
 */
export function routeTcp(
  table: RouteTable,
  target: { host: string; port: number; address?: string },
  random: () => number = Math.random,
): TcpRouteDecision {
  const vh = lookupHost(table, target.host);
  const svc = vh?.service;
  const servicePort = svc?.ports.find((p) => p.port === target.port);
  if (!vh || !svc || !servicePort) {
    const kind = table.unknownHost.kind === 'blackhole' ? 'blackhole' : 'passthrough';
    return { kind, destinations: [], reason: table.unknownHost.reason };
  }
  const service: ServiceRef = { host: svc.host, port: target.port };
  if (svc.name !== undefined) {
    service.namespace = svc.namespace;
    service.name = svc.name;
  }
  const rules = vh.tcp?.get(target.port) ?? [];
  for (const rule of rules) {
    if (!matches(rule, target.port, target.address)) continue;
    const pick = random() * rule.total;
    let chosen = rule.destinations[rule.destinations.length - 1];
    for (let i = 0; i < rule.cumulative.length; i++) {
      if (pick < rule.cumulative[i]) {
        chosen = rule.destinations[i];
        break;
      }
    }
    return {
      kind: 'route',
      service,
      protocol: servicePort.protocol,
      virtualService: vh.virtualService,
      ruleIndex: rule.index,
      destinations: rule.destinations,
      chosen,
      clusterKey: chosen.clusterKey,
      reason: `tcp rule ${rule.index} of VirtualService ${vh.virtualService}`,
    };
  }
  const key = clusterKey(target.port, undefined, svc.host);
  const dest: RouteDestination = {
    host: svc.host,
    port: target.port,
    weight: 1,
    probability: 1,
    clusterKey: key,
  };
  return {
    kind: 'route',
    service,
    protocol: servicePort.protocol,
    destinations: [dest],
    chosen: dest,
    clusterKey: key,
    reason: rules.length
      ? `no tcp rule of VirtualService ${vh.virtualService} matches: all endpoints of the service`
      : `no tcp route for ${svc.host}:${target.port}: all endpoints of the service`,
  };
}

/** Compiles the tcp rules of `vs` for every port of `ports`, or undefined when it has none. */
export function compileTcpPorts(
  vs: VirtualService | undefined,
  ports: readonly number[],
  ctx: Context,
): Map<number, CompiledTcpRule[]> | undefined {
  if (!vs?.spec.tcp || vs.spec.tcp.length === 0) return undefined;
  const out = new Map<number, CompiledTcpRule[]>();
  for (const p of ports) out.set(p, compileTcpRules(vs, p, ctx));
  return out;
}

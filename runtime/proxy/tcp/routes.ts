/**
 * TCP routes for one snapshot: which service a captured connection's original destination
 * names (a service VIP or an endpoint address, with the service port), and the weighted
 * destinations of the VirtualService `tcp` rules for it. The HTTP engine (lib/routing) decides
 * which VirtualService owns a host; this module reads that VirtualService's `tcp` section with
 * Istio's L4 match semantics (port, sourceLabels, sourceNamespace, destinationSubnets; first
 * matching rule wins; weights relative, zero weights dropped).
 */
import type { MeshObject, TCPRoute, VirtualService } from '../../../lib/api/types.js';
import { resolveConfigHost } from '../../../lib/hosts.js';
import { type Cidr, cidrContains, parseCidr } from '../../../lib/policy/cidr.js';
import { clusterKey } from '../../../lib/routing/clusters.js';
import { labelsMatch, namespaceOf, nsName, ofKind } from '../../../lib/routing/objects.js';
import { targetPortOf } from '../../../lib/routing/registry.js';
import { lookupHost } from '../../../lib/routing/route.js';
import type { RouteTable } from '../../../lib/routing/table.js';

/** Port protocols carried as opaque TCP (everything else on a known port is HTTP). */
export const TCP_PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'tls', 'https', 'mongo', 'mysql', 'redis']);

export interface TcpDestination {
  host: string;
  port: number;
  subset?: string;
  weight: number;
  clusterKey: string;
}

export interface TcpRouteDecision {
  /** The service FQDN (or ServiceEntry host). */
  host: string;
  /** The service port the connection was for. */
  port: number;
  /** The port's protocol (`tcp`, `tls`, ...). */
  protocol: string;
  /** `namespace/name` of the VirtualService whose tcp rule matched, if any. */
  virtualService?: string;
  ruleIndex?: number;
  destinations: readonly TcpDestination[];
  total: number;
}

interface ServicePortRef {
  host: string;
  port: number;
  protocol: string;
}

interface CompiledTcpRule {
  index: number;
  /** null: matches every connection. */
  matches: { port?: number; subnets?: Cidr[] }[] | null;
  destinations: TcpDestination[];
  total: number;
}

export class TcpRouteTable {
  /** `address:port` (VIP or endpoint, with the port a client connects to) → service port. */
  private readonly byAddress = new Map<string, ServicePortRef>();
  private readonly rulesByHost = new Map<string, { vs: string; rules: CompiledTcpRule[] }>();

  constructor(
    private readonly table: RouteTable,
    objects: readonly MeshObject[],
  ) {
    const virtualServices = new Map<string, VirtualService>();
    for (const vs of ofKind(objects, 'VirtualService')) virtualServices.set(nsName(vs), vs);
    for (const svc of table.services.values()) {
      for (const p of svc.ports) {
        const ref = { host: svc.host, port: p.port, protocol: p.protocol };
        for (const vip of svc.addresses) this.byAddress.set(`${vip}:${p.port}`, ref);
        for (const w of svc.workloads) {
          const target = targetPortOf(p, w.ports);
          if (w.address && target !== undefined && !this.byAddress.has(`${w.address}:${target}`))
            this.byAddress.set(`${w.address}:${target}`, ref);
        }
      }
      const vsRef = lookupHost(table, svc.host)?.virtualService;
      const vs = vsRef ? virtualServices.get(vsRef) : undefined;
      if (vs?.spec.tcp && vs.spec.tcp.length > 0) {
        this.rulesByHost.set(svc.host, { vs: vsRef!, rules: this.compileRules(vs, vs.spec.tcp) });
      }
    }
  }

  /** The service port a captured connection's original destination names, if any. */
  serviceAt(address: string, port: number): ServicePortRef | undefined {
    return this.byAddress.get(`${address}:${port}`);
  }

  /** The service port a host name and port name (explicit listeners). */
  serviceNamed(host: string, port: number): ServicePortRef | undefined {
    const vh = lookupHost(this.table, host);
    const svc = vh?.service;
    const p = svc?.ports.find((x) => x.port === port);
    return svc && p ? { host: svc.host, port, protocol: p.protocol } : undefined;
  }

  /** True when connections to this service port are carried as TCP. */
  static isTcp(ref: ServicePortRef): boolean {
    return TCP_PROTOCOLS.has(ref.protocol);
  }

  /** The route for a connection to `ref` whose original destination address is `address`. */
  decide(ref: ServicePortRef, address: string | undefined): TcpRouteDecision {
    const entry = this.rulesByHost.get(ref.host);
    if (entry) {
      for (const rule of entry.rules) {
        if (!ruleMatches(rule, ref.port, address)) continue;
        return {
          host: ref.host,
          port: ref.port,
          protocol: ref.protocol,
          virtualService: entry.vs,
          ruleIndex: rule.index,
          destinations: rule.destinations,
          total: rule.total,
        };
      }
    }
    const key = clusterKey(ref.port, undefined, ref.host);
    return {
      host: ref.host,
      port: ref.port,
      protocol: ref.protocol,
      destinations: [{ host: ref.host, port: ref.port, weight: 1, clusterKey: key }],
      total: 1,
    };
  }

  private compileRules(vs: VirtualService, tcp: readonly TCPRoute[]): CompiledTcpRule[] {
    const proxy = this.table.proxy;
    const ns = namespaceOf(vs);
    const out: CompiledTcpRule[] = [];
    tcp.forEach((rule, index) => {
      let matches: CompiledTcpRule['matches'] = null;
      if (rule.match && rule.match.length > 0) {
        matches = [];
        for (const m of rule.match) {
          // Compile-time conditions: only entries that can hold for this proxy remain.
          if (m.sourceLabels && !labelsMatch(m.sourceLabels, proxy.labels)) continue;
          if (m.sourceNamespace !== undefined && m.sourceNamespace !== proxy.namespace) continue;
          if (m.gateways && m.gateways.length > 0 && !m.gateways.includes('mesh')) continue;
          const entry: { port?: number; subnets?: Cidr[] } = {};
          if (m.port !== undefined) entry.port = m.port;
          if (m.destinationSubnets && m.destinationSubnets.length > 0)
            entry.subnets = m.destinationSubnets.map((s) => parseCidr(s));
          matches.push(entry);
        }
        if (matches.length === 0) return;
      }
      const route = rule.route ?? [];
      let dests = route.map((r) => ({
        r,
        weight:
          route.length === 1 ? (r.weight === 0 || r.weight === undefined ? 1 : r.weight) : (r.weight ?? 0),
      }));
      const positive = dests.filter((d) => d.weight > 0);
      dests = positive.length > 0 ? positive : dests.map((d) => ({ ...d, weight: 1 }));
      if (dests.length === 0) return;
      let total = 0;
      const destinations = dests.map(({ r, weight }) => {
        const host = this.resolveHost(r.destination.host, ns);
        const svc = this.table.services.get(host);
        const port = r.destination.port?.number ?? (svc && svc.ports.length === 1 ? svc.ports[0].port : 0);
        total += weight;
        const d: TcpDestination = {
          host,
          port,
          weight,
          clusterKey: clusterKey(port, r.destination.subset, host),
        };
        if (r.destination.subset !== undefined) d.subset = r.destination.subset;
        return d;
      });
      out.push({ index, matches, destinations, total });
    });
    return out;
  }

  private resolveHost(host: string, namespace: string): string {
    const resolved = resolveConfigHost(host, namespace, this.table.mesh.domain);
    if (host.includes('.') && !this.table.services.has(resolved))
      return host.toLowerCase().replace(/\.$/, '');
    return resolved;
  }
}

function ruleMatches(rule: CompiledTcpRule, port: number, address: string | undefined): boolean {
  if (rule.matches === null) return true;
  for (const m of rule.matches) {
    if (m.port !== undefined && m.port !== port) continue;
    if (m.subnets && !(address !== undefined && m.subnets.some((c) => cidrContains(c, address)))) continue;
    return true;
  }
  return false;
}

/** Picks a destination by weight; `random` returns [0, 1). */
export function pickTcpDestination(decision: TcpRouteDecision, random: () => number): TcpDestination {
  const d = decision.destinations;
  if (d.length === 1) return d[0];
  let pick = random() * decision.total;
  for (const x of d) {
    pick -= x.weight;
    if (pick < 0) return x;
  }
  return d[d.length - 1];
}

/**
 * Which service a captured TCP connection is for, and where it goes. The routing engine owns the
 * decision (lib/routing `routeTcp`: VirtualService `tcp` rules, L4 matches, weights); this
 * module only adds what the engine cannot know: a connection's original destination may be an
 * endpoint's own address (after a kube-proxy-style translation) rather than a service VIP, so
 * endpoint `address:targetPort` pairs are mapped back to their service port here, once per
 * snapshot.
 */
import { targetPortOf } from '../../../lib/routing/registry.js';
import { lookupHost } from '../../../lib/routing/route.js';
import type { RouteTable } from '../../../lib/routing/table.js';
import { routeTcp, TCP_PROTOCOLS, type TcpRouteDecision } from '../../../lib/routing/tcp.js';

export { TCP_PROTOCOLS, type TcpRouteDecision };

export interface ServicePortRef {
  host: string;
  port: number;
  protocol: string;
}

export class TcpRouteTable {
  /** `address:port` (VIP or endpoint, with the port a client connects to) → service port. */
  private readonly byAddress = new Map<string, ServicePortRef>();

  constructor(private readonly table: RouteTable) {
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
    }
  }

  /** The service port a captured connection's original destination names, if any. */
  serviceAt(address: string, port: number): ServicePortRef | undefined {
    return this.byAddress.get(`${address}:${port}`);
  }

  /** The service port a host name names (explicit listeners). */
  serviceNamed(host: string, port: number): ServicePortRef | undefined {
    const svc = lookupHost(this.table, host)?.service;
    const p = svc?.ports.find((x) => x.port === port);
    return svc && p ? { host: svc.host, port, protocol: p.protocol } : undefined;
  }

  /** True when connections to this service port are carried as TCP. */
  static isTcp(ref: ServicePortRef): boolean {
    return TCP_PROTOCOLS.has(ref.protocol);
  }

  /** The engine's decision for a connection to `ref` whose original destination IP is `address`. */
  decide(ref: ServicePortRef, address: string | undefined, random: () => number): TcpRouteDecision {
    return routeTcp(
      this.table,
      address === undefined
        ? { host: ref.host, port: ref.port }
        : { host: ref.host, port: ref.port, address },
      random,
    );
  }

  /** The engine's decision for a destination no service claims (passthrough or blackhole). */
  unknown(address: string, port: number): TcpRouteDecision {
    return routeTcp(this.table, { host: address, port, address });
  }
}

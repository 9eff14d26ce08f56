/**
 * The compiled route table's internal shape. A table is built once per snapshot for one proxy
 * (lib/routing/compile.ts) and read by `route()` (lib/routing/route.ts) for every request.
 */
import type { HTTPRedirect } from '../api/types.js';
import type { ProxyIdentity } from '../model.js';
import type { CompiledMatch } from './matchers.js';
import type { MeshSettings } from './mesh.js';
import type { ServiceInfo } from './registry.js';
import type { CompiledTcpRule } from './tcp.js';
import type { Cluster, RouteDecision } from './types.js';

/** One `http[]` rule of a VirtualService, for one port. */
export interface CompiledRule {
  index: number;
  name?: string;
  /** null: the rule has no `match` and matches every request. */
  matches: readonly CompiledMatch[] | null;
  /**
   * Precomputed decisions: `decisions[slot][d]` for match entry `slot` (0 when `matches` is
   * null) and destination `d`. Shared by every request that takes that path.
   */
  decisions: readonly (readonly RouteDecision[])[];
  /** Cumulative weights of the destinations, for the per-request split. */
  cumulative: readonly number[];
  total: number;
  /** Set for redirect rules: the Location is computed per request. */
  redirect?: HTTPRedirect;
}

/** The routes of one host on one port. */
export interface PortRoutes {
  port: number;
  /** Rules of the VirtualService, or null when no VirtualService applies. */
  rules: readonly CompiledRule[] | null;
  /** The decision when `rules` is null (all endpoints of the service) or when no rule matches (404 NR). */
  fallback: RouteDecision;
}

/** Everything routable under one host name. */
export interface VirtualHost {
  /** The FQDN or host pattern. */
  host: string;
  service?: ServiceInfo;
  /** `namespace/name` of the VirtualService, when one applies. */
  virtualService?: string;
  ports: ReadonlyMap<number, PortRoutes>;
  /** Routes for any other port (hosts that only a VirtualService names). */
  anyPort?: PortRoutes;
  /** The VirtualService's `tcp` rules per service port (see ./tcp.ts), when it has any. */
  tcp?: ReadonlyMap<number, readonly CompiledTcpRule[]>;
}

/** Two or more VirtualServices for one host: the first wins, the others are ignored. */
export interface VirtualServiceConflict {
  host: string;
  winner: string;
  ignored: string[];
}

/** A compiled route table for one proxy. Read-only after compilation. */
export interface RouteTable {
  readonly proxy: ProxyIdentity;
  readonly mesh: MeshSettings;
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** `namespace/name` of the Sidecar resource that scoped this proxy, if any. */
  readonly sidecar?: string;
  /** Every cluster the proxy may send to, by key. */
  readonly clusters: ReadonlyMap<string, Cluster>;
  /** Visible services by FQDN (or ServiceEntry host). */
  readonly services: ReadonlyMap<string, ServiceInfo>;
  /** Every name form a request may use (short name, `name.ns`, `name.ns.svc`, FQDN, with `:port`, VIPs). */
  readonly hosts: ReadonlyMap<string, VirtualHost>;
  /** Wildcard hosts, most specific first. */
  readonly wildcardHosts: readonly VirtualHost[];
  /** The decision for hosts the proxy does not know (passthrough or blackhole). */
  readonly unknownHost: RouteDecision;
  readonly conflicts: readonly VirtualServiceConflict[];
}

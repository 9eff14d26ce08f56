/**
 * The routing engine's contract: what a proxy passes in for each request and what it gets
 * back, plus the upstream clusters a route table knows. The sidecar, `tsmesh explain` and the
 * constructs' testing helper all read these shapes. Changes are additive only.
 *
 * Objects returned by `route()` and held in a `RouteTable` are shared between requests: treat
 * them as read-only.
 */
import type { ProxyIdentity } from '../model.js';
import type { CompiledCors } from './cors.js';

/** Facts about one HTTP request, after normalization (lib/normalize.ts). */
export interface RequestAttributes {
  /** Host header or `:authority` as received (port and case are handled by the engine). */
  authority: string;
  /**
   * The destination port: the original destination port for captured traffic, otherwise the
   * authority's port, otherwise 80 (443 for https).
   */
  port: number;
  /** Upper-case HTTP method. */
  method: string;
  /** The normalized path without query or fragment. */
  path: string;
  /** The raw query string without `?`; used for `queryParams` matches. */
  query?: string;
  /** Parsed query parameters (first value); computed from `query` when absent. */
  queryParams?: Readonly<Record<string, string | undefined>>;
  /** `http` or `https` (for `scheme` matches and redirects); default `http`. */
  scheme?: string;
  /** Request headers, names lower-case, the first value of each. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The client's address, when known. */
  sourceAddress?: string;
  /**
   * The calling workload. Informational: a route table is compiled for one proxy, so
   * `sourceLabels`/`sourceNamespace` were decided at compile time for that proxy.
   */
  caller?: ProxyIdentity;
}

/** What the proxy does with a request. */
export type RouteDecisionKind =
  /** Forward to `chosen` (after fault, with timeout, retries, mirror, rewrite, header edits). */
  | 'route'
  /** Answer with a redirect (`redirect`). */
  | 'redirect'
  /** Answer with `directResponse`. */
  | 'direct-response'
  /** A VirtualService owns the host but no rule matched: 404, response flag `NR`. */
  | 'no-route'
  /** Unknown host under `ALLOW_ANY`: forward to the original destination unchanged. */
  | 'passthrough'
  /** Unknown host under `REGISTRY_ONLY` (or not visible to this proxy): 502, flag `NR`. */
  | 'blackhole';

/** One weighted target of a route. */
export interface RouteDestination {
  /** Destination FQDN. */
  host: string;
  subset?: string;
  port: number;
  /** The weight as configured (1 for a lone destination without weight). */
  weight: number;
  /** weight / sum of weights, in 0..1. */
  probability: number;
  /** The cluster this destination sends to (see `Cluster.key`). */
  clusterKey: string;
  /** Destination-level header edits (already merged into the decision's `headers` when chosen). */
  headers?: HeaderEdits;
}

export interface HeaderOperationsResolved {
  /** Header name (lower-case) → value; replaces any existing value. */
  set: Readonly<Record<string, string>>;
  /** Header name (lower-case) → value; appended. */
  add: Readonly<Record<string, string>>;
  /** Header names (lower-case) removed. */
  remove: readonly string[];
}

/** Route-level and chosen destination-level header operations, merged (destination applied last). */
export interface HeaderEdits {
  request: HeaderOperationsResolved;
  response: HeaderOperationsResolved;
}

export interface RetryPolicy {
  /** Retries after the first try (0 = no retries). */
  attempts: number;
  /** Bound on each try in ms; null = only the route timeout applies. */
  perTryTimeoutMs: number | null;
  /** Envoy retry-on tokens (`5xx`, `gateway-error`, `connect-failure`, ...). */
  retryOn: ReadonlySet<string>;
  /** Status codes that are retried: bare codes in retryOn, plus 409 for `retriable-4xx`. */
  retriableStatusCodes: ReadonlySet<number>;
  /** Exponential backoff base in ms (default 25); the cap is 10× the base. */
  backoffBaseMs: number;
  /** Where the policy came from. */
  source: 'route' | 'mesh-default' | 'disabled';
}

export interface FaultPolicy {
  /** Fixed delay of `ms` for `percent` (0..100) of requests. */
  delay?: { ms: number; percent: number };
  /** Abort with HTTP `status` for `percent` (0..100) of requests. */
  abort?: { status: number; percent: number };
}

export interface MirrorPolicy {
  host: string;
  subset?: string;
  port: number;
  /** 0..100; 100 when the config sets no percentage. */
  percent: number;
  clusterKey: string;
}

export interface RewritePolicy {
  /** Replaces the matched prefix (prefix match) or the whole path (other matches). */
  uri?: string;
  authority?: string;
  /** RE2 regex rewrite of the path (`uriRegexRewrite`). */
  uriRegex?: { match: string; rewrite: string };
  /** The prefix the matching rule matched on, so `uri` can replace just that part. */
  matchedPrefix?: string;
}

export interface RedirectPolicy {
  /** HTTP status, default 301. */
  status: number;
  /** The Location header value for this request. */
  location: string;
  uri?: string;
  authority?: string;
  scheme?: string;
  port?: number;
}

export interface DirectResponsePolicy {
  status: number;
  body?: string;
}

/** The service a request was routed for. */
export interface ServiceRef {
  /** FQDN, e.g. `reviews.default.svc.cluster.local`. */
  host: string;
  /** Kubernetes namespace/name; absent for ServiceEntry hosts. */
  namespace?: string;
  name?: string;
  port: number;
}

/** The result of `route()`. */
export interface RouteDecision {
  kind: RouteDecisionKind;
  /** The service the authority resolved to; absent for passthrough/blackhole. */
  service?: ServiceRef;
  /** `namespace/name` of the VirtualService that decided, or undefined when none applies. */
  virtualService?: string;
  /** Index in `spec.http[]` of the rule that matched. */
  ruleIndex?: number;
  /** The rule's `name`, when it has one. */
  ruleName?: string;
  /** Index in the rule's `match[]` that matched (undefined for a rule without matches). */
  matchIndex?: number;
  /** Every weighted destination of the rule (zero weights dropped). */
  destinations: readonly RouteDestination[];
  /** The destination picked for this request (kind 'route'). */
  chosen?: RouteDestination;
  /** `chosen.clusterKey`. */
  clusterKey?: string;
  /** Route timeout in ms; null = none. */
  timeoutMs: number | null;
  retries: RetryPolicy;
  fault?: FaultPolicy;
  /** The first mirror (kept for convenience); `mirrors` holds them all. */
  mirror?: MirrorPolicy;
  mirrors: readonly MirrorPolicy[];
  rewrite?: RewritePolicy;
  redirect?: RedirectPolicy;
  directResponse?: DirectResponsePolicy;
  headers: HeaderEdits;
  /**
   * The rule's `corsPolicy` (kind 'route' only): the proxy evaluates it per request with
   * `cors.evaluate(...)` before fault injection (lib/routing/cors.ts).
   */
  cors?: CompiledCors;
  /** Envoy response flag the proxy logs for this decision (`NR`), when the decision implies one. */
  responseFlag?: string;
  /** A one-line explanation. */
  reason: string;
}

/** One upstream endpoint of a cluster. */
export interface ClusterEndpoint {
  address: string;
  /** The target port (the Service port's targetPort resolved by number or container port name). */
  port: number;
  /** A sidecar runs beside it. */
  meshed: boolean;
  /** Its SPIFFE id, when meshed. */
  identity?: string;
  labels: Readonly<Record<string, string>>;
  /** `namespace/pod`. */
  pod: string;
  /** Use mesh mTLS to reach it (from the cluster's tls mode and `meshed`). */
  mtls: boolean;
}

export type LoadBalancerKind = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'CONSISTENT_HASH' | 'PASSTHROUGH';

export interface LoadBalancerPolicy {
  kind: LoadBalancerKind;
  /** For CONSISTENT_HASH: what the hash is computed from. */
  hash?:
    | { header: string }
    | { cookie: string; path?: string; ttlMs?: number }
    | { sourceIp: true }
    | { queryParameter: string };
}

/** Limits; 4294967295 (2^32-1) is "unlimited", as in Envoy. */
export interface ConnectionPoolPolicy {
  maxConnections: number;
  connectTimeoutMs: number;
  http1MaxPendingRequests: number;
  http2MaxRequests: number;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  maxRetries: number;
  idleTimeoutMs: number | null;
}

export interface OutlierDetectionPolicy {
  consecutive5xxErrors: number;
  /** 0 = off. */
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

export interface ClusterTlsPolicy {
  /** AUTO: mesh mTLS to meshed endpoints, plaintext otherwise. */
  mode: 'AUTO' | 'ISTIO_MUTUAL' | 'DISABLE';
}

/** An upstream: one (service host, port, subset) as seen by the proxy the table was compiled for. */
export interface Cluster {
  /** `outbound|<port>|<subset>|<host>` (subset empty when none), as Envoy names it. */
  key: string;
  host: string;
  port: number;
  subset?: string;
  /**
   * `http`, `http2`, `grpc`, `tcp`, ... from the service port's appProtocol or name
   * (`http-web` → `http`); `auto` when neither declares one (the proxy sniffs the protocol).
   */
  protocol: string;
  /** Kubernetes namespace/name of the service, absent for ServiceEntry hosts. */
  service?: { namespace: string; name: string };
  endpoints: readonly ClusterEndpoint[];
  /** SPIFFE ids a server of this cluster may present (registered workloads of the service). */
  serverIdentities: readonly string[];
  loadBalancer: LoadBalancerPolicy;
  connectionPool: ConnectionPoolPolicy;
  /** Undefined unless a DestinationRule sets outlierDetection. */
  outlierDetection?: OutlierDetectionPolicy;
  tls: ClusterTlsPolicy;
  /** `namespace/name` of the DestinationRule that applied, if any. */
  destinationRule?: string;
}

/** Alias of the routing engine's RouteDestination, unambiguous next to the Istio API's shape. */
export type WeightedDestination = RouteDestination;

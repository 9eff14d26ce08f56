/**
 * Turns the config's policy blocks (retries, fault, headers, DestinationRule traffic policies)
 * into the resolved, defaulted shapes of ./types.ts. Pure and run once per compile.
 */
import { parseDuration } from '../api/duration.js';
import type {
  ConnectionPoolSettings,
  Headers,
  HTTPFaultInjection,
  HTTPRetry,
  LoadBalancerSettings,
  OutlierDetection,
  TrafficPolicy,
} from '../api/types.js';
import type {
  ClusterTlsPolicy,
  ConnectionPoolPolicy,
  FaultPolicy,
  HeaderEdits,
  HeaderOperationsResolved,
  LoadBalancerPolicy,
  OutlierDetectionPolicy,
  RetryPolicy,
} from './types.js';

export const DEFAULT_BACKOFF_BASE_MS = 25;
/** Envoy's "unlimited" for circuit-breaker thresholds. */
export const UNLIMITED = 4294967295;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled';

/** A route's retry policy; `retries` undefined means the mesh default applies. */
export function resolveRetries(retries: HTTPRetry | undefined, meshDefault: HTTPRetry): RetryPolicy {
  if (retries === undefined) return buildRetry(meshDefault, 'mesh-default');
  return buildRetry(retries, 'route');
}

function buildRetry(r: HTTPRetry, source: 'route' | 'mesh-default'): RetryPolicy {
  const attempts = r.attempts ?? 0;
  if (attempts <= 0) return disabledRetry();
  const retryOn = new Set<string>();
  const codes = new Set<number>();
  for (const raw of (r.retryOn ?? DEFAULT_RETRY_ON).split(',')) {
    const token = raw.trim();
    if (token === '') continue;
    if (/^[0-9]{3}$/.test(token)) {
      codes.add(Number(token));
      retryOn.add('retriable-status-codes');
    } else {
      retryOn.add(token);
      if (token === 'retriable-4xx') codes.add(409);
    }
  }
  return {
    attempts,
    perTryTimeoutMs: r.perTryTimeout === undefined ? null : zeroToNull(parseDuration(r.perTryTimeout)),
    retryOn,
    retriableStatusCodes: codes,
    backoffBaseMs: r.backoff === undefined ? DEFAULT_BACKOFF_BASE_MS : parseDuration(r.backoff),
    source,
  };
}

export function disabledRetry(): RetryPolicy {
  return {
    attempts: 0,
    perTryTimeoutMs: null,
    retryOn: new Set(),
    retriableStatusCodes: new Set(),
    backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
    source: 'disabled',
  };
}

function zeroToNull(ms: number): number | null {
  return ms === 0 ? null : ms;
}

/** A route timeout: undefined → the mesh default; `0s` → none. */
export function resolveTimeout(timeout: string | undefined, meshDefaultMs: number | null): number | null {
  if (timeout === undefined) return meshDefaultMs;
  return zeroToNull(parseDuration(timeout));
}

/** Fault injection; a fault without a percentage affects no request (as in Istio). */
export function resolveFault(fault: HTTPFaultInjection | undefined): FaultPolicy | undefined {
  if (!fault) return undefined;
  const out: FaultPolicy = {};
  if (fault.delay) {
    const ms = fault.delay.fixedDelay === undefined ? 0 : parseDuration(fault.delay.fixedDelay);
    const percent = fault.delay.percentage?.value ?? fault.delay.percent ?? 0;
    out.delay = { ms, percent };
  }
  if (fault.abort?.httpStatus !== undefined) {
    out.abort = { status: fault.abort.httpStatus, percent: fault.abort.percentage?.value ?? 0 };
  }
  return out.delay || out.abort ? out : undefined;
}

const EMPTY_OPS: HeaderOperationsResolved = Object.freeze({
  set: Object.freeze({}),
  add: Object.freeze({}),
  remove: Object.freeze([]) as readonly string[],
});

export const NO_HEADER_EDITS: HeaderEdits = Object.freeze({ request: EMPTY_OPS, response: EMPTY_OPS });

function lowerKeys(r: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (r) for (const [k, v] of Object.entries(r)) out[k.toLowerCase()] = v;
  return out;
}

/** Resolves a `headers` block; undefined when it edits nothing. */
export function resolveHeaders(h: Headers | undefined): HeaderEdits | undefined {
  if (!h || (!h.request && !h.response)) return undefined;
  const ops = (o: Headers['request']): HeaderOperationsResolved =>
    o
      ? { set: lowerKeys(o.set), add: lowerKeys(o.add), remove: (o.remove ?? []).map((n) => n.toLowerCase()) }
      : EMPTY_OPS;
  return { request: ops(h.request), response: ops(h.response) };
}

/** Route-level edits, then the destination's (destination wins on `set`/`add` conflicts). */
export function mergeHeaderEdits(route: HeaderEdits | undefined, dest: HeaderEdits | undefined): HeaderEdits {
  if (!route && !dest) return NO_HEADER_EDITS;
  if (!dest) return route!;
  if (!route) return dest;
  const merge = (a: HeaderOperationsResolved, b: HeaderOperationsResolved): HeaderOperationsResolved => ({
    set: { ...a.set, ...b.set },
    add: { ...a.add, ...b.add },
    remove: [...a.remove, ...b.remove],
  });
  return { request: merge(route.request, dest.request), response: merge(route.response, dest.response) };
}

/**
 * The sections of a traffic policy that apply to one port: the top level, with each section the
 * matching `portLevelSettings` entry sets replacing the top-level one wholesale.
 */
export function policyForPort(policy: TrafficPolicy | undefined, port: number): TrafficPolicy {
  if (!policy) return {};
  const out: TrafficPolicy = {
    loadBalancer: policy.loadBalancer,
    connectionPool: policy.connectionPool,
    outlierDetection: policy.outlierDetection,
    tls: policy.tls,
  };
  const level = policy.portLevelSettings?.find((p) => p.port?.number === port);
  if (level) {
    if (level.loadBalancer) out.loadBalancer = level.loadBalancer;
    if (level.connectionPool) out.connectionPool = level.connectionPool;
    if (level.outlierDetection) out.outlierDetection = level.outlierDetection;
    if (level.tls) out.tls = level.tls;
  }
  return out;
}

/**
 * A subset's policy over the DestinationRule's: every section the subset sets (at its top level
 * or for this port) replaces the inherited one wholesale; the others are inherited.
 */
export function mergeSubsetPolicy(
  top: TrafficPolicy | undefined,
  subset: TrafficPolicy | undefined,
  port: number,
): TrafficPolicy {
  const base = policyForPort(top, port);
  if (!subset) return base;
  const own = policyForPort(subset, port);
  return {
    loadBalancer: own.loadBalancer ?? base.loadBalancer,
    connectionPool: own.connectionPool ?? base.connectionPool,
    outlierDetection: own.outlierDetection ?? base.outlierDetection,
    tls: own.tls ?? base.tls,
  };
}

export function resolveLoadBalancer(lb: LoadBalancerSettings | undefined): LoadBalancerPolicy {
  if (!lb) return { kind: 'LEAST_REQUEST' };
  const ch = lb.consistentHash;
  if (ch) {
    if (ch.httpHeaderName)
      return { kind: 'CONSISTENT_HASH', hash: { header: ch.httpHeaderName.toLowerCase() } };
    if (ch.httpCookie) {
      const hash: { cookie: string; path?: string; ttlMs?: number } = { cookie: ch.httpCookie.name };
      if (ch.httpCookie.path !== undefined) hash.path = ch.httpCookie.path;
      if (ch.httpCookie.ttl !== undefined) hash.ttlMs = parseDuration(ch.httpCookie.ttl);
      return { kind: 'CONSISTENT_HASH', hash };
    }
    if (ch.useSourceIp) return { kind: 'CONSISTENT_HASH', hash: { sourceIp: true } };
    if (ch.httpQueryParameterName) {
      return { kind: 'CONSISTENT_HASH', hash: { queryParameter: ch.httpQueryParameterName } };
    }
  }
  switch (lb.simple) {
    case 'ROUND_ROBIN':
      return { kind: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { kind: 'RANDOM' };
    case 'PASSTHROUGH':
      return { kind: 'PASSTHROUGH' };
    default:
      // LEAST_CONN is the deprecated name of LEAST_REQUEST; UNSPECIFIED is the default.
      return { kind: 'LEAST_REQUEST' };
  }
}

/** A limit of the connection pool: unset and 0 both mean unlimited, as in Istio. */
function limit(value: number | undefined): number {
  return value === undefined || value === 0 ? UNLIMITED : value;
}

export function resolveConnectionPool(cp: ConnectionPoolSettings | undefined): ConnectionPoolPolicy {
  const http = cp?.http;
  const tcp = cp?.tcp;
  const idle = http?.idleTimeout ?? tcp?.idleTimeout;
  return {
    maxConnections: limit(tcp?.maxConnections),
    connectTimeoutMs:
      tcp?.connectTimeout === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : parseDuration(tcp.connectTimeout),
    http1MaxPendingRequests: limit(http?.http1MaxPendingRequests),
    http2MaxRequests: limit(http?.http2MaxRequests),
    maxRequestsPerConnection: http?.maxRequestsPerConnection ?? 0,
    maxRetries: limit(http?.maxRetries),
    idleTimeoutMs: idle === undefined ? null : zeroToNull(parseDuration(idle)),
  };
}

export function resolveOutlierDetection(
  od: OutlierDetection | undefined,
): OutlierDetectionPolicy | undefined {
  if (!od) return undefined;
  return {
    consecutive5xxErrors: od.consecutive5xxErrors ?? od.consecutiveErrors ?? 5,
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? 0,
    intervalMs: od.interval === undefined ? 10_000 : parseDuration(od.interval),
    baseEjectionTimeMs: od.baseEjectionTime === undefined ? 30_000 : parseDuration(od.baseEjectionTime),
    maxEjectionPercent: od.maxEjectionPercent ?? 10,
    minHealthPercent: od.minHealthPercent ?? 0,
  };
}

export function resolveTls(tls: TrafficPolicy['tls']): ClusterTlsPolicy {
  if (tls?.mode === 'DISABLE') return { mode: 'DISABLE' };
  if (tls?.mode === 'ISTIO_MUTUAL') return { mode: 'ISTIO_MUTUAL' };
  return { mode: 'AUTO' };
}

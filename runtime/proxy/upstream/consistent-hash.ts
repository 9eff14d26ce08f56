/**
 * Consistent-hash load balancing (DestinationRule `loadBalancer.consistentHash`): a hash ring
 * (like Envoy's ring hash, Istio's default) over the candidate endpoints. Each endpoint owns a
 * fixed number of points on a 32-bit ring derived from its `address:port`; a request's key goes to the
 * endpoint owning the first point at or after the key's hash. When endpoints come or go, only
 * the keys on the points that appeared or vanished move; every other key stays where it was.
 *
 * The hash key comes from the request: a header, a cookie (generated and set on the response
 * when absent and a `ttl` is configured, so the client sticks from then on), the client's source
 * IP, or a query parameter. A request without the key is balanced at random, as in Envoy.
 */
import { randomBytes } from 'node:crypto';
import type { HeaderOperationsResolved, LoadBalancerPolicy } from '../../../lib/routing/types.js';
import type { BalancedEndpoint, Balancer, PickContext } from './balancer.js';

/**
 * Points per endpoint. Fixed, not derived from the endpoint count, so an endpoint joining or
 * leaving never moves the points of the others (and so never moves their keys).
 */
export const POINTS_PER_ENDPOINT = 160;
/** Rings kept per balancer (one per distinct candidate set: all healthy, minus a tried one...). */
const MAX_CACHED_RINGS = 16;

/** 32-bit FNV-1a with a murmur3 finalizer (well mixed, fast, no allocation). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Ring {
  /** Sorted point hashes. */
  points: Uint32Array;
  /** owners[i]: index into the candidate list of the endpoint owning points[i]. */
  owners: Uint16Array;
}

function endpointId(e: BalancedEndpoint): string {
  const hp = (e as { hostPort?: unknown }).hostPort;
  if (typeof hp === 'string') return hp;
  const key = (e as { key?: unknown }).key;
  return typeof key === 'string' ? key : String(e);
}

/** Builds the ring for a list of endpoint ids. */
export function buildRing(ids: readonly string[], perHost = POINTS_PER_ENDPOINT): Ring {
  const entries: [number, number][] = [];
  ids.forEach((id, owner) => {
    for (let i = 0; i < perHost; i++) entries.push([hash32(`${id}_${i}`), owner]);
  });
  // Ties (rare) are broken by id so the ring does not depend on candidate order.
  entries.sort((a, b) => a[0] - b[0] || (ids[a[1]] < ids[b[1]] ? -1 : 1));
  const points = new Uint32Array(entries.length);
  const owners = new Uint16Array(entries.length);
  entries.forEach(([p, o], i) => {
    points[i] = p;
    owners[i] = o;
  });
  return { points, owners };
}

/** The owner index for `hash`: the first point at or after it, wrapping around. */
export function lookupRing(ring: Ring, hash: number): number {
  const pts = ring.points;
  let lo = 0;
  let hi = pts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pts[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return ring.owners[lo === pts.length ? 0 : lo];
}

export class RingHashBalancer implements Balancer {
  private readonly rings = new Map<string, Ring>();

  constructor(private readonly pointsPerEndpoint = POINTS_PER_ENDPOINT) {}

  pick<E extends BalancedEndpoint>(candidates: readonly E[], ctx: PickContext): E | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    if (ctx.hashKey === undefined) return candidates[Math.floor(ctx.random() * n)];
    const ids = candidates.map(endpointId);
    const signature = ids.join('\n');
    let ring = this.rings.get(signature);
    if (!ring) {
      if (this.rings.size >= MAX_CACHED_RINGS) this.rings.clear();
      ring = buildRing(ids, this.pointsPerEndpoint);
      this.rings.set(signature, ring);
    }
    return candidates[lookupRing(ring, hash32(ctx.hashKey))];
  }
}

/** What the hash key can be taken from. */
export interface HashSource {
  headers: Readonly<Record<string, string | undefined>>;
  sourceAddress?: string;
  /** Raw query without `?`. */
  query?: string;
}

export interface HashKey {
  /** undefined: the request carries no key (balanced at random). */
  key?: string;
  /** Response header edits that set a generated cookie. */
  responseEdits?: HeaderOperationsResolved;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function queryValue(query: string | undefined, name: string): string | undefined {
  if (!query) return undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (k === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

/** The hash key of a request under a CONSISTENT_HASH policy (undefined for other policies). */
export function hashKeyFor(policy: LoadBalancerPolicy, req: HashSource): HashKey {
  const h = policy.kind === 'CONSISTENT_HASH' ? policy.hash : undefined;
  if (!h) return {};
  if ('header' in h) {
    const v = req.headers[h.header];
    return v === undefined ? {} : { key: v };
  }
  if ('queryParameter' in h) {
    const v = queryValue(req.query, h.queryParameter);
    return v === undefined ? {} : { key: v };
  }
  if ('sourceIp' in h) return req.sourceAddress ? { key: req.sourceAddress } : {};
  const existing = cookieValue(req.headers.cookie, h.cookie);
  if (existing !== undefined) return { key: existing };
  if (h.ttlMs === undefined) return {};
  // No cookie yet: make one, hash on it, and ask the client to keep it.
  const value = randomBytes(8).toString('hex');
  const attrs = [`${h.cookie}="${value}"`];
  if (h.path) attrs.push(`Path=${h.path}`);
  if (h.ttlMs > 0) attrs.push(`Max-Age=${Math.floor(h.ttlMs / 1000)}`);
  attrs.push('HttpOnly');
  return {
    key: `"${value}"`,
    responseEdits: { set: {}, add: { 'set-cookie': attrs.join('; ') }, remove: [] },
  };
}

/** Merges the generated-cookie edit into a route's response edits. */
export function withCookieEdit(
  edits: HeaderOperationsResolved | undefined,
  extra: HeaderOperationsResolved | undefined,
): HeaderOperationsResolved | undefined {
  if (!extra) return edits;
  if (!edits) return extra;
  return { set: edits.set, remove: edits.remove, add: { ...edits.add, ...extra.add } };
}

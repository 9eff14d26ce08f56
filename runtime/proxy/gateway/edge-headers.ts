/**
 * The headers an edge proxy sets on a request from outside the mesh. The gateway is the first
 * hop the mesh trusts, so what the client says about itself is not believed: mesh-internal
 * headers (`x-forwarded-client-cert`, `x-envoy-*`, `x-tsmesh-*`) were already dropped by the
 * header filter, and the forwarded facts are set from the connection itself.
 */
import { getHeader, removeHeader } from '../hygiene.js';

export const EDGE_HEADERS = {
  forwardedFor: 'x-forwarded-for',
  forwardedProto: 'x-forwarded-proto',
  forwardedHost: 'x-forwarded-host',
  externalAddress: 'x-envoy-external-address',
} as const;

export interface EdgeFacts {
  /** The client's address as the gateway's socket sees it. */
  clientAddress: string | undefined;
  /** `http` or `https`: how the client reached the gateway. */
  scheme: 'http' | 'https';
  /** The Host header (or absolute-form authority) as the client sent it. */
  authority: string;
}

/**
 * Edits a filtered flat header list in place:
 * - `x-forwarded-for`: the client's address appended to what the client sent (as Envoy does;
 *   the last entry is the one the gateway vouches for);
 * - `x-envoy-external-address`: the client's address, replacing anything sent;
 * - `x-forwarded-proto`: the scheme of the gateway listener, replacing anything sent;
 * - `x-forwarded-host`: the authority the client asked for, replacing anything sent.
 */
export function applyEdgeHeaders(list: string[], facts: EdgeFacts): void {
  const client = facts.clientAddress ? plainAddress(facts.clientAddress) : undefined;
  if (client) {
    const prior = getHeader(list, EDGE_HEADERS.forwardedFor);
    removeHeader(list, EDGE_HEADERS.forwardedFor);
    list.push(EDGE_HEADERS.forwardedFor, prior && prior.trim() !== '' ? `${prior}, ${client}` : client);
    removeHeader(list, EDGE_HEADERS.externalAddress);
    list.push(EDGE_HEADERS.externalAddress, client);
  }
  removeHeader(list, EDGE_HEADERS.forwardedProto);
  list.push(EDGE_HEADERS.forwardedProto, facts.scheme);
  removeHeader(list, EDGE_HEADERS.forwardedHost);
  list.push(EDGE_HEADERS.forwardedHost, facts.authority);
}

/** `::ffff:10.0.0.1` → `10.0.0.1` (an IPv4 client on a dual-stack socket). */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * SPIFFE identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, the one URI
 * SAN of every workload certificate, and the scheme-less principal AuthorizationPolicy writes.
 */

export interface SpiffeParts {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const SCHEME = 'spiffe://';
const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/;

/** Formats an identity; throws when a part is not a valid DNS-style name. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!TRUST_DOMAIN.test(trustDomain)) throw new Error(`invalid trust domain '${trustDomain}'`);
  if (!SEGMENT.test(namespace)) throw new Error(`invalid namespace '${namespace}' in SPIFFE id`);
  if (!SEGMENT.test(serviceAccount))
    throw new Error(`invalid service account '${serviceAccount}' in SPIFFE id`);
  return `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * Parses `spiffe://td/ns/X/sa/Y` and nothing else: no query, fragment, port, user info, percent
 * encoding, extra or empty segments. Returns undefined for anything else.
 */
export function parseSpiffeId(uri: string): SpiffeParts | undefined {
  if (typeof uri !== 'string' || !uri.startsWith(SCHEME)) return undefined;
  const parts = uri.slice(SCHEME.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const [trustDomain, , namespace, , serviceAccount] = parts;
  if (!TRUST_DOMAIN.test(trustDomain) || !SEGMENT.test(namespace) || !SEGMENT.test(serviceAccount)) {
    return undefined;
  }
  return { trustDomain, namespace, serviceAccount };
}

/** The principal as AuthorizationPolicy writes it: the SPIFFE id without `spiffe://`. */
export function principalOf(id: string): string {
  return id.startsWith(SCHEME) ? id.slice(SCHEME.length) : id;
}

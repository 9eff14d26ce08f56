/**
 * Host names: how config objects name services, how requests name them, and Istio's wildcard
 * matching between the two. Every comparison is on lower-case names without a trailing dot.
 */

export const DEFAULT_DOMAIN = 'cluster.local';

function clean(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * The FQDN a host written in a config object stands for. Short names resolve in the object's
 * namespace (`reviews` in `default` → `reviews.default.svc.cluster.local`), `name.ns` becomes
 * `name.ns.svc.cluster.local`, `name.ns.svc` gets the domain appended; names with more labels
 * (FQDNs, external hosts such as `httpbin.org` with a ServiceEntry) and wildcards stay as written.
 */
export function resolveConfigHost(host: string, objectNamespace: string, domain = DEFAULT_DOMAIN): string {
  const h = clean(host);
  if (h === '*' || h.startsWith('*')) return h;
  const labels = h.split('.');
  if (labels.length === 1) return `${h}.${objectNamespace}.svc.${domain}`;
  if (h.endsWith(`.svc.${domain}`) || h.endsWith(`.${domain}`)) return h;
  if (labels.length === 2) return `${h}.svc.${domain}`;
  if (labels.length === 3 && labels[2] === 'svc') return `${h}.${domain}`;
  return h;
}

/** The parts of a Host header or `:authority`: host lower-cased without trailing dot or port. */
export function parseAuthority(authority: string): { host: string; port?: number } {
  const a = authority.trim();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end > 0) {
      const host = a.slice(1, end).toLowerCase();
      const rest = a.slice(end + 1);
      const port = rest.startsWith(':') ? toPort(rest.slice(1)) : undefined;
      return port === undefined ? { host } : { host, port };
    }
  }
  const colon = a.lastIndexOf(':');
  // More than one colon without brackets: a bare IPv6 address, no port.
  if (colon >= 0 && a.indexOf(':') === colon) {
    const port = toPort(a.slice(colon + 1));
    const host = clean(a.slice(0, colon));
    return port === undefined ? { host } : { host, port };
  }
  return { host: clean(a) };
}

function toPort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * The FQDNs a request's host can mean when the caller runs in `callerNamespace`, in the order a
 * pod's resolver tries them (search path `<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`, then the
 * name as written): `reviews` from `foo` → `reviews.foo.svc.cluster.local`; `reviews.default`,
 * `reviews.default.svc` and the FQDN all reach `reviews.default.svc.cluster.local`.
 */
export function authorityCandidates(
  host: string,
  callerNamespace: string,
  domain = DEFAULT_DOMAIN,
): string[] {
  const h = clean(host);
  if (h === '' || h.endsWith(`.${domain}`) || isIpAddress(h)) return [h];
  const out = [`${h}.${callerNamespace}.svc.${domain}`, `${h}.svc.${domain}`, `${h}.${domain}`, h];
  return out;
}

/** True for dotted IPv4 and for IPv6 literals (which contain a colon). */
export function isIpAddress(host: string): boolean {
  return host.includes(':') || /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(host);
}

/**
 * Istio's host matching: `*` matches every host; `*.example.com` matches any name ending in
 * `.example.com` (one or more labels in front, not `example.com` itself); otherwise the names
 * must be equal. Case-insensitive; a trailing dot is ignored.
 */
export function hostMatches(pattern: string, host: string): boolean {
  const p = clean(pattern);
  const h = clean(host);
  if (p === '*') return true;
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return h.length > suffix.length && h.endsWith(suffix);
  }
  return p === h;
}

/** The service name and namespace of a Kubernetes service FQDN, or undefined for other hosts. */
export function serviceOfHost(
  fqdn: string,
  domain = DEFAULT_DOMAIN,
): { name: string; namespace: string } | undefined {
  const suffix = `.svc.${domain}`;
  if (!fqdn.endsWith(suffix)) return undefined;
  const parts = fqdn.slice(0, -suffix.length).split('.');
  if (parts.length !== 2) return undefined;
  return { name: parts[0], namespace: parts[1] };
}

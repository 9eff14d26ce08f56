/**
 * What a proxy can see: the Sidecar resource that applies to it (egress hosts and outbound
 * traffic policy) and, for gateway proxies, the Gateways that select it.
 */
import type { Gateway, MeshObject, Sidecar } from '../api/types.js';
import { hostMatches } from '../hosts.js';
import type { ProxyIdentity } from '../model.js';
import type { MeshSettings } from './mesh.js';
import { labelsMatch, namespaceOf, nsName, ofKind, oldestFirst, selectorLabels } from './objects.js';

export interface ProxyScope {
  /** `namespace/name` of the Sidecar resource that applies, if any. */
  sidecar?: string;
  /** True when an object of `namespace` for `host` is within the proxy's egress hosts. */
  sees(namespace: string, host: string): boolean;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

/**
 * The Sidecar for a proxy: one with a matching workloadSelector in its namespace (oldest),
 * else its namespace's selector-less one, else the root namespace's selector-less one.
 */
export function sidecarFor(
  objects: readonly MeshObject[],
  proxy: ProxyIdentity,
  mesh: MeshSettings,
): Sidecar | undefined {
  const sidecars = oldestFirst(ofKind(objects, 'Sidecar'));
  const own = sidecars.filter((s) => namespaceOf(s) === proxy.namespace);
  const selected = own.find((s) => {
    const labels = selectorLabels(s.spec?.workloadSelector);
    return labels !== undefined && Object.keys(labels).length > 0 && labelsMatch(labels, proxy.labels);
  });
  if (selected) return selected;
  const nsDefault = own.find((s) => !s.spec?.workloadSelector);
  if (nsDefault) return nsDefault;
  for (const root of mesh.rootNamespaces) {
    const r = sidecars.find((s) => namespaceOf(s) === root && !s.spec?.workloadSelector);
    if (r) return r;
  }
  return undefined;
}

export function proxyScope(
  objects: readonly MeshObject[],
  proxy: ProxyIdentity,
  mesh: MeshSettings,
): ProxyScope {
  const sidecar = proxy.mode === 'gateway' ? undefined : sidecarFor(objects, proxy, mesh);
  const outboundTrafficPolicy = sidecar?.spec?.outboundTrafficPolicy?.mode ?? mesh.outboundTrafficPolicy;
  const egress = sidecar?.spec?.egress;
  if (!sidecar || !egress || egress.length === 0) {
    return { sees: () => true, outboundTrafficPolicy, ...(sidecar ? { sidecar: nsName(sidecar) } : {}) };
  }
  const sidecarNs = namespaceOf(sidecar);
  const entries: { ns: string; host: string }[] = [];
  for (const listener of egress) {
    for (const h of listener.hosts ?? []) {
      const slash = h.indexOf('/');
      if (slash < 0) entries.push({ ns: '*', host: h.toLowerCase() });
      else entries.push({ ns: h.slice(0, slash), host: h.slice(slash + 1).toLowerCase() });
    }
  }
  return {
    sidecar: nsName(sidecar),
    outboundTrafficPolicy,
    sees(namespace: string, host: string): boolean {
      for (const e of entries) {
        if (e.ns === '~') continue;
        const nsOk = e.ns === '*' || e.ns === namespace || (e.ns === '.' && namespace === sidecarNs);
        if (nsOk && hostMatches(e.host, host)) return true;
      }
      return false;
    },
  };
}

/** The Gateways whose selector matches a gateway proxy's labels, as `namespace/name`. */
export function gatewaysFor(objects: readonly MeshObject[], proxy: ProxyIdentity): Gateway[] {
  if (proxy.mode !== 'gateway') return [];
  return ofKind(objects, 'Gateway').filter((g) => {
    const selector = g.spec?.selector;
    return selector !== undefined && Object.keys(selector).length > 0 && labelsMatch(selector, proxy.labels);
  });
}

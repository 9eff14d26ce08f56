/**
 * Per-proxy snapshots, as a function of (config objects, registered workloads, proxy identity).
 * A proxy receives what its workload can reach: everything visible to its namespace by
 * `exportTo`, narrowed to its Sidecar's egress hosts when one applies, plus the policies that
 * can select it. Proxies with the same scope share one serialization of objects and workloads;
 * only the proxy identity differs, so a push to many proxies costs little more than one.
 * Deployments and ServiceAccounts stay out: a proxy learns endpoints from registered workloads.
 */
import { createHash } from 'node:crypto';
import type { MeshObject, Service, Sidecar } from '../../lib/api/types.js';
import { DEFAULT_ROOT_NAMESPACE, DEFAULT_TRUST_DOMAIN, ISTIO_ROOT_NAMESPACE } from '../../lib/constants.js';
import { hostMatches, resolveConfigHost } from '../../lib/hosts.js';
import type { ProxyIdentity, WorkloadInstance } from '../../lib/model.js';
import { canonicalJson, hashCanonicalParts } from '../../lib/protocol/canonical.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';

const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/** The shared part of the snapshots of every proxy with one scope. */
export interface ScopedContent {
  key: string;
  objects: MeshObject[];
  workloads: WorkloadInstance[];
  objectsJson: string;
  workloadsJson: string;
  /** sha256 of both parts: tells cheaply whether a proxy's content changed. */
  contentHash: string;
}

export interface BuiltSnapshot {
  hash: string;
  /** Canonical JSON of the proxy identity. */
  proxyJson: string;
  content: ScopedContent;
}

export interface MeshFacts {
  rootNamespaces: string[];
  trustDomain: string;
}

const nsOf = (o: { metadata: { namespace?: string } }): string => o.metadata.namespace ?? 'default';

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function exportedTo(exportTo: readonly string[] | undefined, objectNs: string, proxyNs: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === proxyNs || (e === '.' && objectNs === proxyNs));
}

function serviceExportTo(svc: Service): string[] | undefined {
  const value = svc.metadata.annotations?.[EXPORT_TO_ANNOTATION];
  return value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function meshFacts(objects: readonly MeshObject[], trustDomainOverride?: string): MeshFacts {
  const mesh = objects.find((o) => o.kind === 'MeshConfig');
  const spec = (mesh?.spec ?? {}) as { rootNamespace?: string; trustDomain?: string };
  const root = spec.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  return {
    rootNamespaces: root === ISTIO_ROOT_NAMESPACE ? [root] : [root, ISTIO_ROOT_NAMESPACE],
    trustDomain: trustDomainOverride ?? spec.trustDomain ?? DEFAULT_TRUST_DOMAIN,
  };
}

/** Compiles snapshots for one (objects, workloads) generation; caches per scope. */
export class SnapshotBuilder {
  private readonly scopes = new Map<string, ScopedContent>();
  private readonly sidecars: Sidecar[];
  readonly facts: MeshFacts;

  constructor(
    private readonly objects: readonly MeshObject[],
    private readonly workloads: readonly WorkloadInstance[],
    trustDomainOverride?: string,
    /** Serializations of config objects and workload instances, kept while they are unchanged. */
    private readonly jsonCache: WeakMap<object, string> = new WeakMap(),
  ) {
    this.facts = meshFacts(objects, trustDomainOverride);
    this.sidecars = objects
      .filter((o): o is Sidecar => o.kind === 'Sidecar')
      .sort(
        (a, b) =>
          cmp(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') ||
          cmp(nsOf(a) + a.metadata.name, nsOf(b) + b.metadata.name),
      );
  }

  build(proxy: ProxyIdentity): BuiltSnapshot {
    const sidecar = proxy.mode === 'gateway' ? undefined : this.sidecarFor(proxy);
    const scopeKey = `${proxy.mode ?? 'sidecar'}|${proxy.namespace}|${sidecar ? `${nsOf(sidecar)}/${sidecar.metadata.name}` : ''}`;
    let content = this.scopes.get(scopeKey);
    if (!content) {
      content = this.compileScope(scopeKey, proxy, sidecar);
      this.scopes.set(scopeKey, content);
    }
    const proxyJson = canonicalJson(proxy);
    return {
      hash: hashCanonicalParts(content.objectsJson, proxyJson, content.workloadsJson),
      proxyJson,
      content,
    };
  }

  /** The ProxySnapshot body as JSON, assembled from the cached canonical parts. */
  static bodyJson(built: BuiltSnapshot, version: number, createdAt: string): string {
    return (
      `{"schema":${JSON.stringify(SNAPSHOT_SCHEMA)},"version":${version},"hash":"${built.hash}",` +
      `"proxy":${built.proxyJson},"objects":${built.content.objectsJson},` +
      `"workloads":${built.content.workloadsJson},"createdAt":"${createdAt}"}`
    );
  }

  /** Canonical JSON of a list, reusing each element's serialization across generations. */
  private listJson(items: readonly object[]): string {
    const parts = items.map((item) => {
      let json = this.jsonCache.get(item);
      if (json === undefined) {
        json = canonicalJson(item);
        this.jsonCache.set(item, json);
      }
      return json;
    });
    return `[${parts.join(',')}]`;
  }

  private sidecarFor(proxy: ProxyIdentity): Sidecar | undefined {
    const own = this.sidecars.filter((s) => nsOf(s) === proxy.namespace);
    const selected = own.find(
      (s) =>
        s.spec?.workloadSelector?.matchLabels &&
        labelsMatch(s.spec.workloadSelector.matchLabels, proxy.labels),
    );
    if (selected) return selected;
    const nsDefault = own.find((s) => !s.spec?.workloadSelector);
    if (nsDefault) return nsDefault;
    for (const root of this.facts.rootNamespaces) {
      const r = this.sidecars.find((s) => nsOf(s) === root && !s.spec?.workloadSelector);
      if (r) return r;
    }
    return undefined;
  }

  private compileScope(key: string, proxy: ProxyIdentity, sidecar: Sidecar | undefined): ScopedContent {
    const sees = egressFilter(sidecar);
    const ns = proxy.namespace;
    const roots = this.facts.rootNamespaces;
    const visible: MeshObject[] = [];
    const services: Service[] = [];
    const entrySelectors: { ns: string; labels: Record<string, string> }[] = [];
    for (const obj of this.objects) {
      const objNs = nsOf(obj);
      switch (obj.kind) {
        case 'MeshConfig':
        case 'Namespace':
        case 'Gateway':
        case 'PeerAuthentication':
          visible.push(obj);
          break;
        case 'Sidecar':
        case 'AuthorizationPolicy':
          if (objNs === ns || roots.includes(objNs)) visible.push(obj);
          break;
        case 'Deployment':
        case 'ServiceAccount':
          break;
        case 'Service': {
          const fqdn = `${obj.metadata.name}.${objNs}.svc.${this.facts.trustDomain}`;
          if (exportedTo(serviceExportTo(obj), objNs, ns) && sees(objNs, fqdn)) {
            visible.push(obj);
            services.push(obj);
          }
          break;
        }
        case 'ServiceEntry': {
          const hosts = obj.spec?.hosts ?? [];
          if (exportedTo(obj.spec?.exportTo, objNs, ns) && hosts.some((h) => sees(objNs, h))) {
            visible.push(obj);
            const sel = obj.spec?.workloadSelector?.matchLabels;
            if (sel) entrySelectors.push({ ns: objNs, labels: sel });
          }
          break;
        }
        case 'VirtualService': {
          const hosts = (obj.spec?.hosts ?? []).map((h) =>
            resolveConfigHost(h, objNs, this.facts.trustDomain),
          );
          if (exportedTo(obj.spec?.exportTo, objNs, ns) && hosts.some((h) => sees(objNs, h)))
            visible.push(obj);
          break;
        }
        case 'DestinationRule': {
          const host = resolveConfigHost(obj.spec?.host ?? '', objNs, this.facts.trustDomain);
          if (exportedTo(obj.spec?.exportTo, objNs, ns) && sees(objNs, host)) visible.push(obj);
          break;
        }
      }
    }
    const workloads = this.workloads.filter(
      (w) =>
        services.some(
          (s) => nsOf(s) === w.namespace && s.spec?.selector && labelsMatch(s.spec.selector, w.labels),
        ) || entrySelectors.some((e) => e.ns === w.namespace && labelsMatch(e.labels, w.labels)),
    );
    const objectsJson = this.listJson(visible);
    const workloadsJson = this.listJson(workloads);
    const contentHash = createHash('sha256')
      .update(objectsJson)
      .update('\n')
      .update(workloadsJson)
      .digest('hex');
    return { key, objects: visible, workloads, objectsJson, workloadsJson, contentHash };
  }
}

/** The Sidecar's egress hosts as a predicate on (object namespace, host); everything when none. */
function egressFilter(sidecar: Sidecar | undefined): (namespace: string, host: string) => boolean {
  const egress = sidecar?.spec?.egress;
  if (!sidecar || !egress || egress.length === 0) return () => true;
  const sidecarNs = nsOf(sidecar);
  const entries: { ns: string; host: string }[] = [];
  for (const listener of egress) {
    for (const h of listener.hosts ?? []) {
      const slash = h.indexOf('/');
      entries.push(slash < 0 ? { ns: '*', host: h } : { ns: h.slice(0, slash), host: h.slice(slash + 1) });
    }
  }
  return (namespace, host) =>
    entries.some(
      (e) =>
        e.ns !== '~' &&
        (e.ns === '*' || e.ns === namespace || (e.ns === '.' && namespace === sidecarNs)) &&
        hostMatches(e.host, host),
    );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

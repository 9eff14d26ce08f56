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
import { canonicalJson } from '../../lib/protocol/canonical.js';
import {
  compareKeys,
  objectResourceKey,
  resourceSnapshotHash,
  sectionHash,
  workloadResourceKey,
} from '../../lib/protocol/resources.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';

const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/** A resource's canonical JSON and its hash, kept while the object is unchanged. */
export interface ResourceEntry {
  json: string;
  hash: string;
}

/** The resources that turn one section into another. */
interface SectionDelta {
  /** JSON of the resources added or changed, comma-separated (no brackets). */
  upserts: string;
  upsertCount: number;
  /** Keys removed. */
  removed: string[];
}

/**
 * One section of a snapshot (its config objects or its workload instances) in key order. Immutable
 * and shared by every proxy, scope and generation with the same content: its encoded bytes are
 * built once, on the first whole-snapshot push that needs them, and deltas from other sections are
 * cached.
 */
export class Section {
  private bytes?: Buffer;
  private readonly deltas = new WeakMap<Section, SectionDelta>();

  constructor(
    readonly keys: readonly string[],
    readonly entries: ReadonlyMap<string, ResourceEntry>,
    /** The section hash of lib/protocol/resources.ts. */
    readonly hash: string,
  ) {}

  static build(keys: readonly string[], entries: ReadonlyMap<string, ResourceEntry>): Section {
    return new Section(
      keys,
      entries,
      sectionHash(keys, (k) => entries.get(k)!.hash),
    );
  }

  /** `[json,json,...]` as UTF-8. */
  get json(): Buffer {
    this.bytes ??= Buffer.from(`[${this.keys.map((k) => this.entries.get(k)!.json).join(',')}]`);
    return this.bytes;
  }

  deltaFrom(base: Section): SectionDelta {
    let delta = this.deltas.get(base);
    if (!delta) {
      const upserts: string[] = [];
      for (const k of this.keys) {
        const e = this.entries.get(k)!;
        if (base.entries.get(k)?.hash !== e.hash) upserts.push(e.json);
      }
      delta = {
        upserts: upserts.join(','),
        upsertCount: upserts.length,
        removed: base.keys.filter((k) => !this.entries.has(k)),
      };
      this.deltas.set(base, delta);
    }
    return delta;
  }
}

/** What a proxy needs to go from one scope's content to another's (protocol version 3). */
export interface ContentDelta {
  /** JSON members of a `delta` frame (`"objects":[...]`, `"removedObjects":[...]`...), or ''. */
  json: string;
  /** Resources added, changed or removed. */
  changes: number;
}

/** The shared part of the snapshots of every proxy with one scope: two shared sections. */
export class ScopedContent {
  /** Tells cheaply whether a proxy's content changed. */
  readonly contentHash: string;

  constructor(
    readonly key: string,
    readonly objectsSection: Section,
    readonly workloadsSection: Section,
  ) {
    this.contentHash = `${objectsSection.hash}${workloadsSection.hash}`;
  }

  get objects(): MeshObject[] {
    return this.objectsSection.keys.map((k) => JSON.parse(this.objectsSection.entries.get(k)!.json));
  }

  get workloads(): WorkloadInstance[] {
    return this.workloadsSection.keys.map((k) => JSON.parse(this.workloadsSection.entries.get(k)!.json));
  }

  get resourceCount(): number {
    return this.objectsSection.keys.length + this.workloadsSection.keys.length;
  }

  /** The resources that turn `base` into this content. */
  deltaFrom(base: ScopedContent): ContentDelta {
    const parts: string[] = [];
    let changes = 0;
    for (const [name, removedName, section, baseSection] of [
      ['objects', 'removedObjects', this.objectsSection, base.objectsSection],
      ['workloads', 'removedWorkloads', this.workloadsSection, base.workloadsSection],
    ] as const) {
      if (section === baseSection) continue;
      const d = section.deltaFrom(baseSection);
      if (d.upsertCount > 0) parts.push(`"${name}":[${d.upserts}]`);
      if (d.removed.length > 0) parts.push(`"${removedName}":${JSON.stringify(d.removed)}`);
      changes += d.upsertCount + d.removed.length;
    }
    return { json: parts.join(','), changes };
  }
}

/** One proxy's snapshot: its identity plus the shared content of its scope. */
export class BuiltSnapshot {
  private v2Hash?: string;
  private v3Hash?: string;

  constructor(
    /** Canonical JSON of the proxy identity. */
    readonly proxyJson: string,
    readonly content: ScopedContent,
    private readonly proxyHash = sha256(proxyJson),
  ) {}

  /** The snapshot hash as the given protocol version defines it. */
  hash(protocolVersion: number): string {
    if (protocolVersion >= 3) {
      this.v3Hash ??= resourceSnapshotHash(
        this.proxyHash,
        this.content.objectsSection.hash,
        this.content.workloadsSection.hash,
      );
      return this.v3Hash;
    }
    this.v2Hash ??= createHash('sha256')
      .update('{"objects":')
      .update(this.content.objectsSection.json)
      .update(',"proxy":')
      .update(this.proxyJson)
      .update(',"workloads":')
      .update(this.content.workloadsSection.json)
      .update('}')
      .digest('hex');
    return this.v2Hash;
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

interface EndpointsEntry {
  workloads: readonly WorkloadInstance[];
  section: Section;
}

/** What one scope sees of the config objects (computed once per config version). */
interface ObjectsPart {
  section: Section;
  services: Service[];
  entrySelectors: { ns: string; labels: Record<string, string> }[];
  /** What decides which workloads the scope sees. */
  selectorsKey: string;
}

/**
 * What the control plane keeps across generations: resource serializations and hashes by object,
 * each scope's view of the config while the config is unchanged, and every distinct section by
 * hash (the sections of the last two generations), so equal sections are one object.
 */
export class SnapshotCache {
  readonly entries = new WeakMap<object, ResourceEntry>();
  readonly objectParts = new WeakMap<readonly MeshObject[], Map<string, ObjectsPart>>();
  /**
   * Endpoint sections by the selectors that chose them, with the workload list they came from
   * (those used in the last two generations).
   */
  private endpointsBefore = new Map<string, EndpointsEntry>();
  private endpointsNow = new Map<string, EndpointsEntry>();
  /** Canonical JSON and hash of each proxy identity (sessions keep theirs). */
  readonly proxies = new WeakMap<ProxyIdentity, { json: string; hash: string }>();
  private previous = new Map<string, Section>();
  private current = new Map<string, Section>();

  /** A new generation starts: sections not used since the one before are let go. */
  nextGeneration(): void {
    this.previous = this.current;
    this.current = new Map();
    this.endpointsBefore = this.endpointsNow;
    this.endpointsNow = new Map();
  }

  endpoints(selectorsKey: string, workloads: readonly WorkloadInstance[]): Section | undefined {
    const entry = this.endpointsNow.get(selectorsKey) ?? this.endpointsBefore.get(selectorsKey);
    if (entry?.workloads !== workloads) return undefined;
    this.endpointsNow.set(selectorsKey, entry);
    return this.keep(entry.section);
  }

  setEndpoints(selectorsKey: string, workloads: readonly WorkloadInstance[], section: Section): void {
    this.endpointsNow.set(selectorsKey, { workloads, section });
  }

  /** Marks a section as used in this generation. */
  keep(section: Section): Section {
    const kept = this.current.get(section.hash);
    if (kept) return kept;
    this.current.set(section.hash, section);
    return section;
  }

  section(keys: readonly string[], entries: ReadonlyMap<string, ResourceEntry>): Section {
    const hash = sectionHash(keys, (k) => entries.get(k)!.hash);
    let section = this.current.get(hash) ?? this.previous.get(hash);
    if (!section) section = new Section(keys, entries, hash);
    this.current.set(hash, section);
    return section;
  }

  entry = (item: object): ResourceEntry => {
    let entry = this.entries.get(item);
    if (entry === undefined) {
      const json = canonicalJson(item);
      entry = { json, hash: sha256(json) };
      this.entries.set(item, entry);
    }
    return entry;
  };
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
    /** Kept across generations (see SnapshotCache). */
    private readonly cache: SnapshotCache = new SnapshotCache(),
  ) {
    cache.nextGeneration();
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
    let id = this.cache.proxies.get(proxy);
    if (!id) {
      const json = canonicalJson(proxy);
      id = { json, hash: sha256(json) };
      this.cache.proxies.set(proxy, id);
    }
    return new BuiltSnapshot(id.json, content, id.hash);
  }

  /** The ProxySnapshot body as encoded chunks (shared section bytes are not copied). */
  static bodyParts(
    built: BuiltSnapshot,
    version: number,
    createdAt: string,
    protocolVersion: number,
  ): (string | Buffer)[] {
    return [
      `{"schema":${JSON.stringify(SNAPSHOT_SCHEMA)},"version":${version},"hash":"${built.hash(protocolVersion)}",` +
        `"proxy":${built.proxyJson},"objects":`,
      built.content.objectsSection.json,
      ',"workloads":',
      built.content.workloadsSection.json,
      `,"createdAt":"${createdAt}"}`,
    ];
  }

  /** The ProxySnapshot body as JSON text. */
  static bodyJson(built: BuiltSnapshot, version: number, createdAt: string, protocolVersion: number): string {
    return SnapshotBuilder.bodyParts(built, version, createdAt, protocolVersion)
      .map((p) => p.toString())
      .join('');
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
    let parts = this.cache.objectParts.get(this.objects);
    if (!parts) {
      parts = new Map();
      this.cache.objectParts.set(this.objects, parts);
    }
    let part = parts.get(key);
    if (!part) {
      part = this.compileObjects(proxy, sidecar);
      parts.set(key, part);
    }
    return new ScopedContent(key, this.cache.keep(part.section), this.workloadsSection(part));
  }

  /**
   * The endpoints of the services and entries a scope sees. Scopes that see the same selectors
   * share one section, and it is kept while neither the workloads nor those selectors change.
   */
  private workloadsSection(part: ObjectsPart): Section {
    const cached = this.cache.endpoints(part.selectorsKey, this.workloads);
    if (cached) return cached;
    const { services, entrySelectors } = part;
    const workloads = this.workloads.filter(
      (w) =>
        services.some(
          (s) => nsOf(s) === w.namespace && s.spec?.selector && labelsMatch(s.spec.selector, w.labels),
        ) || entrySelectors.some((e) => e.ns === w.namespace && labelsMatch(e.labels, w.labels)),
    );
    const section = this.sectionOf(workloads, workloadResourceKey);
    this.cache.setEndpoints(part.selectorsKey, this.workloads, section);
    return section;
  }

  /** A section of these items in key order: what a proxy of protocol version 3 rebuilds. */
  private sectionOf<T extends object>(items: readonly T[], keyOf: (item: T) => string): Section {
    const sorted = items
      .map((item) => ({ key: keyOf(item), item }))
      .sort((a, b) => compareKeys(a.key, b.key));
    const keys = sorted.map((e) => e.key);
    const entries = new Map(sorted.map((e) => [e.key, this.cache.entry(e.item)]));
    return this.cache.section(keys, entries);
  }

  private compileObjects(proxy: ProxyIdentity, sidecar: Sidecar | undefined): ObjectsPart {
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
    const selectorsKey = JSON.stringify([
      services.map((s) => [nsOf(s), s.spec?.selector ?? null]),
      entrySelectors,
    ]);
    return { section: this.sectionOf(visible, objectResourceKey), services, entrySelectors, selectorsKey };
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

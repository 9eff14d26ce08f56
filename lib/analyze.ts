/**
 * `tsmesh analyze`: validation of every object plus the checks that need several objects —
 * references to hosts, subsets and gateways, conflicting VirtualServices, rules that can never
 * match, faults that never fire, subsets that select nothing, and competing mesh-wide policies.
 * Pure: the caller loads the objects (runtime/config/load.ts).
 */
import { DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCodeKey, diagnostic } from './api/diagnostics.js';
import { type LoadedObject, withLine } from './api/parse.js';
import { joinPath } from './api/path.js';
import { objectRef } from './api/types.js';
import { type Target, validateObjects } from './api/validate.js';
import { DEFAULT_ROOT_NAMESPACE, ISTIO_ROOT_NAMESPACE } from './constants.js';
import { DEFAULT_DOMAIN, hostMatches, resolveConfigHost, serviceOfHost } from './hosts.js';
import { compareAge, labelsMatch, namespaceOf } from './routing/objects.js';
import { portProtocol } from './routing/registry.js';

export interface AnalyzeOptions {
  /** `bundled` (default) also reports what the bundled runtime does not implement. */
  target?: Target;
  /** The control plane's namespace; default: the MeshConfig's rootNamespace, else tsmesh-system. */
  rootNamespace?: string;
  /** The cluster's DNS domain. */
  domain?: string;
  /**
   * How to report valid Istio config the bundled runtime does not implement (TSM0001):
   * `warning` (default, DESIGN.md §2: analyze warns, apply/up refuse) or `error`.
   */
  unsupported?: 'warning' | 'error';
}

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const specOf = (o: unknown): unknown => rec(o).spec;
const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(rec(v)).filter(([, x]) => typeof x === 'string')) as Record<
    string,
    string
  >;

/** Everything analyze knows about the input, indexed once. */
interface Index {
  domain: string;
  rootNamespaces: string[];
  services: Map<string, { obj: LoadedObject; ports: number; selector: Record<string, string> }>;
  serviceEntryHosts: string[];
  registryDeclared: boolean;
  destinationRules: { obj: LoadedObject; host: string; subsets: Map<string, Record<string, string>> }[];
  destinationRulesByHost: Map<string, Index['destinationRules']>;
  wildcardDestinationRules: Index['destinationRules'];
  gateways: Set<string>;
  /** Pod-template labels of declared workloads, per namespace. */
  workloads: Map<string, Record<string, string>[]>;
}

/** Validates every object, then checks them against each other. */
export function analyze(objects: readonly LoadedObject[], options: AnalyzeOptions = {}): Diagnostic[] {
  const out = validateObjects(objects, { target: options.target ?? 'bundled' });
  if ((options.unsupported ?? 'warning') === 'warning') {
    for (const d of out) if (d.code === DIAGNOSTIC_CODES.notSupported.code) d.severity = 'warning';
  }
  const index = buildIndex(objects, options);
  const report = (o: LoadedObject, key: DiagnosticCodeKey, path: string | undefined, message: string) => {
    const d = diagnostic(key, { object: objectRef(o.object), message });
    if (path !== undefined) d.path = path;
    if (o.source) d.source = withLine(o.source, o.lines, path);
    out.push(d);
  };
  if (!index.registryDeclared && objects.some((o) => o.object.kind === 'VirtualService')) {
    out.push(
      diagnostic('hostsNotChecked', {
        message: 'the input declares no Service or ServiceEntry, so destination hosts were not checked',
      }),
    );
  }
  for (const o of objects) {
    if (o.object.kind === 'VirtualService') checkVirtualService(o, index, report);
  }
  checkVirtualServiceConflicts(objects, index, report);
  checkSubsetsSelectWorkloads(index, report);
  checkPeerAuthentications(objects, index, report);
  checkSidecars(objects, index, report);
  checkPrincipals(objects, report);
  checkServicePorts(objects, report);
  checkMeshConfigs(objects, report);
  return out;
}

type Report = (o: LoadedObject, key: DiagnosticCodeKey, path: string | undefined, message: string) => void;

function buildIndex(objects: readonly LoadedObject[], options: AnalyzeOptions): Index {
  const domain = options.domain ?? DEFAULT_DOMAIN;
  const meshConfig = [...objects]
    .filter((o) => o.object.kind === 'MeshConfig')
    .sort((a, b) => compareAge(a.object, b.object))[0];
  const configured = str(rec(specOf(meshConfig?.object)).rootNamespace);
  const root = options.rootNamespace ?? configured ?? DEFAULT_ROOT_NAMESPACE;
  const index: Index = {
    domain,
    rootNamespaces: root === ISTIO_ROOT_NAMESPACE ? [root] : [root, ISTIO_ROOT_NAMESPACE],
    services: new Map(),
    serviceEntryHosts: [],
    registryDeclared: false,
    destinationRules: [],
    destinationRulesByHost: new Map(),
    wildcardDestinationRules: [],
    gateways: new Set(),
    workloads: new Map(),
  };
  for (const o of objects) {
    const obj = o.object;
    const ns = namespaceOf(obj);
    const spec = rec(specOf(obj));
    switch (obj.kind) {
      case 'Service':
        index.registryDeclared = true;
        index.services.set(`${obj.metadata.name}.${ns}.svc.${domain}`, {
          obj: o,
          ports: arr(spec.ports).length,
          selector: strMap(spec.selector),
        });
        break;
      case 'ServiceEntry':
        index.registryDeclared = true;
        for (const h of arr(spec.hosts))
          if (typeof h === 'string') index.serviceEntryHosts.push(resolveConfigHost(h, ns, domain));
        break;
      case 'DestinationRule': {
        const host = str(spec.host);
        if (!host) break;
        const subsets = new Map<string, Record<string, string>>();
        for (const s of arr(spec.subsets)) {
          const name = str(rec(s).name);
          if (name) subsets.set(name, strMap(rec(s).labels));
        }
        const entry = { obj: o, host: resolveConfigHost(host, ns, domain), subsets };
        index.destinationRules.push(entry);
        if (entry.host.startsWith('*')) index.wildcardDestinationRules.push(entry);
        else
          index.destinationRulesByHost.set(entry.host, [
            ...(index.destinationRulesByHost.get(entry.host) ?? []),
            entry,
          ]);
        break;
      }
      case 'Gateway':
        index.gateways.add(`${ns}/${obj.metadata.name}`);
        break;
      case 'Deployment': {
        const labels = strMap(rec(rec(rec(spec.template).metadata)).labels);
        const list = index.workloads.get(ns) ?? [];
        list.push(labels);
        index.workloads.set(ns, list);
        break;
      }
    }
  }
  return index;
}

/** DestinationRules whose host is `fqdn` or a wildcard that covers it. */
function destinationRulesFor(fqdn: string, index: Index): Index['destinationRules'] {
  const exact = index.destinationRulesByHost.get(fqdn) ?? [];
  const wild = index.wildcardDestinationRules.filter((d) => hostMatches(d.host, fqdn));
  return wild.length === 0 ? exact : [...exact, ...wild];
}

function hostKnown(fqdn: string, index: Index): boolean {
  if (index.services.has(fqdn)) return true;
  return index.serviceEntryHosts.some((h) => hostMatches(h, fqdn) || hostMatches(fqdn, h));
}

/** Destinations of a VirtualService with their paths. */
function destinations(spec: Rec): { path: string; dest: Rec }[] {
  const out: { path: string; dest: Rec }[] = [];
  for (const section of ['http', 'tcp', 'tls']) {
    arr(spec[section]).forEach((rule, i) => {
      const base = `spec.${section}[${i}]`;
      arr(rec(rule).route).forEach((r, j) => {
        out.push({ path: `${base}.route[${j}].destination`, dest: rec(rec(r).destination) });
      });
      if (rec(rule).mirror !== undefined) out.push({ path: `${base}.mirror`, dest: rec(rec(rule).mirror) });
    });
  }
  return out;
}

function boundToMesh(gateways: unknown): boolean {
  const list = arr(gateways);
  return list.length === 0 || list.includes('mesh');
}

function checkVirtualService(o: LoadedObject, index: Index, report: Report): void {
  const ns = namespaceOf(o.object);
  const spec = rec(specOf(o.object));

  // Gateways: `name` is in the VirtualService's namespace, `ns/name` anywhere; `mesh` is the sidecars.
  const gatewayRefs: { path: string; ref: string }[] = [];
  arr(spec.gateways).forEach((g, i) => {
    if (typeof g === 'string') gatewayRefs.push({ path: `spec.gateways[${i}]`, ref: g });
  });
  arr(spec.http).forEach((rule, i) => {
    arr(rec(rule).match).forEach((m, j) => {
      arr(rec(m).gateways).forEach((g, k) => {
        if (typeof g === 'string')
          gatewayRefs.push({ path: `spec.http[${i}].match[${j}].gateways[${k}]`, ref: g });
      });
    });
  });
  for (const { path, ref } of gatewayRefs) {
    if (ref === 'mesh') continue;
    const full = ref.includes('/') ? ref : `${ns}/${ref}`;
    if (!index.gateways.has(full))
      report(o, 'referencedResourceNotFound', path, `gateway ${JSON.stringify(ref)} (${full}) not found`);
  }

  for (const { path, dest } of destinations(spec)) {
    const host = str(dest.host);
    if (!host) continue;
    const fqdn = resolveConfigHost(host, ns, index.domain);
    if (index.registryDeclared && !hostKnown(fqdn, index)) {
      report(
        o,
        'referencedResourceNotFound',
        joinPath(path, 'host'),
        `host ${JSON.stringify(host)} (${fqdn}) not found: no Service or ServiceEntry declares it`,
      );
      continue;
    }
    const subset = str(dest.subset);
    if (subset !== undefined) {
      const rules = destinationRulesFor(fqdn, index);
      if (!rules.some((d) => d.subsets.has(subset))) {
        const where =
          rules.length === 0
            ? 'no DestinationRule exists for that host'
            : `DestinationRule ${rules.map((d) => objectRef(d.obj.object).replace('DestinationRule ', '')).join(', ')} defines ${[...new Set(rules.flatMap((d) => [...d.subsets.keys()]))].join(', ') || 'no subsets'}`;
        report(
          o,
          'referencedResourceNotFound',
          joinPath(path, 'subset'),
          `subset ${JSON.stringify(subset)} of host ${fqdn} not found: ${where}`,
        );
      }
    }
    const port = rec(dest.port).number;
    const svc = index.services.get(fqdn);
    if (!boundToMesh(spec.gateways) && svc && svc.ports > 1 && port === undefined) {
      report(
        o,
        'virtualServiceDestinationPortSelectorRequired',
        path,
        `${fqdn} exposes ${svc.ports} ports; set port.number to say which one this gateway route uses`,
      );
    }
  }

  checkRuleOrder(o, spec, 'http', report);
  checkRuleOrder(o, spec, 'tcp', report);

  arr(spec.http).forEach((rule, i) => {
    const fault = rec(rec(rule).fault);
    for (const kind of ['delay', 'abort']) {
      const f = fault[kind];
      if (f === undefined || f === null) continue;
      const r = rec(f);
      if (r.percentage === undefined && r.percent === undefined) {
        report(
          o,
          'faultWithoutPercentage',
          `spec.http[${i}].fault.${kind}`,
          `the ${kind} has no percentage, so it affects no request; set percentage.value (0 to 100)`,
        );
      }
    }
  });
}

/** A match entry that every request satisfies. */
function matchesEverything(m: unknown): boolean {
  const entry = rec(m);
  const keys = Object.keys(entry).filter((k) => k !== 'name' && entry[k] !== undefined && entry[k] !== null);
  if (keys.length === 0) return true;
  const uri = rec(entry.uri);
  return keys.length === 1 && keys[0] === 'uri' && Object.keys(uri).length === 1 && uri.prefix === '/';
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const r = v as Rec;
    return `{${Object.keys(r)
      .filter((k) => k !== 'name')
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(r[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function checkRuleOrder(o: LoadedObject, spec: Rec, section: 'http' | 'tcp', report: Report): void {
  const rules = arr(spec[section]);
  let catchAll: number | undefined;
  const seen = new Map<string, [number, number]>();
  rules.forEach((rule, i) => {
    const matches = arr(rec(rule).match);
    if (catchAll !== undefined) {
      report(
        o,
        'virtualServiceUnreachableRule',
        `spec.${section}[${i}]`,
        `this rule is never used: rule ${section}[${catchAll}] before it matches every request`,
      );
      return;
    }
    matches.forEach((m, j) => {
      const key = stableJson(m);
      const earlier = seen.get(key);
      if (earlier && earlier[0] !== i) {
        report(
          o,
          'virtualServiceIneffectiveMatch',
          `spec.${section}[${i}].match[${j}]`,
          `this match is never used: it repeats ${section}[${earlier[0]}].match[${earlier[1]}]`,
        );
      } else if (!earlier) seen.set(key, [i, j]);
    });
    if (matches.length === 0 || matches.some(matchesEverything)) catchAll = i;
  });
}

function checkVirtualServiceConflicts(objects: readonly LoadedObject[], index: Index, report: Report): void {
  const byHost = new Map<string, LoadedObject[]>();
  for (const o of objects) {
    if (o.object.kind !== 'VirtualService') continue;
    const spec = rec(specOf(o.object));
    if (!boundToMesh(spec.gateways)) continue;
    for (const h of new Set(arr(spec.hosts).filter((x): x is string => typeof x === 'string'))) {
      const fqdn = resolveConfigHost(h, namespaceOf(o.object), index.domain);
      const list = byHost.get(fqdn) ?? [];
      if (!list.includes(o)) list.push(o);
      byHost.set(fqdn, list);
    }
  }
  for (const [host, list] of byHost) {
    if (list.length < 2) continue;
    const [winner, ...losers] = [...list].sort((a, b) => compareAge(a.object, b.object));
    for (const loser of losers) {
      const i = arr(rec(specOf(loser.object)).hosts).findIndex(
        (h) =>
          typeof h === 'string' && resolveConfigHost(h, namespaceOf(loser.object), index.domain) === host,
      );
      report(
        loser,
        'conflictingMeshGatewayVirtualServiceHosts',
        `spec.hosts[${i}]`,
        `host ${host} is also routed by ${objectRef(winner.object)}, which wins (accepted first, then by namespace/name); this VirtualService is ignored for that host`,
      );
    }
  }
}

function checkSubsetsSelectWorkloads(index: Index, report: Report): void {
  for (const dr of index.destinationRules) {
    const svcRef = serviceOfHost(dr.host, index.domain);
    const svc = index.services.get(dr.host);
    if (!svcRef || !svc) continue;
    const pods = (index.workloads.get(svcRef.namespace) ?? []).filter(
      (labels) => Object.keys(svc.selector).length > 0 && labelsMatch(svc.selector, labels),
    );
    if (pods.length === 0) continue; // no declared workloads for this service: nothing to compare
    const subsets = arr(rec(specOf(dr.obj.object)).subsets);
    subsets.forEach((s, i) => {
      const name = str(rec(s).name);
      const labels = strMap(rec(s).labels);
      if (!name || pods.some((p) => labelsMatch(labels, p))) return;
      report(
        dr.obj,
        'destinationRuleSubsetNotSelectPods',
        `spec.subsets[${i}]`,
        `subset ${JSON.stringify(name)} (${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(
            ', ',
          )}) selects none of the ${pods.length} declared workloads of ${dr.host}; requests to it get 503 UH`,
      );
    });
  }
}

function checkPeerAuthentications(objects: readonly LoadedObject[], index: Index, report: Report): void {
  const wide = new Map<string, LoadedObject[]>();
  for (const o of objects) {
    if (o.object.kind !== 'PeerAuthentication') continue;
    const ns = namespaceOf(o.object);
    const hasSelector = rec(specOf(o.object)).selector !== undefined;
    if (hasSelector) {
      if (index.rootNamespaces.includes(ns) && ns !== ISTIO_ROOT_NAMESPACE) {
        report(
          o,
          'ignoredObject',
          'spec.selector',
          `a PeerAuthentication with a selector in the root namespace ${ns} has no effect; only the mesh-wide policy (no selector) counts there`,
        );
      }
      continue;
    }
    const list = wide.get(ns) ?? [];
    list.push(o);
    wide.set(ns, list);
  }
  for (const [ns, list] of wide) {
    const [winner, ...losers] = [...list].sort((a, b) => compareAge(a.object, b.object));
    const scope = index.rootNamespaces.includes(ns) ? 'mesh-wide' : `namespace-wide (${ns})`;
    for (const loser of losers) {
      report(
        loser,
        'conflictingMeshWidePolicies',
        undefined,
        `another ${scope} PeerAuthentication exists: ${objectRef(winner.object)} wins (accepted first, then by name); this one is ignored`,
      );
    }
  }
  const [root, istio] = index.rootNamespaces;
  if (istio && wide.has(root) && wide.has(istio)) {
    for (const o of wide.get(istio) ?? []) {
      report(
        o,
        'rootNamespaceShadowed',
        undefined,
        `the mesh-wide PeerAuthentication in ${root} takes precedence over this one in ${istio}`,
      );
    }
  }
}

function checkSidecars(objects: readonly LoadedObject[], index: Index, report: Report): void {
  const defaults = new Map<string, LoadedObject[]>();
  for (const o of objects) {
    if (o.object.kind !== 'Sidecar' || rec(specOf(o.object)).workloadSelector !== undefined) continue;
    const ns = namespaceOf(o.object);
    defaults.set(ns, [...(defaults.get(ns) ?? []), o]);
  }
  for (const [ns, list] of defaults) {
    if (list.length < 2) continue;
    for (const o of list) {
      report(
        o,
        'multipleSidecarsWithoutWorkloadSelectors',
        'spec',
        `namespace ${ns} has ${list.length} Sidecars without a workloadSelector (${list
          .map((x) => x.object.metadata.name)
          .sort()
          .join(', ')}); keep one`,
      );
    }
  }
  const [root, istio] = index.rootNamespaces;
  if (istio && defaults.has(root) && defaults.has(istio)) {
    for (const o of defaults.get(istio) ?? []) {
      report(
        o,
        'rootNamespaceShadowed',
        undefined,
        `the default Sidecar in ${root} takes precedence over this one in ${istio}`,
      );
    }
  }
}

function checkPrincipals(objects: readonly LoadedObject[], report: Report): void {
  for (const o of objects) {
    if (o.object.kind !== 'AuthorizationPolicy') continue;
    arr(rec(specOf(o.object)).rules).forEach((rule, i) => {
      arr(rec(rule).from).forEach((from, j) => {
        const source = rec(rec(from).source);
        for (const field of ['principals', 'notPrincipals']) {
          arr(source[field]).forEach((p, k) => {
            if (typeof p === 'string' && p.startsWith('spiffe://')) {
              report(
                o,
                'principalWithScheme',
                `spec.rules[${i}].from[${j}].source.${field}[${k}]`,
                `${JSON.stringify(p)} never matches: principals are written without the scheme, as ${JSON.stringify(p.slice('spiffe://'.length))}`,
              );
            }
          });
        }
      });
    });
  }
}

function checkMeshConfigs(objects: readonly LoadedObject[], report: Report): void {
  const configs = objects
    .filter((o) => o.object.kind === 'MeshConfig')
    .sort((a, b) => compareAge(a.object, b.object));
  for (const o of configs.slice(1)) {
    report(
      o,
      'multipleMeshConfigs',
      undefined,
      `${objectRef(configs[0].object)} is used (accepted first, then by namespace/name); this one is ignored`,
    );
  }
}

function checkServicePorts(objects: readonly LoadedObject[], report: Report): void {
  for (const o of objects) {
    if (o.object.kind !== 'Service') continue;
    arr(rec(specOf(o.object)).ports).forEach((p, i) => {
      const port = rec(p);
      const shape = {
        name: str(port.name),
        appProtocol: str(port.appProtocol),
        protocol: str(port.protocol),
      };
      if (portProtocol(shape) !== 'auto') return;
      const label =
        shape.name === undefined ? `port ${String(port.port)}` : `port ${JSON.stringify(shape.name)}`;
      report(
        o,
        'portNameIsNotUnderNamingConvention',
        `spec.ports[${i}]`,
        `${label} names no protocol; name it <protocol>[-<suffix>] (http, http2, grpc, tcp, ...) or set appProtocol, so the mesh knows its protocol`,
      );
    });
  }
}

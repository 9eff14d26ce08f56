/**
 * The inbound mTLS mode of a workload port from PeerAuthentication, with Istio's precedence:
 * workload policy (selector) > namespace policy (no selector) > mesh policy (root namespace, no
 * selector) > PERMISSIVE. UNSET inherits from the next level; `portLevelMtls` (keys are
 * container ports) applies only with a selector; among duplicates the oldest wins. A policy with a
 * selector in a root namespace is ignored.
 */
import type { MeshObject, MtlsMode, PeerAuthentication } from '../api/types.js';
import { DEFAULT_ROOT_NAMESPACE, ISTIO_ROOT_NAMESPACE } from '../constants.js';
import { labelsMatch, namespaceOf, nsName, ofKind, oldestFirst } from '../routing/objects.js';

export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface MtlsDecision {
  mode: EffectiveMtlsMode;
  /** `namespace/name` of the PeerAuthentication that decided; absent for the default. */
  policy?: string;
  /** Which level decided. */
  level: 'port' | 'workload' | 'namespace' | 'mesh' | 'default';
}

/** PeerAuthentications indexed once, for many lookups. */
export interface CompiledPeerAuthentication {
  readonly kind: 'CompiledPeerAuthentication';
  /** Oldest first, per namespace. */
  readonly byNamespace: ReadonlyMap<string, readonly PeerAuthentication[]>;
  /** Root namespaces, the control plane's first. */
  readonly rootNamespaces: readonly string[];
}

export const DEFAULT_ROOT_NAMESPACES: readonly string[] = [DEFAULT_ROOT_NAMESPACE, ISTIO_ROOT_NAMESPACE];

export function compilePeerAuthentication(
  objects: readonly MeshObject[],
  rootNamespaces: readonly string[] = DEFAULT_ROOT_NAMESPACES,
): CompiledPeerAuthentication {
  const byNamespace = new Map<string, PeerAuthentication[]>();
  for (const pa of oldestFirst(ofKind(objects, 'PeerAuthentication'))) {
    const ns = namespaceOf(pa);
    let list = byNamespace.get(ns);
    if (!list) byNamespace.set(ns, (list = []));
    list.push(pa);
  }
  return { kind: 'CompiledPeerAuthentication', byNamespace, rootNamespaces };
}

function hasSelector(pa: PeerAuthentication): boolean {
  const labels = pa.spec?.selector?.matchLabels;
  return labels !== undefined && Object.keys(labels).length > 0;
}

function effective(mode: MtlsMode | undefined): EffectiveMtlsMode | undefined {
  return mode === undefined || mode === 'UNSET' ? undefined : mode;
}

/** The mTLS mode of `port` (a container port) on a workload. */
export function mtlsModeFor(
  source: readonly MeshObject[] | CompiledPeerAuthentication,
  workload: { namespace: string; labels: Readonly<Record<string, string>> },
  port: number,
  rootNamespaces?: readonly string[],
): MtlsDecision {
  const compiled =
    'kind' in source && source.kind === 'CompiledPeerAuthentication'
      ? (source as CompiledPeerAuthentication)
      : compilePeerAuthentication(source as readonly MeshObject[], rootNamespaces);
  const own = compiled.byNamespace.get(workload.namespace) ?? [];
  // A selector policy in a root namespace is ignored (SEMANTICS.md), even for workloads there.
  const inRoot = compiled.rootNamespaces.includes(workload.namespace);

  const selected = inRoot
    ? undefined
    : own.find((pa) => hasSelector(pa) && labelsMatch(pa.spec.selector!.matchLabels, workload.labels));
  if (selected) {
    const portMode = effective(selected.spec.portLevelMtls?.[String(port)]?.mode);
    if (portMode) return { mode: portMode, policy: nsName(selected), level: 'port' };
    const mode = effective(selected.spec.mtls?.mode);
    if (mode) return { mode, policy: nsName(selected), level: 'workload' };
  }
  const nsWide = own.find((pa) => !hasSelector(pa));
  const nsMode = effective(nsWide?.spec?.mtls?.mode);
  if (nsWide && nsMode) {
    const level = compiled.rootNamespaces.includes(workload.namespace) ? 'mesh' : 'namespace';
    return { mode: nsMode, policy: nsName(nsWide), level };
  }
  for (const root of compiled.rootNamespaces) {
    const meshWide = (compiled.byNamespace.get(root) ?? []).find((pa) => !hasSelector(pa));
    if (!meshWide) continue;
    const mode = effective(meshWide.spec?.mtls?.mode);
    if (mode) return { mode, policy: nsName(meshWide), level: 'mesh' };
    // An UNSET mesh policy in the control plane's namespace still shadows istio-system's.
    break;
  }
  return { mode: 'PERMISSIVE', level: 'default' };
}

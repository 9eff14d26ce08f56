/**
 * Small helpers over config objects shared by the routing and policy compilers: namespaces,
 * deterministic "oldest first" ordering, label selection and `exportTo` visibility.
 */
import type { MeshObject } from '../api/types.js';

/** An object's namespace; objects without one live in `default`, as with kubectl. */
export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace ?? 'default';
}

/** `namespace/name`. */
export function nsName(obj: { metadata: { name: string; namespace?: string } }): string {
  return `${namespaceOf(obj)}/${obj.metadata.name}`;
}

/** The objects of one kind, typed. */
export function ofKind<K extends MeshObject['kind']>(
  objects: readonly MeshObject[],
  kind: K,
): Extract<MeshObject, { kind: K }>[] {
  return objects.filter((o) => o.kind === kind) as Extract<MeshObject, { kind: K }>[];
}

function acceptedAt(obj: { metadata: { creationTimestamp?: string } }): number {
  const t = obj.metadata.creationTimestamp;
  if (t === undefined) return Number.POSITIVE_INFINITY;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * Orders objects oldest first: by `metadata.creationTimestamp` (which stands for the time the
 * control plane first accepted the object; objects without one count as newest), then by
 * namespace/name, so the choice is deterministic.
 */
export function compareAge(
  a: { metadata: { name: string; namespace?: string; creationTimestamp?: string } },
  b: { metadata: { name: string; namespace?: string; creationTimestamp?: string } },
): number {
  const ta = acceptedAt(a);
  const tb = acceptedAt(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = nsName(a);
  const kb = nsName(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function oldestFirst<
  T extends { metadata: { name: string; namespace?: string; creationTimestamp?: string } },
>(items: readonly T[]): T[] {
  return [...items].sort(compareAge);
}

/** True when every selector label is present with the same value (an empty selector selects all). */
export function labelsMatch(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

/**
 * Whether an object from `objectNamespace` with `exportTo` is visible to a proxy in
 * `viewerNamespace`: absent or `*` → everywhere; `.` → its own namespace; `~` → nowhere;
 * a name → that namespace.
 */
export function isExportedTo(
  exportTo: readonly string[] | undefined,
  objectNamespace: string,
  viewerNamespace: string,
): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '.' && objectNamespace === viewerNamespace) return true;
    if (e === viewerNamespace) return true;
  }
  return false;
}

/** A Service's `networking.istio.io/exportTo` annotation as a list. */
export function serviceExportTo(annotations: Record<string, string> | undefined): string[] | undefined {
  const raw = annotations?.['networking.istio.io/exportTo'];
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The labels of a networking workload selector. Istio writes `labels` in Sidecar and
 * ServiceEntry (`workloadSelector: { labels }`) and `matchLabels` in the security and
 * DestinationRule selectors; both are read.
 */
export function selectorLabels(selector: unknown): Record<string, string> | undefined {
  if (!selector || typeof selector !== 'object') return undefined;
  const s = selector as { labels?: Record<string, string>; matchLabels?: Record<string, string> };
  return s.labels ?? s.matchLabels;
}

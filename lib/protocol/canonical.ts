/**
 * Canonical JSON (object keys sorted by code unit, no whitespace, `undefined` members dropped)
 * and the snapshot hash both sides compute from it.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  // Parsed canonical JSON keeps its key order, so what a sidecar receives is usually sorted
  // already: then the engine's own serializer gives the same text, several times faster.
  if (isCanonicalOrder(value)) return JSON.stringify(value) ?? 'null';
  return sortedJson(value);
}

function sortedJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const json = JSON.stringify(value);
    return json === undefined ? 'null' : json;
  }
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(record[k])}`).join(',')}}`;
}

/** True when JSON.stringify would already produce the canonical text. */
function isCanonicalOrder(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!isCanonicalOrder(item)) return false;
    return true;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !(keys[i - 1] < keys[i])) return false;
    const v = record[keys[i]];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return false;
    if (!isCanonicalOrder(v)) return false;
  }
  return true;
}

/** The three parts of a snapshot that its hash covers. */
export interface HashedParts {
  proxy: unknown;
  objects: unknown;
  workloads: unknown;
}

/** sha256 hex of the canonical JSON of `{objects, proxy, workloads}`. */
export function snapshotHash(parts: HashedParts): string {
  return hashCanonicalParts(
    canonicalJson(parts.objects),
    canonicalJson(parts.proxy),
    canonicalJson(parts.workloads),
  );
}

/** The same hash from parts already in canonical form (the control plane caches them). */
export function hashCanonicalParts(objects: string, proxy: string, workloads: string): string {
  return createHash('sha256')
    .update('{"objects":')
    .update(objects)
    .update(',"proxy":')
    .update(proxy)
    .update(',"workloads":')
    .update(workloads)
    .update('}')
    .digest('hex');
}

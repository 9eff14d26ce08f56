/**
 * Canonical JSON (object keys sorted by code unit, no whitespace, `undefined` members dropped)
 * and the snapshot hash both sides compute from it.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const json = JSON.stringify(value);
    return json === undefined ? 'null' : json;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
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

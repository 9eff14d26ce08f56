/**
 * The check every configuration passes before the control plane serves it. It delegates to the
 * configuration language's validator (lib/api) when given one; `basicValidation` is the floor:
 * known kinds and API versions, names, and a spec object where the kind has one.
 */
import type { MeshObject } from '../../lib/api/types.js';
import { API_VERSIONS, objectRef } from '../../lib/api/types.js';
import type { Diagnostic } from '../../lib/protocol/admin.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KINDS_WITHOUT_SPEC = new Set(['ServiceAccount', 'Namespace']);

export function basicValidation(objects: readonly MeshObject[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const obj of objects) {
    const ref = objectRef(obj);
    const versions = API_VERSIONS[obj.kind];
    if (!versions.includes(obj.apiVersion)) {
      out.push({
        severity: 'error',
        object: ref,
        path: 'apiVersion',
        message: `apiVersion ${JSON.stringify(obj.apiVersion)} is not served for ${obj.kind}; allowed: ${versions.join(', ')}`,
      });
    }
    if (!NAME.test(obj.metadata.name)) {
      out.push({
        severity: 'error',
        object: ref,
        path: 'metadata.name',
        message: `${JSON.stringify(obj.metadata.name)} is not a valid name`,
      });
    }
    if (obj.metadata.namespace !== undefined && !NAME.test(obj.metadata.namespace)) {
      out.push({
        severity: 'error',
        object: ref,
        path: 'metadata.namespace',
        message: `${JSON.stringify(obj.metadata.namespace)} is not a valid namespace`,
      });
    }
    const spec = (obj as { spec?: unknown }).spec;
    if (
      !KINDS_WITHOUT_SPEC.has(obj.kind) &&
      (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    ) {
      out.push({
        severity: 'error',
        object: ref,
        path: 'spec',
        message: `expected an object, got ${JSON.stringify(spec) ?? 'nothing'}`,
      });
    }
  }
  return out;
}

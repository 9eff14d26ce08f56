/**
 * Reads mesh configuration from files and folders: YAML or JSON, many documents per file,
 * `List` objects, and ConfigMaps named `tsmesh-config*` whose data values are YAML documents
 * (how the constructs ship config to a cluster). Folders are read recursively; entries starting
 * with `.` are skipped, which skips the kubelet's `..data` and timestamped folders while the
 * top-level symlinks into them are followed.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { API_VERSIONS, type MeshObject, objectKey, objectRef } from '../../lib/api/types.js';
import { CONFIG_MAP_NAME } from '../../lib/constants.js';
import type { Diagnostic } from '../../lib/protocol/admin.js';

export interface LoadedConfig {
  objects: MeshObject[];
  diagnostics: Diagnostic[];
  /** Objects of kinds the mesh does not use (RBAC, Secrets, ...), per kind. */
  skipped: Record<string, number>;
  files: string[];
}

const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/i;

/** Every config file under the given paths, sorted, so loading is deterministic. */
export async function listConfigFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (path: string, explicit: boolean): Promise<void> => {
    const info = await stat(path);
    if (info.isDirectory()) {
      const entries = (await readdir(path)).filter((e) => !e.startsWith('.')).sort();
      for (const entry of entries) await visit(join(path, entry), false);
    } else if (explicit || CONFIG_EXTENSIONS.test(path)) {
      out.push(path);
    }
  };
  for (const p of paths) await visit(p, true);
  return out;
}

/** Parses YAML/JSON text into mesh objects, expanding Lists and tsmesh-config ConfigMaps. */
export function parseConfigText(text: string, source: string, into: LoadedConfig): void {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      into.diagnostics.push({
        severity: 'error',
        message: `${source} (document ${index}): ${doc.errors[0].message}`,
      });
      return;
    }
    addValue(doc.toJS(), `${source} (document ${index})`, into);
  });
}

function addValue(value: unknown, where: string, into: LoadedConfig): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    into.diagnostics.push({
      severity: 'error',
      message: `${where}: expected a Kubernetes object, got ${typeof value}`,
    });
    return;
  }
  const obj = value as Record<string, any>;
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    obj.items.forEach((item: unknown, i: number) => {
      addValue(item, `${where} items[${i}]`, into);
    });
    return;
  }
  if (
    obj.kind === 'ConfigMap' &&
    typeof obj.metadata?.name === 'string' &&
    obj.metadata.name.startsWith(CONFIG_MAP_NAME)
  ) {
    for (const [key, text] of Object.entries((obj.data ?? {}) as Record<string, unknown>).sort()) {
      if (typeof text === 'string')
        parseConfigText(text, `${where} ConfigMap ${obj.metadata.name} data.${key}`, into);
    }
    return;
  }
  const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
  if (!kind || !(kind in API_VERSIONS)) {
    const name = kind ?? '(no kind)';
    into.skipped[name] = (into.skipped[name] ?? 0) + 1;
    return;
  }
  if (typeof obj.metadata?.name !== 'string') {
    into.diagnostics.push({ severity: 'error', message: `${where}: ${kind} without metadata.name` });
    return;
  }
  const meta = { ...obj.metadata };
  if (kind !== 'Namespace' && meta.namespace === undefined) meta.namespace = 'default';
  into.objects.push({ ...obj, metadata: meta } as MeshObject);
}

/** Loads every file; duplicate (kind, namespace, name) across inputs is an error naming both. */
export async function loadConfigFiles(paths: readonly string[]): Promise<LoadedConfig> {
  const result: LoadedConfig = { objects: [], diagnostics: [], skipped: {}, files: [] };
  let files: string[];
  try {
    files = await listConfigFiles(paths);
  } catch (err) {
    result.diagnostics.push({ severity: 'error', message: `cannot read config: ${(err as Error).message}` });
    return result;
  }
  result.files = files;
  const origin = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      result.diagnostics.push({
        severity: 'error',
        message: `cannot read ${file}: ${(err as Error).message}`,
      });
      continue;
    }
    const before = result.objects.length;
    parseConfigText(text, file, result);
    for (const obj of result.objects.slice(before)) {
      const key = objectKey(obj);
      const seen = origin.get(key);
      if (seen) {
        result.diagnostics.push({
          severity: 'error',
          object: objectRef(obj),
          message: `${objectRef(obj)} is defined twice: in ${seen} and in ${file}`,
        });
      } else origin.set(key, file);
    }
  }
  return result;
}

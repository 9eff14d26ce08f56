/**
 * Reads the manifests `tsmesh up` runs: files or folders of YAML/JSON documents (multi-document
 * YAML, `kind: List`), each object remembered with the file it came from, so a duplicate
 * (kind, namespace, name) across the inputs is refused naming both files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: any;
  data?: Record<string, string>;
  [key: string]: unknown;
}

export interface SourcedObject {
  object: ManifestObject;
  /** The file, relative to the working directory when inside it. */
  file: string;
}

export interface ManifestSet {
  objects: SourcedObject[];
  /** Every file read, absolute, in the order read. */
  files: string[];
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'StorageClass',
]);

/** The key that must be unique across the inputs. */
export function manifestKey(obj: ManifestObject): string {
  const ns = CLUSTER_SCOPED.has(obj.kind) ? '' : (obj.metadata.namespace ?? 'default');
  return `${obj.kind}/${ns}/${obj.metadata.name}`;
}

/** `Deployment default/reviews-v1`, the way messages name an object. */
export function manifestRef(obj: ManifestObject): string {
  return CLUSTER_SCOPED.has(obj.kind)
    ? `${obj.kind} ${obj.metadata.name}`
    : `${obj.kind} ${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

/** Expands folders (recursively, sorted) into their .yaml/.yml/.json files. */
export function expandPaths(paths: readonly string[], cwd = process.cwd()): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(abs);
    } catch {
      throw new ManifestError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const entries = readdirSync(abs).sort();
      const nested = entries.filter((e) => /\.(ya?ml|json)$/.test(e) || statSync(join(abs, e)).isDirectory());
      out.push(
        ...expandPaths(
          nested.map((e) => join(abs, e)),
          cwd,
        ),
      );
    } else {
      out.push(abs);
    }
  }
  return [...new Set(out)];
}

/** Reads and parses every object; refuses unparsable documents and duplicates, naming the files. */
export function readManifests(paths: readonly string[], cwd = process.cwd()): ManifestSet {
  const files = expandPaths(paths, cwd);
  if (files.length === 0) throw new ManifestError(`no manifest files in ${paths.join(', ')}`);
  const objects: SourcedObject[] = [];
  const seen = new Map<string, string>();
  for (const abs of files) {
    const file = displayPath(abs, cwd);
    const text = readFileSync(abs, 'utf8');
    const docs = parseAllDocuments(text);
    for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
      if (doc.errors.length > 0) {
        throw new ManifestError(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
      }
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) continue;
      for (const obj of flatten(value, file, i)) {
        const key = manifestKey(obj);
        const earlier = seen.get(key);
        if (earlier !== undefined) {
          throw new ManifestError(`duplicate ${manifestRef(obj)}: defined in ${earlier} and in ${file}`);
        }
        seen.set(key, file);
        objects.push({ object: obj, file });
      }
    }
  }
  return { objects, files };
}

function flatten(value: unknown, file: string, doc: number): ManifestObject[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${file}: document ${doc + 1} is not an object`);
  }
  const obj = value as Record<string, unknown>;
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    return obj.items.flatMap((item) => flatten(item, file, doc));
  }
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
    throw new ManifestError(`${file}: document ${doc + 1}: missing apiVersion or kind`);
  }
  if (!meta || typeof meta.name !== 'string' || meta.name === '') {
    throw new ManifestError(`${file}: document ${doc + 1}: ${obj.kind} without metadata.name`);
  }
  return [obj as ManifestObject];
}

function displayPath(abs: string, cwd: string): string {
  const rel = relative(cwd, abs);
  return rel.startsWith('..') ? abs : rel;
}

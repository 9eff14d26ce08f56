/**
 * Loading configuration from files and folders: every `.yaml`, `.yml` and `.json` file, folders
 * walked recursively in sorted order, parsed with lib/api. Two objects with the same kind,
 * namespace and name across the inputs are refused, naming both places.
 */
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { type Diagnostic, diagnostic, formatSource } from '../../lib/api/diagnostics.js';
import { type LoadedObject, type ParseOptions, parseYaml } from '../../lib/api/parse.js';
import { objectKey, objectRef } from '../../lib/api/types.js';

export interface LoadResult {
  objects: LoadedObject[];
  diagnostics: Diagnostic[];
  /** The files read, in the order read. */
  files: string[];
  /** Objects of kinds the mesh does not use, per kind. */
  skipped: Record<string, number>;
}

export interface LoadOptions extends ParseOptions {
  /** Paths in messages are shown relative to this folder (default: the current directory). */
  cwd?: string;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Reads files or folders of configuration. Unreadable paths are diagnostics, not exceptions. */
export async function loadConfigPaths(paths: string[], options: LoadOptions = {}): Promise<LoadResult> {
  const cwd = options.cwd ?? process.cwd();
  const result: LoadResult = { objects: [], diagnostics: [], files: [], skipped: {} };
  const files: string[] = [];
  for (const p of paths) {
    const found = await expand(p, result.diagnostics);
    files.push(...found);
  }
  const seenFiles = new Set<string>();
  for (const file of files) {
    if (seenFiles.has(file)) continue;
    seenFiles.add(file);
    const shown = relative(cwd, file) || file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      result.diagnostics.push(
        diagnostic('yamlSyntaxError', { message: `cannot read ${shown}: ${(err as Error).message}` }),
      );
      continue;
    }
    result.files.push(shown);
    const parsed = parseYaml(text, shown, options);
    result.objects.push(...parsed.objects);
    result.diagnostics.push(...parsed.diagnostics);
    for (const [kind, n] of Object.entries(parsed.skipped))
      result.skipped[kind] = (result.skipped[kind] ?? 0) + n;
  }
  result.objects = refuseDuplicates(result.objects, result.diagnostics);
  return result;
}

async function expand(path: string, diagnostics: Diagnostic[]): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    diagnostics.push(diagnostic('yamlSyntaxError', { message: `no such file or folder: ${path}` }));
    return [];
  }
  if (info.isFile()) return [path];
  if (!info.isDirectory()) return [];
  const out: string[] = [];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = join(path, entry.name);
    if (entry.isDirectory()) out.push(...(await expand(full, diagnostics)));
    else if (
      EXTENSIONS.has(extname(entry.name).toLowerCase()) &&
      (entry.isFile() || (await isFileLink(full)))
    ) {
      out.push(full);
    }
  }
  return out;
}

/** A symlink to a file, as the kubelet mounts ConfigMap keys (`mesh.yaml -> ..data/mesh.yaml`). */
async function isFileLink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink() && (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Kinds whose ConfigMap copy carries only what the control plane reads, so it is not compared. */
const SUMMARIZED_KINDS = new Set(['Deployment', 'Service', 'ServiceAccount', 'Namespace']);

/**
 * Keeps one object per kind/namespace/name and reports every other, naming both places.
 * A synthesized manifest holds each mesh object twice, as a document and as its copy inside the
 * `tsmesh-config` ConfigMap; the two are one object (the document is kept). Istio objects and
 * MeshConfig must be identical in both places, otherwise the copy is reported as stale.
 */
export function refuseDuplicates(objects: LoadedObject[], diagnostics: Diagnostic[]): LoadedObject[] {
  const kept = new Map<string, LoadedObject>();
  for (const o of objects) {
    const key = objectKey(o.object);
    const earlier = kept.get(key);
    if (!earlier) {
      kept.set(key, o);
      continue;
    }
    const oneIsCopy = (earlier.configMap === undefined) !== (o.configMap === undefined);
    const sameObject =
      SUMMARIZED_KINDS.has(o.object.kind) || canonical(earlier.object) === canonical(o.object);
    if (oneIsCopy && sameObject) {
      if (earlier.configMap !== undefined) kept.set(key, o);
      continue;
    }
    const here = formatSource(o.source) ?? 'input';
    const there = formatSource(earlier.source) ?? 'input';
    const message = oneIsCopy
      ? `the copy in ConfigMap ${(o.configMap ?? earlier.configMap)!.replace(/^ConfigMap /, '')} differs from the object itself (${there} and ${here}); synthesize again so they agree`
      : `defined twice: in ${there} and in ${here}; each kind, namespace and name may appear once`;
    const d = diagnostic('duplicateObject', { object: objectRef(o.object), message });
    if (o.source) d.source = o.source;
    diagnostics.push(d);
  }
  return [...kept.values()];
}

/** JSON with sorted keys, so two renderings of one object compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const r = value as Record<string, unknown>;
    return `{${Object.keys(r)
      .filter((k) => r[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(r[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Loading configuration from files and folders: every `.yaml`, `.yml` and `.json` file, folders
 * walked recursively in sorted order, parsed with lib/api. Two objects with the same kind,
 * namespace and name across the inputs are refused, naming both places.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
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
    else if (entry.isFile() && EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
  }
  return out;
}

/** Keeps the first of each kind/namespace/name and reports every later one, naming both places. */
export function refuseDuplicates(objects: LoadedObject[], diagnostics: Diagnostic[]): LoadedObject[] {
  const first = new Map<string, LoadedObject>();
  const kept: LoadedObject[] = [];
  for (const o of objects) {
    const key = objectKey(o.object);
    const earlier = first.get(key);
    if (!earlier) {
      first.set(key, o);
      kept.push(o);
      continue;
    }
    const here = formatSource(o.source) ?? 'input';
    const there = formatSource(earlier.source) ?? 'input';
    const d = diagnostic('duplicateObject', {
      object: objectRef(o.object),
      message: `defined twice: in ${there} and in ${here}; each kind, namespace and name may appear once`,
    });
    if (o.source) d.source = o.source;
    diagnostics.push(d);
  }
  return kept;
}

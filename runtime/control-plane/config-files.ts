/**
 * Reads mesh configuration from files and folders with the configuration language's loader
 * (runtime/config/load.ts): YAML or JSON, many documents per file, `List` objects, and ConfigMaps
 * named `tsmesh-config*` whose data values are YAML documents. Entries starting with `.` are
 * skipped, which skips the kubelet's `..data` and timestamped folders while the top-level
 * symlinks into them are followed.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Diagnostic } from '../../lib/api/diagnostics.js';
import { parseObjects, parseYaml } from '../../lib/api/parse.js';
import type { MeshObject } from '../../lib/api/types.js';
import { validateObjects } from '../../lib/api/validate.js';
import { loadConfigPaths } from '../config/load.js';

export interface LoadedConfig {
  objects: MeshObject[];
  diagnostics: Diagnostic[];
  /** Objects of kinds the mesh does not use (RBAC, Secrets, ...), per kind. */
  skipped: Record<string, number>;
  files: string[];
}

const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/i;

/** Every config file under the given paths, sorted (what the watcher fingerprints). */
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

export async function loadConfigFiles(paths: readonly string[]): Promise<LoadedConfig> {
  const result = await loadConfigPaths([...paths]);
  return {
    objects: result.objects.map((o) => o.object),
    diagnostics: result.diagnostics,
    skipped: result.skipped,
    files: result.files,
  };
}

/** Objects given to the admin API, as YAML text or as an array of plain objects. */
export function parseAdminObjects(input: { yaml?: string; objects?: unknown[] }): LoadedConfig {
  const parsed =
    input.yaml !== undefined ? parseYaml(input.yaml, 'request') : parseObjects(input.objects ?? []);
  return {
    objects: parsed.objects.map((o) => o.object),
    diagnostics: parsed.diagnostics,
    skipped: parsed.skipped,
    files: [],
  };
}

/** The check every configuration passes before it is served (lib/api, bundled runtime). */
export function validateMeshObjects(objects: readonly MeshObject[]): Diagnostic[] {
  return validateObjects(objects, { target: 'bundled' });
}

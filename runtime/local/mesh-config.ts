/**
 * The configuration a running local mesh serves: the objects of its files with what
 * `tsmesh apply`/`delete` changed layered over them by (kind, namespace, name), as the control
 * plane persists it (<state-dir>/control-plane/applied.json). `tsmesh explain --mesh` and
 * `tsmesh analyze --mesh` read it from one file this module writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { objectKey } from '../../lib/api/types.js';
import { CONFIG_MAP_NAME } from '../../lib/constants.js';
import { readManifests } from './manifests.js';
import { findMesh } from './mesh-ref.js';

interface OverlayFile {
  overlay?: Record<string, Record<string, unknown> | null>;
}

/** Writes the running mesh's objects to `<state-dir>/mesh-config.yaml` and returns its path. */
export function writeRunningMeshConfig(stateDir: string): string {
  const state = findMesh(stateDir);
  const objects = new Map<string, unknown>();
  for (const { object } of readManifests(state.files).objects) {
    // The ConfigMap copies of the same objects would be read again (and could be stale).
    if (object.kind === 'ConfigMap' && object.metadata.name.startsWith(CONFIG_MAP_NAME)) continue;
    objects.set(objectKey(object), object);
  }
  let overlay: OverlayFile['overlay'] = {};
  try {
    overlay = (
      JSON.parse(readFileSync(join(state.stateDir, 'control-plane', 'applied.json'), 'utf8')) as OverlayFile
    ).overlay;
  } catch {}
  for (const [key, obj] of Object.entries(overlay ?? {})) {
    if (obj === null) objects.delete(key);
    else objects.set(key, obj);
  }
  const file = join(state.stateDir, 'mesh-config.yaml');
  writeFileSync(file, [...objects.values()].map((o) => stringify(o)).join('---\n'), { mode: 0o600 });
  return file;
}

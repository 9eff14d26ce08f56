/**
 * The configuration the control plane serves: the objects from the config files, with objects
 * applied through the admin API layered over them by (kind, namespace, name). A change is
 * accepted only when the merged result validates; otherwise the last good configuration stays
 * and the error is kept for status and metrics.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { type Diagnostic, diagnostic } from '../../lib/api/diagnostics.js';
import { type MeshObject, objectKey, objectRef } from '../../lib/api/types.js';
import { canonicalJson } from '../../lib/protocol/canonical.js';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';
import type { LoadedConfig } from './config-files.js';

export type ConfigLoader = (paths: readonly string[]) => Promise<LoadedConfig>;
export type ConfigValidator = (objects: readonly MeshObject[]) => Diagnostic[];

interface OverlayFile {
  /** Applied objects by key; `null` marks a deletion of a file object. */
  overlay: Record<string, MeshObject | null>;
  /** When the control plane first accepted each object (its creation time when none is set). */
  firstSeen: Record<string, string>;
}

export interface ConfigError {
  at: string;
  message: string;
  diagnostics: Diagnostic[];
}

export interface ChangeResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  changed: string[];
  version: number;
}

export class ConfigStore extends EventEmitter<{ change: [version: number]; error: [ConfigError] }> {
  private fileObjects: MeshObject[] = [];
  private overlay = new Map<string, MeshObject | null>();
  private firstSeen = new Map<string, string>();
  private merged: MeshObject[] = [];
  private mergedByKey = new Map<string, string>();
  version = 0;
  loadedAt?: string;
  lastError?: ConfigError;
  errorCount = 0;
  skipped: Record<string, number> = {};
  private readonly statePath: string;
  /** Each object with the creation time filled in, by the object as loaded or applied. */
  private readonly stamped = new WeakMap<MeshObject, MeshObject>();
  private readonly json = new WeakMap<MeshObject, string>();

  constructor(
    private readonly options: {
      paths: readonly string[];
      stateDir: string;
      load: ConfigLoader;
      validate: ConfigValidator;
    },
  ) {
    super();
    this.statePath = join(options.stateDir, 'applied.json');
  }

  get objects(): readonly MeshObject[] {
    return this.merged;
  }

  /** Restores the applied objects persisted by an earlier run, then loads the files. */
  async open(): Promise<ChangeResult> {
    const saved = await readJsonFile<OverlayFile>(this.statePath);
    if (saved) {
      this.overlay = new Map(Object.entries(saved.overlay ?? {}));
      this.firstSeen = new Map(Object.entries(saved.firstSeen ?? {}));
    }
    return this.reload();
  }

  /** Re-reads the files. Invalid content is refused and the last good configuration kept. */
  async reload(): Promise<ChangeResult> {
    const loaded = await this.options.load(this.options.paths);
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0) return this.refuse('config files are invalid', loaded.diagnostics);
    const candidate = merge(loaded.objects, this.overlay);
    const diagnostics = this.options.validate(candidate);
    if (diagnostics.some((d) => d.severity === 'error'))
      return this.refuse('config files are invalid', diagnostics);
    this.fileObjects = loaded.objects;
    this.skipped = loaded.skipped;
    this.lastError = undefined;
    return this.commit(candidate, [...loaded.diagnostics, ...diagnostics]);
  }

  /** Layers objects over the files' objects; persisted before it takes effect. */
  async apply(objects: readonly MeshObject[]): Promise<ChangeResult> {
    const overlay = new Map(this.overlay);
    for (const obj of objects) overlay.set(objectKey(obj), obj);
    return this.changeOverlay(overlay);
  }

  /** Removes objects (applied ones, and file ones by a tombstone until they are applied again). */
  async delete(
    refs: readonly { kind: string; metadata: { name: string; namespace?: string } }[],
  ): Promise<ChangeResult> {
    const overlay = new Map(this.overlay);
    const missing: Diagnostic[] = [];
    for (const ref of refs) {
      const key = objectKey(ref);
      if (!this.mergedByKey.has(key)) {
        missing.push(
          diagnostic('referencedResourceNotFound', {
            object: objectRef(ref),
            message: `${objectRef(ref)} does not exist`,
          }),
        );
        continue;
      }
      const inFiles = this.fileObjects.some((o) => objectKey(o) === key);
      if (inFiles) overlay.set(key, null);
      else overlay.delete(key);
    }
    if (missing.length > 0) return { ok: false, diagnostics: missing, changed: [], version: this.version };
    return this.changeOverlay(overlay);
  }

  private async changeOverlay(overlay: Map<string, MeshObject | null>): Promise<ChangeResult> {
    const candidate = merge(this.fileObjects, overlay);
    const diagnostics = this.options.validate(candidate);
    if (diagnostics.some((d) => d.severity === 'error')) {
      return { ok: false, diagnostics, changed: [], version: this.version };
    }
    const previous = this.overlay;
    this.overlay = overlay;
    try {
      await this.persist(candidate);
    } catch (err) {
      this.overlay = previous;
      throw err;
    }
    return this.commit(candidate, diagnostics);
  }

  private refuse(message: string, diagnostics: Diagnostic[]): ChangeResult {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const summary = first
      ? `${message}: ${first.object ? `${first.object}: ` : ''}${first.path ? `${first.path}: ` : ''}${first.message}`
      : message;
    this.lastError = { at: new Date().toISOString(), message: summary, diagnostics: errors };
    this.errorCount++;
    this.emit('error', this.lastError);
    return { ok: false, diagnostics, changed: [], version: this.version };
  }

  private async persist(candidate: readonly MeshObject[]): Promise<void> {
    this.stampFirstSeen(candidate);
    const file: OverlayFile = {
      overlay: Object.fromEntries([...this.overlay].sort(([a], [b]) => (a < b ? -1 : 1))),
      firstSeen: Object.fromEntries(this.firstSeen),
    };
    await writeFileAtomic(this.statePath, `${JSON.stringify(file, null, 1)}\n`);
  }

  private jsonOf(obj: MeshObject): string {
    let json = this.json.get(obj);
    if (json === undefined) {
      json = canonicalJson(obj);
      this.json.set(obj, json);
    }
    return json;
  }

  private stampFirstSeen(candidate: readonly MeshObject[]): boolean {
    const now = new Date().toISOString();
    let added = false;
    for (const obj of candidate) {
      const key = objectKey(obj);
      if (!this.firstSeen.has(key)) {
        this.firstSeen.set(key, obj.metadata.creationTimestamp ?? now);
        added = true;
      }
    }
    return added;
  }

  private commit(candidate: MeshObject[], diagnostics: Diagnostic[]): ChangeResult {
    if (this.stampFirstSeen(candidate)) {
      // Keep the times stable across restarts; losing this write only re-stamps new objects.
      void this.persist(candidate).catch(() => {});
    }
    // An unchanged object keeps its identity across changes, so what is cached by object (its
    // serialization here, its snapshot resource in the builder) is reused.
    const stamped = candidate.map((obj) => {
      if (obj.metadata.creationTimestamp) return obj;
      const ts = this.firstSeen.get(objectKey(obj));
      if (!ts) return obj;
      const cached = this.stamped.get(obj);
      if (cached?.metadata.creationTimestamp === ts) return cached;
      const copy = { ...obj, metadata: { ...obj.metadata, creationTimestamp: ts } } as MeshObject;
      this.stamped.set(obj, copy);
      return copy;
    });
    const byKey = new Map(stamped.map((o) => [objectKey(o), this.jsonOf(o)]));
    const changed: string[] = [];
    for (const [key, json] of byKey) if (this.mergedByKey.get(key) !== json) changed.push(key);
    for (const key of this.mergedByKey.keys()) if (!byKey.has(key)) changed.push(key);
    this.loadedAt ??= new Date().toISOString();
    if (changed.length > 0) {
      this.merged = stamped;
      this.mergedByKey = byKey;
      this.version++;
      this.loadedAt = new Date().toISOString();
      this.emit('change', this.version);
    }
    return { ok: true, diagnostics, changed: changed.map(keyToRef), version: this.version };
  }
}

function keyToRef(key: string): string {
  const [kind, ns, name] = key.split('/');
  return kind === 'Namespace' ? `Namespace ${name}` : `${kind} ${ns}/${name}`;
}

function merge(files: readonly MeshObject[], overlay: ReadonlyMap<string, MeshObject | null>): MeshObject[] {
  const out = new Map<string, MeshObject>();
  for (const obj of files) out.set(objectKey(obj), obj);
  for (const [key, obj] of overlay) {
    if (obj === null) out.delete(key);
    else out.set(key, obj);
  }
  return [...out.values()];
}

/**
 * The workload registry: which pods run where. Sidecars register themselves over mTLS; the local
 * runner registers unmeshed pods as a trusted source. Behind an interface so Kubernetes DNS or API
 * sources can be added.
 *
 * Endpoints must not flap: a sidecar that disconnects keeps its entry for a grace period, and
 * after a restart the persisted entries are restored and kept through a warm-up period, so a
 * control-plane restart never pushes an empty mesh.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { WorkloadInstance } from '../../lib/model.js';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

export type RegistrationSource = 'proxy' | 'trusted';

export interface WorkloadRegistry extends EventEmitter<{ change: [] }> {
  list(): readonly WorkloadInstance[];
  /** Registers or refreshes a pod; `owner` identifies the connection holding a proxy entry. */
  upsert(instance: WorkloadInstance, source: RegistrationSource, owner?: object): void;
  /** The connection `owner` went away: keep the entry for the grace period, then drop it. */
  release(namespace: string, name: string, owner: object): void;
  remove(namespace: string, name: string): boolean;
  readonly warmingUp: boolean;
}

interface Entry {
  instance: WorkloadInstance;
  source: RegistrationSource;
  owner?: object;
  /** Milliseconds since the epoch when an unowned proxy entry goes away. */
  expiresAt?: number;
}

export interface LocalRegistryOptions {
  stateDir: string;
  /** How long a disconnected sidecar's endpoints stay. @default 30000 */
  graceMs?: number;
  /** How long restored entries stay without their sidecar reconnecting. @default 60000 */
  warmupMs?: number;
  /** @default 1000 */
  sweepMs?: number;
}

const key = (ns: string, name: string): string => `${ns}/${name}`;

export class LocalRegistry extends EventEmitter<{ change: [] }> implements WorkloadRegistry {
  private entries = new Map<string, Entry>();
  private readonly path: string;
  private readonly options: Required<LocalRegistryOptions>;
  private sweeper?: NodeJS.Timeout;
  private warmupEnds = 0;
  private saving?: Promise<void>;
  private saveAgain = false;
  private cached?: WorkloadInstance[];

  constructor(options: LocalRegistryOptions) {
    super();
    this.options = { graceMs: 30_000, warmupMs: 60_000, sweepMs: 1000, ...options };
    this.path = join(options.stateDir, 'registry.json');
  }

  get warmingUp(): boolean {
    return Date.now() < this.warmupEnds;
  }

  async open(): Promise<void> {
    const saved = await readJsonFile<{
      entries: { instance: WorkloadInstance; source: RegistrationSource }[];
    }>(this.path);
    const now = Date.now();
    for (const e of saved?.entries ?? []) {
      const restored: Entry = { instance: e.instance, source: e.source };
      if (e.source === 'proxy') restored.expiresAt = now + this.options.warmupMs;
      this.entries.set(key(e.instance.namespace, e.instance.name), restored);
    }
    if (saved?.entries.some((e) => e.source === 'proxy')) this.warmupEnds = now + this.options.warmupMs;
    this.sweeper = setInterval(() => this.sweep(), this.options.sweepMs);
    this.sweeper.unref();
  }

  list(): readonly WorkloadInstance[] {
    this.cached ??= [...this.entries.values()]
      .map((e) => e.instance)
      .sort((a, b) => (a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace)));
    return this.cached;
  }

  upsert(instance: WorkloadInstance, source: RegistrationSource, owner?: object): void {
    const k = key(instance.namespace, instance.name);
    const before = this.entries.get(k);
    this.entries.set(k, { instance, source, ...(owner ? { owner } : {}) });
    if (!before || JSON.stringify(before.instance) !== JSON.stringify(instance) || before.source !== source) {
      this.changed();
    }
  }

  release(namespace: string, name: string, owner: object): void {
    const entry = this.entries.get(key(namespace, name));
    if (!entry || entry.owner !== owner) return;
    entry.owner = undefined;
    entry.expiresAt = Date.now() + this.options.graceMs;
  }

  remove(namespace: string, name: string): boolean {
    const removed = this.entries.delete(key(namespace, name));
    if (removed) this.changed();
    return removed;
  }

  private sweep(): void {
    const now = Date.now();
    let removed = false;
    for (const [k, e] of this.entries) {
      if (!e.owner && e.expiresAt !== undefined && e.expiresAt <= now) {
        this.entries.delete(k);
        removed = true;
      }
    }
    if (removed) this.changed();
  }

  private changed(): void {
    this.cached = undefined;
    this.emit('change');
    void this.save();
  }

  /** Persists the entries; writes are serialized and coalesced. */
  private async save(): Promise<void> {
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    this.saving = (async () => {
      do {
        this.saveAgain = false;
        const entries = [...this.entries.values()].map((e) => ({ instance: e.instance, source: e.source }));
        try {
          await writeFileAtomic(this.path, JSON.stringify({ entries }));
        } catch {
          // The state folder may be gone during shutdown; the next change writes again.
        }
      } while (this.saveAgain);
    })();
    try {
      await this.saving;
    } finally {
      this.saving = undefined;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.saving;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

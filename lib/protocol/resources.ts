/**
 * Snapshots as resources (protocol version 3). A snapshot is three sections: the proxy identity,
 * the config objects keyed by `kind/namespace/name`, and the workload instances keyed by
 * `namespace/name`. Every resource has its own hash, every section a hash over its sorted
 * (key, resource hash) list, and the snapshot a hash over the three section hashes. A delta
 * carries only the resources that changed; the receiver applies it to the snapshot it holds and
 * recomputes the hashes, so it proves which content it applied without rehashing everything.
 *
 * Both the proxy's discovery client and the benchmark's simulated sidecars receive snapshots
 * through `receiveSnapshot` here, so what the benchmark measures is what a sidecar does.
 */
import { createHash } from 'node:crypto';
import { type MeshObject, objectKey } from '../api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../model.js';
import { type ProxySnapshot, SNAPSHOT_SCHEMA } from '../snapshot.js';
import { canonicalJson, snapshotHash } from './canonical.js';
import type { DeltaMessage, SnapshotMessage } from './messages.js';

/** The key of a config object resource. */
export const objectResourceKey = (o: MeshObject): string => objectKey(o);
/** The key of a workload instance resource. */
export const workloadResourceKey = (w: { namespace: string; name: string }): string =>
  `${w.namespace}/${w.name}`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** sha256 hex of a resource's canonical JSON. */
export function resourceHash(value: unknown): string {
  return sha256(canonicalJson(value));
}

/** sha256 hex over `"key" hash\n` lines in key order (keys are sorted by the caller). */
export function sectionHash(keys: readonly string[], hashOf: (key: string) => string): string {
  const h = createHash('sha256');
  let chunk = '';
  for (const key of keys) {
    chunk += sectionLine(key, hashOf(key));
    if (chunk.length > 16384) {
      h.update(chunk);
      chunk = '';
    }
  }
  return h.update(chunk).digest('hex');
}

/** The version 3 snapshot hash, from the hashes of its three sections. */
export function resourceSnapshotHash(proxyHash: string, objectsHash: string, workloadsHash: string): string {
  return sha256(
    `tsmesh.snapshot.v3\nproxy ${proxyHash}\nobjects ${objectsHash}\nworkloads ${workloadsHash}\n`,
  );
}

/** Code-unit order, the order of every section. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Entry<T> {
  value: T;
  hash: string;
  /** Its line in the section hash. */
  line: string;
}

function entry<T>(key: string, value: T): Entry<T> {
  const hash = resourceHash(value);
  return { value, hash, line: sectionLine(key, hash) };
}

const sectionLine = (key: string, hash: string): string => `${JSON.stringify(key)} ${hash}\n`;

function linesHash(keys: readonly string[], entries: ReadonlyMap<string, { line: string }>): string {
  const h = createHash('sha256');
  let chunk = '';
  for (const key of keys) {
    chunk += entries.get(key)!.line;
    if (chunk.length > 16384) {
      h.update(chunk);
      chunk = '';
    }
  }
  return h.update(chunk).digest('hex');
}

/** One section of a held snapshot: resources by key, in key order, with their hashes. Immutable. */
export class ResourceSection<T extends object> {
  private list?: T[];

  private constructor(
    private readonly entries: ReadonlyMap<string, Entry<T>>,
    /** Keys in order. */
    readonly keys: readonly string[],
    readonly hash: string,
  ) {}

  static from<T extends object>(
    what: string,
    values: readonly T[],
    keyOf: (value: T) => string,
  ): ResourceSection<T> {
    const entries = new Map<string, Entry<T>>();
    for (const value of values) {
      const key = keyOf(value);
      if (entries.has(key)) throw new Error(`${what}: ${key} appears twice`);
      entries.set(key, entry(key, value));
    }
    const keys = [...entries.keys()].sort(compareKeys);
    return new ResourceSection(entries, keys, linesHash(keys, entries));
  }

  get size(): number {
    return this.keys.length;
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  /** The resources in key order (one array per section, shared by the snapshots that hold it). */
  values(): T[] {
    this.list ??= this.keys.map((k) => this.entries.get(k)!.value);
    return this.list;
  }

  /** A new section with `upserts` added or replaced and `removals` dropped; this one is unchanged. */
  apply(
    what: string,
    upserts: readonly T[],
    removals: readonly string[],
    keyOf: (value: T) => string,
  ): ResourceSection<T> {
    if (upserts.length === 0 && removals.length === 0) return this;
    const entries = new Map(this.entries);
    let keysChanged = false;
    const seen = new Set<string>();
    for (const key of removals) {
      if (!entries.delete(key)) throw new Error(`${what}: cannot remove ${key}, it is not held`);
      keysChanged = true;
    }
    for (const value of upserts) {
      const key = keyOf(value);
      if (seen.has(key)) throw new Error(`${what}: ${key} appears twice`);
      seen.add(key);
      if (!entries.has(key)) keysChanged = true;
      entries.set(key, entry(key, value));
    }
    const keys = keysChanged ? [...entries.keys()].sort(compareKeys) : this.keys;
    return new ResourceSection(entries, keys, linesHash(keys, entries));
  }
}

/** A snapshot as a proxy holds it under protocol version 3. Immutable. */
export class ResourceSnapshot {
  readonly hash: string;

  constructor(
    readonly proxy: ProxyIdentity,
    readonly proxyHash: string,
    readonly objects: ResourceSection<MeshObject>,
    readonly workloads: ResourceSection<WorkloadInstance>,
    readonly version: number,
    readonly createdAt: string,
  ) {
    this.hash = resourceSnapshotHash(proxyHash, objects.hash, workloads.hash);
  }

  /** Reads a whole snapshot body. Throws when it is malformed. */
  static fromBody(version: number, body: ProxySnapshot): ResourceSnapshot {
    return new ResourceSnapshot(
      body.proxy,
      resourceHash(body.proxy),
      ResourceSection.from('snapshot objects', body.objects, objectResourceKey),
      ResourceSection.from('snapshot workloads', body.workloads, workloadResourceKey),
      version,
      typeof body.createdAt === 'string' ? body.createdAt : '',
    );
  }

  /** This snapshot with a delta applied. Throws when the delta does not fit it. */
  apply(delta: DeltaMessage): ResourceSnapshot {
    const proxy = delta.proxy ?? this.proxy;
    return new ResourceSnapshot(
      proxy,
      delta.proxy ? resourceHash(delta.proxy) : this.proxyHash,
      this.objects.apply('delta objects', delta.objects ?? [], delta.removedObjects ?? [], objectResourceKey),
      this.workloads.apply(
        'delta workloads',
        delta.workloads ?? [],
        delta.removedWorkloads ?? [],
        workloadResourceKey,
      ),
      delta.version,
      delta.createdAt,
    );
  }

  /** The snapshot as the proxy's compilers take it (objects and workloads in key order). */
  toSnapshot(): ProxySnapshot {
    return {
      schema: SNAPSHOT_SCHEMA,
      version: this.version,
      hash: this.hash,
      proxy: this.proxy,
      objects: this.objects.values(),
      workloads: this.workloads.values(),
      createdAt: this.createdAt,
    };
  }
}

/** What the receiver holds: a v3 resource snapshot, or (v1/v2) only the plain snapshot. */
export interface HeldSnapshot {
  snapshot: ProxySnapshot;
  /** Present when the snapshot arrived over protocol version 3. */
  resources?: ResourceSnapshot;
}

export type Received =
  | { ok: true; held: HeldSnapshot; hash?: string }
  | { ok: false; error: string; resync?: boolean };

/**
 * Checks and applies one `snapshot` or `delta` frame to what the receiver holds, and computes the
 * hash to ACK with. Nothing the receiver holds is changed: on success it switches to `held`.
 */
export function receiveSnapshot(
  current: HeldSnapshot | undefined,
  msg: SnapshotMessage | DeltaMessage,
  protocolVersion: number,
): Received {
  if (msg.type === 'delta') {
    if (protocolVersion < 3)
      return { ok: false, error: 'delta received on a protocol version without deltas' };
    if (msg.schema !== SNAPSHOT_SCHEMA) return unknownSchema(msg.schema);
    const base = current?.resources;
    if (!base || base.hash !== msg.base.hash) {
      return {
        ok: false,
        resync: true,
        error: `delta applies to snapshot ${msg.base.version}, this proxy holds ${current ? current.snapshot.version : 'none'}`,
      };
    }
    let next: ResourceSnapshot;
    try {
      next = base.apply(msg);
    } catch (err) {
      return { ok: false, resync: true, error: (err as Error).message };
    }
    if (next.hash !== msg.hash) {
      return {
        ok: false,
        resync: true,
        error: `snapshot hash mismatch after delta: computed ${next.hash}, frame says ${msg.hash}`,
      };
    }
    return { ok: true, held: { snapshot: next.toSnapshot(), resources: next }, hash: next.hash };
  }
  const body = msg.body as ProxySnapshot & { schema: string };
  if (body.schema !== SNAPSHOT_SCHEMA) return unknownSchema(body.schema);
  if (!Array.isArray(body.objects) || !Array.isArray(body.workloads) || typeof body.proxy !== 'object') {
    return { ok: false, error: 'snapshot body lacks proxy, objects or workloads' };
  }
  if (protocolVersion >= 3) {
    let resources: ResourceSnapshot;
    try {
      resources = ResourceSnapshot.fromBody(msg.version, body);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    if (resources.hash !== msg.hash || resources.hash !== body.hash) {
      return {
        ok: false,
        error: `snapshot hash mismatch: computed ${resources.hash}, frame says ${msg.hash}`,
      };
    }
    return { ok: true, held: { snapshot: resources.toSnapshot(), resources }, hash: resources.hash };
  }
  if (protocolVersion === 2) {
    const hash = snapshotHash(body);
    if (hash !== msg.hash || hash !== body.hash) {
      return { ok: false, error: `snapshot hash mismatch: computed ${hash}, frame says ${msg.hash}` };
    }
    return { ok: true, held: { snapshot: body }, hash };
  }
  return { ok: true, held: { snapshot: body } };
}

function unknownSchema(schema: unknown): Received {
  return {
    ok: false,
    error: `unknown snapshot schema ${JSON.stringify(schema)}; this proxy understands ${SNAPSHOT_SCHEMA}`,
  };
}

/**
 * ConfigMap `tsmesh-config`: the MeshConfig document under `mesh.yaml` and, per namespace, a
 * multi-document YAML of that namespace's mesh objects under `<namespace>.yaml`. When the data
 * outgrows one ConfigMap it is sharded into `tsmesh-config-1`, `tsmesh-config-2`, ... (whole
 * namespaces per shard); a namespace too large for one ConfigMap is refused.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { stringify } from 'yaml';
import { CONFIG_MAP_NAME } from '../../lib/constants.js';
import { sortKeysDeep } from './validate-input.js';

/** Kubernetes refuses a ConfigMap over 1 MiB; stay clear of it (metadata and encoding overhead). */
export const CONFIG_MAP_LIMIT_BYTES = 900 * 1024;

const KIND_ORDER = [
  'ServiceAccount',
  'Service',
  'Deployment',
  'Gateway',
  'ServiceEntry',
  'VirtualService',
  'DestinationRule',
  'Sidecar',
  'PeerAuthentication',
  'AuthorizationPolicy',
];

export interface ConfigMapsProps {
  readonly namespace: string;
  readonly meshConfig: () => Record<string, unknown>;
  readonly objects: () => Record<string, any>[];
  /** @default CONFIG_MAP_LIMIT_BYTES */
  readonly limitBytes?: number;
}

export class ConfigMaps extends Construct {
  private readonly props: ConfigMapsProps;
  private readonly shards: ApiObject[] = [];

  public constructor(scope: Construct, id: string, props: ConfigMapsProps) {
    super(scope, id);
    this.props = props;
    this.addShard();
    // The number of shards depends on every object of the mesh, known only once the program has
    // run: validation (which cdk8s runs before rendering) adds the shards the data needs.
    this.node.addValidation({ validate: () => this.prepare() });
  }

  /** Names of the ConfigMaps, `tsmesh-config` first. */
  public names(): string[] {
    return this.shards.map((_, i) => shardName(i));
  }

  /** The data of every ConfigMap, computed from the current objects. */
  public data(): Record<string, string>[] {
    const limit = this.props.limitBytes ?? CONFIG_MAP_LIMIT_BYTES;
    const entries = Object.entries(renderConfigData(this.props.meshConfig(), this.props.objects()));
    const shards: Record<string, string>[] = [{}];
    let size = 0;
    for (const [key, value] of entries) {
      const bytes = Buffer.byteLength(key) + Buffer.byteLength(value);
      if (bytes > limit) {
        throw new Error(
          `mesh config: '${key}' holds ${kib(bytes)} KiB of mesh objects, more than the ${kib(limit)} KiB one ConfigMap can carry (Kubernetes caps a ConfigMap at 1 MiB); spread the namespace's services over several namespaces`,
        );
      }
      if (size + bytes > limit) {
        shards.push({});
        size = 0;
      }
      shards[shards.length - 1][key] = value;
      size += bytes;
    }
    return shards;
  }

  private prepare(): string[] {
    let count: number;
    try {
      count = this.data().length;
    } catch (err) {
      return [(err as Error).message];
    }
    while (this.shards.length < count) this.addShard();
    while (this.shards.length > count) {
      const last = this.shards.pop()!;
      this.node.tryRemoveChild(last.node.id);
    }
    return [];
  }

  private addShard(): void {
    const index = this.shards.length;
    this.shards.push(
      new ApiObject(this, `Shard${index}`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: shardName(index), namespace: this.props.namespace },
        data: Lazy.any({ produce: () => this.data()[index] ?? {} }),
      }),
    );
  }
}

function shardName(index: number): string {
  return index === 0 ? CONFIG_MAP_NAME : `${CONFIG_MAP_NAME}-${index}`;
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(0);
}

/** `mesh.yaml` plus `<namespace>.yaml` per namespace, keys sorted, documents sorted. */
export function renderConfigData(
  meshConfig: Record<string, unknown>,
  objects: readonly Record<string, any>[],
): Record<string, string> {
  const byNamespace = new Map<string, Record<string, any>[]>();
  for (const obj of objects) {
    const doc = obj.kind === 'Deployment' ? trimDeployment(obj) : obj;
    const ns = doc.metadata?.namespace ?? 'default';
    if (!byNamespace.has(ns)) byNamespace.set(ns, []);
    byNamespace.get(ns)!.push(doc);
  }
  const data: Record<string, string> = { 'mesh.yaml': toYaml([meshConfig]) };
  for (const ns of [...byNamespace.keys()].sort()) {
    const docs = byNamespace.get(ns)!.sort(compareObjects);
    data[`${ns}.yaml`] = toYaml(docs);
  }
  return data;
}

function compareObjects(a: Record<string, any>, b: Record<string, any>): number {
  const ka = rank(a.kind);
  const kb = rank(b.kind);
  if (ka !== kb) return ka - kb;
  const na = String(a.metadata?.name ?? '');
  const nb = String(b.metadata?.name ?? '');
  return na < nb ? -1 : na > nb ? 1 : 0;
}

function rank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

function toYaml(docs: readonly unknown[]): string {
  return docs.map((d) => stringify(sortKeysDeep(d), { lineWidth: 0 })).join('---\n');
}

/**
 * The part of a Deployment the control plane checks registrations against: metadata, replicas,
 * selector, the pod template's labels and annotations, service account and the containers'
 * names and ports (never the sidecar's).
 */
export function trimDeployment(obj: Record<string, any>): Record<string, any> {
  const spec = obj.spec ?? {};
  const template = spec.template ?? {};
  const pod = template.spec ?? {};
  const all = pod.containers ?? [];
  // A sidecar is not part of the workload's declaration; a gateway's proxy is the workload.
  const containers = (all.length > 1 ? all.filter((c: any) => c.name !== 'tsmesh-proxy') : all).map(
    (c: any) => (c.ports ? { name: c.name, ports: c.ports } : { name: c.name }),
  );
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: obj.metadata,
    spec: {
      replicas: spec.replicas,
      selector: spec.selector,
      template: {
        metadata: { labels: template.metadata?.labels, annotations: template.metadata?.annotations },
        spec: { serviceAccountName: pod.serviceAccountName, containers },
      },
    },
  };
}

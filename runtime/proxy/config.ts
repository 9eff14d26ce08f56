/**
 * The active configuration: everything compiled from one snapshot, once, so the request path
 * only reads. A new snapshot builds a new ActiveConfig; clusters are reconciled so endpoint
 * pools and outlier state survive updates.
 */

import type { WorkloadInstance } from '../../lib/model.js';
import { compileRoutes } from '../../lib/routing/compile.js';
import type { RouteTable } from '../../lib/routing/table.js';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import { compileInboundPolicy, type InboundPolicy } from './inbound-policy.js';
import {
  type ServiceFacts,
  serviceFacts,
  type WorkloadFacts,
  WorkloadFactsCache,
  workloadFactsFromProxy,
} from './telemetry/index.js';
import { type ClusterEnvironment, UpstreamCluster } from './upstream/cluster.js';

export interface ActiveConfig {
  snapshot: ProxySnapshot;
  table: RouteTable;
  clusters: Map<string, UpstreamCluster>;
  inbound: InboundPolicy;
  /** Telemetry facts, stable per snapshot (the metrics key series by object identity). */
  localFacts: WorkloadFacts;
  localService: ServiceFacts;
  endpointFacts: Map<string, WorkloadFacts>;
  serviceFacts: Map<string, ServiceFacts>;
  appliedAt: Date;
}

/** Checks the snapshot's shape before compiling it (a bad one is NACKed). */
export function checkSnapshot(snapshot: ProxySnapshot): void {
  if (!snapshot || typeof snapshot !== 'object') throw new Error('snapshot: not an object');
  if (snapshot.schema !== SNAPSHOT_SCHEMA) {
    throw new Error(
      `snapshot: schema '${String(snapshot.schema)}' is not supported (want '${SNAPSHOT_SCHEMA}')`,
    );
  }
  if (!Number.isInteger(snapshot.version)) throw new Error('snapshot: version must be an integer');
  if (!snapshot.proxy || typeof snapshot.proxy.namespace !== 'string')
    throw new Error('snapshot: proxy is missing');
  if (!Array.isArray(snapshot.objects)) throw new Error('snapshot: objects must be an array');
  if (!Array.isArray(snapshot.workloads)) throw new Error('snapshot: workloads must be an array');
}

/** Compiles a snapshot. Throws (and changes nothing) when it cannot be used. */
export function buildActiveConfig(
  snapshot: ProxySnapshot,
  previous: ActiveConfig | undefined,
  env: ClusterEnvironment,
): ActiveConfig {
  checkSnapshot(snapshot);
  const table = compileRoutes({ objects: snapshot.objects, workloads: snapshot.workloads }, snapshot.proxy);
  const inbound = compileInboundPolicy(snapshot, table);
  const clusters = new Map<string, UpstreamCluster>();
  for (const [key, cluster] of table.clusters) {
    const existing = previous?.clusters.get(key);
    if (existing) {
      void existing.update(cluster);
      clusters.set(key, existing);
    } else {
      clusters.set(key, new UpstreamCluster(cluster, env));
    }
  }
  const byPod = new Map<string, WorkloadInstance>();
  for (const w of snapshot.workloads) byPod.set(`${w.namespace}/${w.name}`, w);
  const cache = new WorkloadFactsCache();
  const endpointFacts = new Map<string, WorkloadFacts>();
  for (const [pod, w] of byPod) endpointFacts.set(pod, cache.of(w));
  const services = new Map<string, ServiceFacts>();
  for (const host of table.services.keys()) services.set(host, serviceFacts(host));
  const localFacts = workloadFactsFromProxy(snapshot.proxy);
  return {
    snapshot,
    table,
    clusters,
    inbound,
    localFacts,
    localService: inbound.localService
      ? serviceFacts(inbound.localService)
      : serviceFacts(localFacts.workload, snapshot.proxy.namespace),
    endpointFacts,
    serviceFacts: services,
    appliedAt: new Date(),
  };
}

/** Closes clusters the new config no longer has. */
export async function retireClusters(previous: ActiveConfig | undefined, next: ActiveConfig): Promise<void> {
  if (!previous) return;
  const gone: UpstreamCluster[] = [];
  for (const [key, c] of previous.clusters) if (!next.clusters.has(key)) gone.push(c);
  await Promise.all(gone.map((c) => c.close()));
}

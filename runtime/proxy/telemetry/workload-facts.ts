/**
 * The facts about a workload that Istio's standard metric labels carry (`*_workload`,
 * `*_workload_namespace`, `*_app`, `*_version`, `*_canonical_service`, `*_canonical_revision`,
 * `*_cluster`). Values are interned, frozen objects: the metrics cache keys series by object
 * identity, so the same workload must always be the same object for a given snapshot.
 */
import { LABELS } from '../../../lib/constants.js';
import type { ProxyIdentity, WorkloadInstance } from '../../../lib/model.js';

/** Every unknown fact is spelled `unknown`, as in Istio. */
export const UNKNOWN = 'unknown';

/** The default value of `source_cluster` / `destination_cluster` (Istio's single-cluster name). */
export const DEFAULT_CLUSTER = 'Kubernetes';

export interface WorkloadFacts {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

/** The destination service of a request: FQDN, short name and namespace. */
export interface ServiceFacts {
  /** FQDN, e.g. `reviews.default.svc.cluster.local` (label `destination_service`). */
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

/** A workload nothing is known about (no peer metadata, no route, no endpoint). */
export const UNKNOWN_WORKLOAD: WorkloadFacts = Object.freeze({
  workload: UNKNOWN,
  namespace: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
  canonicalService: UNKNOWN,
  canonicalRevision: UNKNOWN,
  cluster: UNKNOWN,
});

/** A destination service nothing is known about (for example a request that matched no route). */
export const UNKNOWN_SERVICE: ServiceFacts = Object.freeze({
  host: UNKNOWN,
  name: UNKNOWN,
  namespace: UNKNOWN,
});

const orUnknown = (v: string | undefined): string => (v === undefined || v === '' ? UNKNOWN : v);

/**
 * Builds facts from a workload name, namespace and pod labels. Canonical service and revision
 * are `service.istio.io/canonical-name`/`-revision` when set, else the `app`/`version` labels;
 * a missing canonical service falls back to the workload name and a missing revision to
 * `latest`, as Istio does.
 */
export function workloadFacts(
  workload: string | undefined,
  namespace: string | undefined,
  labels: Readonly<Record<string, string>> = {},
  cluster: string = DEFAULT_CLUSTER,
): WorkloadFacts {
  const app = labels[LABELS.app];
  const version = labels[LABELS.version];
  return Object.freeze({
    workload: orUnknown(workload),
    namespace: orUnknown(namespace),
    app: orUnknown(app),
    version: orUnknown(version),
    canonicalService: orUnknown(labels[LABELS.canonicalName] || app || workload),
    canonicalRevision: orUnknown(labels[LABELS.canonicalRevision] || version || 'latest'),
    cluster: orUnknown(cluster),
  });
}

/** The local workload of a sidecar, from its snapshot's proxy identity. */
export function workloadFactsFromProxy(
  proxy: ProxyIdentity,
  cluster: string = DEFAULT_CLUSTER,
): WorkloadFacts {
  return workloadFacts(proxy.workload, proxy.namespace, proxy.labels, cluster);
}

/**
 * Facts for an endpoint, cached per `WorkloadInstance` object so every request to the same
 * endpoint of a snapshot hands the metrics the same (identity-keyed) object.
 */
export class WorkloadFactsCache {
  readonly #byInstance = new WeakMap<WorkloadInstance, WorkloadFacts>();
  constructor(private readonly cluster: string = DEFAULT_CLUSTER) {}

  of(instance: WorkloadInstance): WorkloadFacts {
    let facts = this.#byInstance.get(instance);
    if (facts === undefined) {
      facts = workloadFacts(instance.workload, instance.namespace, instance.labels, this.cluster);
      this.#byInstance.set(instance, facts);
    }
    return facts;
  }
}

/** `reviews.default.svc.cluster.local` → name `reviews`, namespace `default`; other hosts keep the host as name. */
export function serviceFacts(host: string, namespace?: string): ServiceFacts {
  const dot = host.indexOf('.');
  const svc = host.indexOf('.svc.');
  if (dot > 0 && svc > dot) {
    return Object.freeze({ host, name: host.slice(0, dot), namespace: host.slice(dot + 1, svc) });
  }
  return Object.freeze({ host, name: host, namespace: orUnknown(namespace) });
}

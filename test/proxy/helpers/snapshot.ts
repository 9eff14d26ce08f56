/**
 * Builds ProxySnapshots for tests from a few calls: services, pods (meshed or not), and any
 * Istio objects (VirtualService, DestinationRule, PeerAuthentication, AuthorizationPolicy).
 */
import { createHash } from 'node:crypto';
import type { MeshObject } from '../../../lib/api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../../../lib/model.js';
import { type ProxySnapshot, SNAPSHOT_SCHEMA } from '../../../lib/snapshot.js';

export const TRUST_DOMAIN = 'cluster.local';

export function spiffe(namespace: string, sa: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${namespace}/sa/${sa}`;
}

export interface ServicePortSpec {
  port: number;
  targetPort?: number | string;
  name?: string;
}

/** A Kubernetes Service selecting `app: <app>` (or the given selector). */
export function service(
  name: string,
  ports: ServicePortSpec[],
  options: { namespace?: string; selector?: Record<string, string> } = {},
): MeshObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: options.namespace ?? 'default' },
    spec: {
      selector: options.selector ?? { app: name },
      ports: ports.map((p) => ({
        name: p.name ?? `http-${p.port}`,
        port: p.port,
        targetPort: p.targetPort ?? p.port,
      })),
    },
  };
}

export interface PodSpec {
  name: string;
  app: string;
  version?: string;
  namespace?: string;
  serviceAccount?: string;
  address?: string;
  ports: number[];
  meshed?: boolean;
  labels?: Record<string, string>;
}

/** A registered pod (WorkloadInstance). Meshed pods carry their service account's SPIFFE id. */
export function pod(spec: PodSpec): WorkloadInstance {
  const namespace = spec.namespace ?? 'default';
  const sa = spec.serviceAccount ?? spec.app;
  const meshed = spec.meshed ?? true;
  const labels: Record<string, string> = {
    app: spec.app,
    ...(spec.version ? { version: spec.version } : {}),
    ...spec.labels,
  };
  const w: WorkloadInstance = {
    name: spec.name,
    namespace,
    workload: spec.version ? `${spec.app}-${spec.version}` : spec.app,
    serviceAccount: sa,
    labels,
    address: spec.address ?? '127.0.0.1',
    ports: spec.ports.map((p) => ({ containerPort: p, name: `http-${p}`, protocol: 'http' })),
    meshed,
  };
  if (meshed) w.identity = spiffe(namespace, sa);
  return w;
}

/** The proxy identity of a pod's sidecar. */
export function proxyOf(w: WorkloadInstance): ProxyIdentity {
  return {
    namespace: w.namespace,
    workload: w.workload,
    serviceAccount: w.serviceAccount,
    labels: w.labels,
    pod: w.name,
  };
}

/** Any namespaced Istio object. */
export function istio(kind: string, name: string, spec: unknown, namespace = 'default'): MeshObject {
  const group =
    kind === 'PeerAuthentication' || kind === 'AuthorizationPolicy'
      ? 'security.istio.io'
      : 'networking.istio.io';
  return { apiVersion: `${group}/v1`, kind, metadata: { name, namespace }, spec } as MeshObject;
}

export function snapshot(
  proxy: ProxyIdentity,
  objects: MeshObject[],
  workloads: WorkloadInstance[],
  version = 1,
): ProxySnapshot {
  const hash = createHash('sha256').update(JSON.stringify({ proxy, objects, workloads })).digest('hex');
  return {
    schema: SNAPSHOT_SCHEMA,
    version,
    hash,
    proxy,
    objects,
    workloads,
    createdAt: new Date().toISOString(),
  };
}

/** Builders for routing and policy tests: small config objects, workloads and a seeded PRNG. */
import type {
  DestinationRuleSpec,
  MeshObject,
  ServicePort,
  VirtualServiceSpec,
} from '../../../lib/api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../../../lib/model.js';
import type { RequestAttributes } from '../../../lib/routing/types.js';

/** mulberry32: a tiny deterministic PRNG, so split tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function meta(name: string, namespace = 'default', extra: Record<string, unknown> = {}) {
  return { name, namespace, ...extra };
}

export function service(
  name: string,
  namespace = 'default',
  ports: ServicePort[] = [{ name: 'http', port: 9080 }],
): MeshObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, namespace),
    spec: { selector: { app: name }, ports },
  };
}

export function virtualService(
  name: string,
  spec: VirtualServiceSpec,
  namespace = 'default',
  created?: string,
): MeshObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: meta(name, namespace, created ? { creationTimestamp: created } : {}),
    spec,
  };
}

export function destinationRule(name: string, spec: DestinationRuleSpec, namespace = 'default'): MeshObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: meta(name, namespace),
    spec,
  };
}

export function pod(
  app: string,
  version: string,
  namespace = 'default',
  overrides: Partial<WorkloadInstance> = {},
): WorkloadInstance {
  const sa = `bookinfo-${app}`;
  return {
    name: `${app}-${version}-0`,
    namespace,
    workload: `${app}-${version}`,
    serviceAccount: sa,
    labels: { app, version },
    address: `10.0.0.${Math.floor(Math.random() * 200) + 2}`,
    ports: [{ name: 'http', containerPort: 9080 }],
    meshed: true,
    identity: `spiffe://cluster.local/ns/${namespace}/sa/${sa}`,
    ...overrides,
  };
}

export function proxy(
  namespace = 'default',
  labels: Record<string, string> = { app: 'productpage', version: 'v1' },
): ProxyIdentity {
  return { namespace, workload: `${labels.app ?? 'client'}-v1`, serviceAccount: 'client', labels };
}

export function request(url: string, overrides: Partial<RequestAttributes> = {}): RequestAttributes {
  const u = new URL(url);
  return {
    authority: u.host,
    port: u.port ? Number(u.port) : 80,
    method: 'GET',
    path: u.pathname,
    query: u.search.slice(1),
    headers: {},
    ...overrides,
  };
}

/** Bookinfo's services, with reviews v1..v3. */
export function bookinfo(): { objects: MeshObject[]; workloads: WorkloadInstance[] } {
  const objects = ['productpage', 'details', 'ratings', 'reviews'].map((s) => service(s));
  const workloads = [
    pod('productpage', 'v1'),
    pod('details', 'v1'),
    pod('ratings', 'v1'),
    pod('reviews', 'v1'),
    pod('reviews', 'v2'),
    pod('reviews', 'v3'),
  ];
  return { objects, workloads };
}

export const REVIEWS_SUBSETS: DestinationRuleSpec = {
  host: 'reviews',
  subsets: [
    { name: 'v1', labels: { version: 'v1' } },
    { name: 'v2', labels: { version: 'v2' } },
    { name: 'v3', labels: { version: 'v3' } },
  ],
};

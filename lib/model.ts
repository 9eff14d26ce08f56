/**
 * Runtime facts the control plane learns and ships to sidecars: the workload instances (pods)
 * that registered, and the per-proxy identity. Config objects are in ./api/types.ts.
 */

export interface WorkloadPort {
  name?: string;
  containerPort: number;
  /** `http`, `http2`, `grpc`, `tcp`... as declared on the Service port (name prefix or appProtocol). */
  protocol?: string;
}

/** One running pod of a workload: an endpoint of every Service whose selector matches its labels. */
export interface WorkloadInstance {
  /** Pod name, unique within its namespace. */
  name: string;
  namespace: string;
  /** The Deployment (or other owner) name. */
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** The pod address other pods connect to. */
  address: string;
  ports: WorkloadPort[];
  /** True when a sidecar runs in the pod (peers then use mesh mTLS to reach it). */
  meshed: boolean;
  /** The SPIFFE id the pod's sidecar presents; absent when unmeshed. */
  identity?: string;
}

/** The proxy a snapshot is compiled for. */
export interface ProxyIdentity {
  namespace: string;
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** The pod name, when the proxy is a pod's sidecar. */
  pod?: string;
  /** `sidecar` (default) or `gateway` (a standalone ingress/egress proxy). */
  mode?: 'sidecar' | 'gateway';
}

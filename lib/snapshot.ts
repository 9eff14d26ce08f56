import type { MeshObject } from './api/types.js';
import type { ProxyIdentity, WorkloadInstance } from './model.js';

/** The snapshot schema this build understands; a proxy NACKs any other. */
export const SNAPSHOT_SCHEMA = 'tsmesh.snapshot/v1';

/**
 * A per-proxy configuration snapshot: what one sidecar needs to route, balance and authorize,
 * scoped to what its workload can reach. Sidecars compile it with lib/routing and lib/policy,
 * the same code `tsmesh explain` runs. Never carries key material.
 */
export interface ProxySnapshot {
  schema: typeof SNAPSHOT_SCHEMA;
  /** Monotonically increasing per control plane. */
  version: number;
  /** sha256 (hex) of the canonical JSON of `proxy`, `objects` and `workloads`. */
  hash: string;
  proxy: ProxyIdentity;
  /** Validated config objects visible to this proxy (the MeshConfig document included). */
  objects: MeshObject[];
  /** Known endpoints: registered pods, meshed or not. */
  workloads: WorkloadInstance[];
  /** When the control plane produced it (ISO 8601). */
  createdAt: string;
}

/**
 * The usual two-sidecar setup of the data-plane tests: a server sidecar in front of the app and
 * a client sidecar, each with a certificate for its pod's service account from one test PKI.
 */
import type { MeshObject } from '../../../lib/api/types.js';
import type { WorkloadInstance } from '../../../lib/model.js';
import type { ProxyOptionsInput } from '../../../runtime/proxy/options.js';
import { type PeerPorts, type Sidecar, startSidecar } from './mesh.js';
import type { TestPki } from './pki.js';
import { spiffe } from './snapshot.js';

export interface PairSpec {
  pki: TestPki;
  peers: PeerPorts;
  objects: MeshObject[];
  workloads: WorkloadInstance[];
  /** The pod behind the server sidecar (started first, so the client knows its port). */
  server: WorkloadInstance;
  client: WorkloadInstance;
  serverOptions?: Partial<ProxyOptionsInput>;
  clientOptions?: Partial<ProxyOptionsInput>;
}

export async function startPair(spec: PairSpec): Promise<{ server: Sidecar; client: Sidecar }> {
  const start = (pod: WorkloadInstance, options?: Partial<ProxyOptionsInput>) =>
    startSidecar({
      pod,
      objects: spec.objects,
      workloads: spec.workloads,
      peers: spec.peers,
      cert: spec.pki.leaf({ uris: [spiffe(pod.namespace, pod.serviceAccount)] }),
      options,
    });
  const server = await start(spec.server, spec.serverOptions);
  const client = await start(spec.client, spec.clientOptions);
  return { server, client };
}

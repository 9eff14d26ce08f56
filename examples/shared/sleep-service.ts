import type { Construct } from 'constructs';
import { type Mesh, MeshService, ServicePort } from '../../constructs/index.js';

/** Istio's `sleep` client: a pod to run curl in (`tsmesh exec sleep -- curl ...`). */
export function addSleep(
  scope: Construct,
  id: string,
  props: { mesh: Mesh; namespace?: string; meshed?: boolean },
): MeshService {
  return new MeshService(scope, id, {
    mesh: props.mesh,
    name: 'sleep',
    namespace: props.namespace,
    meshed: props.meshed,
    serviceAccountName: 'sleep',
    ports: [ServicePort.http(80)],
    versions: {
      v1: {
        deploymentName: 'sleep',
        image: 'docker.io/curlimages/curl:8.16.0',
        command: ['/bin/sleep', 'infinity'],
        localCommand: ['node', 'build/examples/shared/sleep.js'],
        user: 100,
      },
    },
  });
}

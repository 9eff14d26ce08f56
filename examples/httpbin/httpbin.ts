/**
 * The starting point of Istio's security tasks: httpbin (Service port 8000 → 8080) and sleep in
 * namespaces foo and bar with sidecars, and in legacy without. Synthesized to
 * dist/httpbin.k8s.yaml.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Mesh, MeshService, type MeshTarget, ServicePort } from '../../constructs/index.js';
import { exampleTrustBundle } from '../pki.js';
import { addSleep } from '../shared/sleep-service.js';

export interface HttpbinProps {
  /** @default MeshTarget.BUNDLED */
  readonly target?: MeshTarget;
  /** @default - the examples' public test root */
  readonly trustBundle?: string;
}

export const HTTPBIN_NAMESPACES = [
  { namespace: 'foo', meshed: true },
  { namespace: 'bar', meshed: true },
  { namespace: 'legacy', meshed: false },
] as const;

export class HttpbinChart extends Chart {
  public readonly mesh: Mesh;

  public constructor(scope: Construct, id: string, props: HttpbinProps = {}) {
    super(scope, id, { disableResourceNameHashes: true });
    const mesh = new Mesh(this, 'mesh', {
      target: props.target,
      trustBundle: props.trustBundle ?? exampleTrustBundle(),
    });
    this.mesh = mesh;
    for (const { namespace, meshed } of HTTPBIN_NAMESPACES) {
      new MeshService(this, `httpbin-${namespace}`, {
        mesh,
        name: 'httpbin',
        namespace,
        meshed,
        serviceAccountName: 'httpbin',
        ports: [ServicePort.http(8000, { targetPort: 8080 })],
        versions: {
          v1: {
            deploymentName: 'httpbin',
            image: 'docker.io/mccutchen/go-httpbin:v2.15.0',
            localCommand: ['node', 'build/examples/httpbin/apps/httpbin.js'],
          },
        },
      });
      addSleep(this, `sleep-${namespace}`, { mesh, namespace, meshed });
    }
  }
}

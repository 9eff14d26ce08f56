/**
 * Bookinfo as Istio's task pages start from: the workloads, services, DestinationRules with
 * subsets and the sleep client, without routing or security objects. Apply Istio's task YAML
 * with `tsmesh apply`. Synthesized to dist/bookinfo-plain.k8s.yaml.
 */
import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { Mesh, type MeshTarget } from '../../constructs/index.js';
import { exampleTrustBundle } from '../pki.js';
import { addSleep } from '../shared/sleep-service.js';
import { addBookinfoServices } from './services.js';

export interface BookinfoPlainProps {
  /** @default MeshTarget.BUNDLED */
  readonly target?: MeshTarget;
  /** @default - the examples' public test root */
  readonly trustBundle?: string;
}

export class BookinfoPlainChart extends Chart {
  public readonly mesh: Mesh;

  public constructor(scope: Construct, id: string, props: BookinfoPlainProps = {}) {
    super(scope, id, { disableResourceNameHashes: true });
    const mesh = new Mesh(this, 'mesh', {
      target: props.target,
      trustBundle: props.trustBundle ?? exampleTrustBundle(),
    });
    this.mesh = mesh;
    const services = addBookinfoServices(this, mesh, { allowUnroutedReviews: true });
    for (const service of Object.values(services)) service.declareSubsets();
    addSleep(this, 'sleep', { mesh });
  }
}

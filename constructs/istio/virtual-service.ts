import type { Construct } from 'constructs';
import type { VirtualServiceSpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link VirtualService}. */
export interface VirtualServiceProps extends IstioObjectProps<VirtualServiceSpec> {}

/**
 * An Istio `VirtualService` (networking.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.VirtualService(chart, 'reviews', {
 *   metadata: { name: 'reviews' },
 *   spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] },
 * });
 */
export class VirtualService extends IstioObject<VirtualServiceSpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' } as const;

  public constructor(scope: Construct, id: string, props: VirtualServiceProps) {
    super(scope, id, VirtualService.GVK, props);
  }
}

import type { Construct } from 'constructs';
import type { SidecarSpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link Sidecar}. */
export interface SidecarProps extends IstioObjectProps<SidecarSpec> {}

/**
 * An Istio `Sidecar` (networking.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.Sidecar(chart, 'default', {
 *   metadata: { name: 'default', namespace: 'bookinfo' },
 *   spec: { egress: [{ hosts: ['./*', 'tsmesh-system/*'] }] },
 * });
 */
export class Sidecar extends IstioObject<SidecarSpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'networking.istio.io/v1', kind: 'Sidecar' } as const;

  public constructor(scope: Construct, id: string, props: SidecarProps) {
    super(scope, id, Sidecar.GVK, props);
  }
}

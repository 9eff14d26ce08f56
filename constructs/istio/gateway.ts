import type { Construct } from 'constructs';
import type { GatewaySpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link Gateway}. */
export interface GatewayProps extends IstioObjectProps<GatewaySpec> {}

/**
 * An Istio `Gateway` (networking.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.Gateway(chart, 'gateway', {
 *   metadata: { name: 'bookinfo-gateway' },
 *   spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] },
 * });
 */
export class Gateway extends IstioObject<GatewaySpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway' } as const;

  public constructor(scope: Construct, id: string, props: GatewayProps) {
    super(scope, id, Gateway.GVK, props);
  }
}

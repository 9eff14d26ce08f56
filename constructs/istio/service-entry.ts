import type { Construct } from 'constructs';
import type { ServiceEntrySpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link ServiceEntry}. */
export interface ServiceEntryProps extends IstioObjectProps<ServiceEntrySpec> {}

/**
 * An Istio `ServiceEntry` (networking.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.ServiceEntry(chart, 'httpbin-org', {
 *   metadata: { name: 'httpbin-org' },
 *   spec: { hosts: ['httpbin.org'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'DNS', location: 'MESH_EXTERNAL' },
 * });
 */
export class ServiceEntry extends IstioObject<ServiceEntrySpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry' } as const;

  public constructor(scope: Construct, id: string, props: ServiceEntryProps) {
    super(scope, id, ServiceEntry.GVK, props);
  }
}

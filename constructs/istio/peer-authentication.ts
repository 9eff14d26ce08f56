import type { Construct } from 'constructs';
import type { PeerAuthenticationSpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link PeerAuthentication}. */
export interface PeerAuthenticationProps extends IstioObjectProps<PeerAuthenticationSpec> {}

/**
 * An Istio `PeerAuthentication` (security.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.PeerAuthentication(chart, 'strict', {
 *   metadata: { name: 'default', namespace: 'foo' },
 *   spec: { mtls: { mode: 'STRICT' } },
 * });
 */
export class PeerAuthentication extends IstioObject<PeerAuthenticationSpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' } as const;

  public constructor(scope: Construct, id: string, props: PeerAuthenticationProps) {
    super(scope, id, PeerAuthentication.GVK, props);
  }
}

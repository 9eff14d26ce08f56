import type { Construct } from 'constructs';
import type { AuthorizationPolicySpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link AuthorizationPolicy}. */
export interface AuthorizationPolicyProps extends IstioObjectProps<AuthorizationPolicySpec> {}

/**
 * An Istio `AuthorizationPolicy` (security.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.AuthorizationPolicy(chart, 'ratings', {
 *   metadata: { name: 'ratings' },
 *   spec: {
 *     selector: { matchLabels: { app: 'ratings' } },
 *     action: 'ALLOW',
 *     rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/bookinfo-reviews'] } }] }],
 *   },
 * });
 */
export class AuthorizationPolicy extends IstioObject<AuthorizationPolicySpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' } as const;

  public constructor(scope: Construct, id: string, props: AuthorizationPolicyProps) {
    super(scope, id, AuthorizationPolicy.GVK, props);
  }
}

import type { Construct } from 'constructs';
import type { DestinationRuleSpec } from '../../lib/api/types.js';
import { IstioObject, type IstioObjectProps } from './istio-object.js';

/** Props of {@link DestinationRule}. */
export interface DestinationRuleProps extends IstioObjectProps<DestinationRuleSpec> {}

/**
 * An Istio `DestinationRule` (networking.istio.io/v1), written directly (the L1 layer). The higher-level
 * constructs emit these objects for you; use this class for what they do not cover.
 *
 * @example
 * new istio.DestinationRule(chart, 'reviews', {
 *   metadata: { name: 'reviews' },
 *   spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
 * });
 */
export class DestinationRule extends IstioObject<DestinationRuleSpec> {
  /** The group, version and kind this class emits. */
  public static readonly GVK = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' } as const;

  public constructor(scope: Construct, id: string, props: DestinationRuleProps) {
    super(scope, id, DestinationRule.GVK, props);
  }
}

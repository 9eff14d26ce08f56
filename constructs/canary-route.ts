import { Construct } from 'constructs';
import type { HTTPRoute } from '../lib/api/types.js';
import { declareRoute, type RouteOptions } from './http-route.js';
import { checkPercent } from './private/validate-input.js';
import type { IMeshService } from './service-base.js';

/** Props of {@link CanaryRoute}. */
export interface CanaryRouteProps extends RouteOptions {
  /** The service being rolled out. */
  readonly service: IMeshService;
  /** The version serving most requests. */
  readonly stable: string;
  /** The version being rolled out. */
  readonly canary: string;
  /** Percentage (0..100) of requests sent to the canary; the rest go to the stable version. */
  readonly canaryPercent: number;
}

/**
 * A canary rollout: `canaryPercent` of the requests go to the canary version, the rest to the
 * stable one, decided per request.
 *
 * @example
 * new CanaryRoute(chart, 'reviews-canary', {
 *   service: reviews,
 *   stable: 'v1',
 *   canary: 'v2',
 *   canaryPercent: 25,
 *   timeout: Duration.seconds(10),
 * });
 */
export class CanaryRoute extends Construct {
  /** The route as rendered into the VirtualService. */
  public readonly route: HTTPRoute;

  public constructor(scope: Construct, id: string, props: CanaryRouteProps) {
    super(scope, id);
    const what = `canary route '${props.name ?? id}'`;
    const percent = checkPercent(`${what}: canaryPercent`, props.canaryPercent);
    if (!Number.isInteger(percent)) {
      throw new Error(`${what}: canaryPercent must be a whole number between 0 and 100, got ${percent}`);
    }
    if (props.stable === props.canary) {
      throw new Error(
        `${what}: stable and canary must be different versions, got '${props.stable}' for both`,
      );
    }
    this.route = declareRoute(this, props.service, props, [
      { version: props.stable, weight: 100 - percent },
      { version: props.canary, weight: percent },
    ]);
  }
}

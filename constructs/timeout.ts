import type { Duration } from 'cdk8s';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { renderDuration } from './private/validate-input.js';
import type { IMeshService } from './service-base.js';

/** Props of {@link Timeout}. */
export interface TimeoutProps {
  /** The service whose requests are bounded. */
  readonly service: IMeshService;
  /** The bound on a whole request, retries included (504 when it expires). */
  readonly timeout: Duration;
}

/**
 * A timeout for every request to a service: it applies to each of the service's routes that sets
 * no timeout of its own (and, when the service has no route, to one route that takes every
 * request). A route's own `timeout` wins.
 *
 * @example
 * new Timeout(chart, 'ratings-timeout', { service: ratings, timeout: Duration.seconds(3) });
 */
export class Timeout extends Construct {
  public constructor(scope: Construct, id: string, props: TimeoutProps) {
    super(scope, id);
    const value = renderDuration(`timeout '${id}': timeout`, props.timeout);
    props.service._setDefaultTimeout(value, props.timeout.toMilliseconds(), `timeout '${this.node.path}'`);
    props.service.mesh.addChart(Chart.of(this));
  }
}

import { Construct } from 'constructs';
import type { LoadBalancerSettings } from '../lib/api/types.js';
import type { IMeshService } from './service-base.js';

/**
 * How a client sidecar picks an endpoint. Use the static factories.
 *
 * @example
 * LoadBalancer.roundRobin();
 * LoadBalancer.consistentHashByHeader('x-user');
 */
export class LoadBalancer {
  /** Power of two choices on active requests (the default). */
  public static leastRequest(): LoadBalancer {
    return new LoadBalancer({ simple: 'LEAST_REQUEST' });
  }
  public static roundRobin(): LoadBalancer {
    return new LoadBalancer({ simple: 'ROUND_ROBIN' });
  }
  public static random(): LoadBalancer {
    return new LoadBalancer({ simple: 'RANDOM' });
  }
  /** Requests with the same header value go to the same endpoint. */
  public static consistentHashByHeader(header: string): LoadBalancer {
    if (!/^[a-z0-9-]+$/.test(header)) {
      throw new Error(
        `load balancer: header must be a lower-case header name, got ${JSON.stringify(header)}`,
      );
    }
    return new LoadBalancer({ consistentHash: { httpHeaderName: header } });
  }
  /** Requests with the same cookie value go to the same endpoint. */
  public static consistentHashByCookie(name: string): LoadBalancer {
    if (typeof name !== 'string' || name.length === 0) {
      throw new Error(`load balancer: cookie name must be non-empty, got ${JSON.stringify(name)}`);
    }
    return new LoadBalancer({ consistentHash: { httpCookie: { name } } });
  }
  /** Requests from the same client address go to the same endpoint. */
  public static consistentHashBySourceIp(): LoadBalancer {
    return new LoadBalancer({ consistentHash: { useSourceIp: true } });
  }
  /** Requests with the same query parameter value go to the same endpoint. */
  public static consistentHashByQueryParameter(name: string): LoadBalancer {
    if (typeof name !== 'string' || name.length === 0) {
      throw new Error(`load balancer: query parameter must be non-empty, got ${JSON.stringify(name)}`);
    }
    return new LoadBalancer({ consistentHash: { httpQueryParameterName: name } });
  }
  private constructor(private readonly settings: LoadBalancerSettings) {}
  /** @internal */
  public _render(): LoadBalancerSettings {
    return structuredClone(this.settings);
  }
}

/** Props of {@link LoadBalancing}. */
export interface LoadBalancingProps {
  /** The service. */
  readonly service: IMeshService;
  /** The algorithm. */
  readonly loadBalancer: LoadBalancer;
  /**
   * Only for this version (subset).
   * @default - every version
   */
  readonly version?: string;
}

/**
 * Sets the load balancer of a service (or one of its versions) in its DestinationRule.
 *
 * @example
 * new LoadBalancing(chart, 'ratings-lb', { service: ratings, loadBalancer: LoadBalancer.roundRobin() });
 */
export class LoadBalancing extends Construct {
  public constructor(scope: Construct, id: string, props: LoadBalancingProps) {
    super(scope, id);
    props.service._setTrafficPolicy(
      'loadBalancer',
      props.loadBalancer._render(),
      props.version,
      `load balancing '${this.node.path}'`,
    );
  }
}

import type { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import type { ConnectionPoolSettings, OutlierDetection as OutlierDetectionSpec } from '../lib/api/types.js';
import { checkInteger, checkPercent, renderDuration } from './private/validate-input.js';
import type { IMeshService } from './service-base.js';

/** Limits on connections and requests from each client sidecar to the service (Istio's connectionPool). */
export interface ConnectionPoolOptions {
  /**
   * Maximum TCP connections.
   * @default - unlimited
   */
  readonly maxConnections?: number;
  /**
   * Maximum requests waiting for a connection (503 UO beyond).
   * @default - unlimited
   */
  readonly http1MaxPendingRequests?: number;
  /**
   * Maximum active requests (HTTP/1.1 and HTTP/2).
   * @default - unlimited
   */
  readonly http2MaxRequests?: number;
  /**
   * Requests per connection before it is closed.
   * @default - unlimited
   */
  readonly maxRequestsPerConnection?: number;
  /**
   * Maximum requests being retried at once across the service; a request that would need a
   * retry beyond it keeps its last answer.
   * @default - unlimited
   */
  readonly maxRetries?: number;
  /**
   * TCP connect timeout.
   * @default Duration.seconds(10)
   */
  readonly connectTimeout?: Duration;
}

/** Ejection of failing endpoints (Istio's outlierDetection). */
export interface OutlierDetectionOptions {
  /**
   * Consecutive 5xx responses (and connect failures, resets, timeouts) that eject an endpoint.
   * @default 5
   */
  readonly consecutive5xxErrors?: number;
  /**
   * Consecutive 502/503/504 responses that eject an endpoint.
   * @default - off
   */
  readonly consecutiveGatewayErrors?: number;
  /**
   * Interval of the sweep that returns ejected endpoints.
   * @default Duration.seconds(10)
   */
  readonly interval?: Duration;
  /**
   * Base ejection time (multiplied by the number of ejections, capped at 300s).
   * @default Duration.seconds(30)
   */
  readonly baseEjectionTime?: Duration;
  /**
   * Maximum percentage of endpoints ejected at once.
   * @default 10
   */
  readonly maxEjectionPercent?: number;
}

/** Props of {@link CircuitBreaker}. */
export interface CircuitBreakerProps {
  /** The service protected. */
  readonly service: IMeshService;
  /**
   * Only for this version (subset).
   * @default - every version
   */
  readonly version?: string;
  /**
   * Connection and request limits.
   * @default - unlimited
   */
  readonly connectionPool?: ConnectionPoolOptions;
  /**
   * Ejection of failing endpoints.
   * @default - no ejection
   */
  readonly outlierDetection?: OutlierDetectionOptions;
}

/**
 * A circuit breaker on a service: connection-pool limits (overflow gets 503 with flag UO) and
 * outlier detection (failing endpoints ejected), in the service's DestinationRule.
 *
 * @example
 * new CircuitBreaker(chart, 'ratings-breaker', {
 *   service: ratings,
 *   connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 },
 *   outlierDetection: { consecutive5xxErrors: 1, interval: Duration.seconds(1), baseEjectionTime: Duration.minutes(3), maxEjectionPercent: 100 },
 * });
 */
export class CircuitBreaker extends Construct {
  public constructor(scope: Construct, id: string, props: CircuitBreakerProps) {
    super(scope, id);
    const what = `circuit breaker '${id}'`;
    if (!props.connectionPool && !props.outlierDetection) {
      throw new Error(`${what}: set connectionPool, outlierDetection or both, got neither`);
    }
    const who = `circuit breaker '${this.node.path}'`;
    if (props.connectionPool) {
      props.service._setTrafficPolicy(
        'connectionPool',
        connectionPool(what, props.connectionPool),
        props.version,
        who,
      );
    }
    if (props.outlierDetection) {
      props.service._setTrafficPolicy(
        'outlierDetection',
        outlierDetection(what, props.outlierDetection),
        props.version,
        who,
      );
    }
  }
}

function positive(what: string, v: number | undefined): number | undefined {
  return v === undefined ? undefined : checkInteger(what, v, 1);
}

function connectionPool(what: string, o: ConnectionPoolOptions): ConnectionPoolSettings {
  const tcp = {
    maxConnections: positive(`${what}: maxConnections`, o.maxConnections),
    connectTimeout: o.connectTimeout
      ? renderDuration(`${what}: connectTimeout`, o.connectTimeout)
      : undefined,
  };
  const http = {
    http1MaxPendingRequests: positive(`${what}: http1MaxPendingRequests`, o.http1MaxPendingRequests),
    http2MaxRequests: positive(`${what}: http2MaxRequests`, o.http2MaxRequests),
    maxRequestsPerConnection: positive(`${what}: maxRequestsPerConnection`, o.maxRequestsPerConnection),
    maxRetries: positive(`${what}: maxRetries`, o.maxRetries),
  };
  const out: ConnectionPoolSettings = {};
  const clean = <T extends object>(x: T) =>
    Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined)) as Partial<T>;
  if (Object.keys(clean(tcp)).length > 0) out.tcp = clean(tcp);
  if (Object.keys(clean(http)).length > 0) out.http = clean(http);
  if (!out.tcp && !out.http) throw new Error(`${what}: connectionPool sets no limit`);
  return out;
}

function outlierDetection(what: string, o: OutlierDetectionOptions): OutlierDetectionSpec {
  const out: OutlierDetectionSpec = {
    consecutive5xxErrors: checkInteger(`${what}: consecutive5xxErrors`, o.consecutive5xxErrors ?? 5, 0),
  };
  if (o.consecutiveGatewayErrors !== undefined) {
    out.consecutiveGatewayErrors = checkInteger(
      `${what}: consecutiveGatewayErrors`,
      o.consecutiveGatewayErrors,
      0,
    );
  }
  if (o.interval) out.interval = renderDuration(`${what}: interval`, o.interval);
  if (o.baseEjectionTime)
    out.baseEjectionTime = renderDuration(`${what}: baseEjectionTime`, o.baseEjectionTime);
  if (o.maxEjectionPercent !== undefined) {
    out.maxEjectionPercent = checkPercent(`${what}: maxEjectionPercent`, o.maxEjectionPercent);
  }
  return out;
}

import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('CircuitBreaker', () => {
  it('sets connection pool and outlier detection on the DestinationRule', () => {
    const { chart, reviews } = reviewsChart(['v1', 'v2']);
    new CircuitBreaker(chart, 'breaker', {
      service: reviews,
      connectionPool: {
        maxConnections: 1,
        http1MaxPendingRequests: 1,
        maxRequestsPerConnection: 1,
        maxRetries: 2,
        connectTimeout: Duration.millis(250),
      },
      outlierDetection: {
        consecutive5xxErrors: 1,
        interval: Duration.seconds(1),
        baseEjectionTime: Duration.minutes(3),
        maxEjectionPercent: 100,
      },
    });
    new CircuitBreaker(chart, 'v2-only', {
      service: reviews,
      version: 'v2',
      connectionPool: { http2MaxRequests: 10 },
    });
    const dr = find(synth(chart), 'DestinationRule', 'reviews');
    expect(dr.spec).toEqual({
      host: 'reviews',
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 1, connectTimeout: '250ms' },
          http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1, maxRetries: 2 },
        },
        outlierDetection: {
          consecutive5xxErrors: 1,
          interval: '1s',
          baseEjectionTime: '3m',
          maxEjectionPercent: 100,
        },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        {
          name: 'v2',
          labels: { version: 'v2' },
          trafficPolicy: { connectionPool: { http: { http2MaxRequests: 10 } } },
        },
      ],
    });
  });

  it('fails when set twice for the same service, or with nothing to set', () => {
    const { chart, reviews } = reviewsChart();
    new CircuitBreaker(chart, 'a', { service: reviews, connectionPool: { maxConnections: 5 } });
    expect(
      () => new CircuitBreaker(chart, 'b', { service: reviews, connectionPool: { maxConnections: 6 } }),
    ).toThrow(/connectionPool is already set by circuit breaker 'test\/a'/);
    expect(() => new CircuitBreaker(chart, 'c', { service: reviews })).toThrow(
      /set connectionPool, outlierDetection or both/,
    );
  });

  it('fails on non-positive limits and percentages over 100', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () => new CircuitBreaker(chart, 'a', { service: reviews, connectionPool: { maxConnections: 0 } }),
    ).toThrow(/maxConnections must be a whole number at least 1, got 0/);
    expect(
      () =>
        new CircuitBreaker(chart, 'b', { service: reviews, outlierDetection: { maxEjectionPercent: 120 } }),
    ).toThrow(/maxEjectionPercent must be between 0 and 100, got 120/);
  });
});

import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { HttpRoute, PathMatch, RetryPolicy, Timeout } from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('Timeout', () => {
  it('bounds every route of the service that sets no timeout of its own', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'fast', {
      service: reviews,
      match: [{ path: PathMatch.exact('/a') }],
      timeout: Duration.millis(500),
    });
    new HttpRoute(chart, 'rest', { service: reviews, to: [{ version: 'v1' }] });
    new Timeout(chart, 'reviews-timeout', { service: reviews, timeout: Duration.seconds(3) });
    const vs = find(synth(chart), 'VirtualService', 'reviews');
    expect(vs.spec.http.map((r: any) => [r.name, r.timeout])).toEqual([
      ['fast', '500ms'],
      ['rest', '3s'],
    ]);
  });

  it('adds one route for every request when the service has none', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    new Timeout(chart, 't', { service: reviews, timeout: Duration.seconds(2) });
    expect(find(synth(chart), 'VirtualService', 'reviews').spec.http).toEqual([
      { name: 'default', route: [{ destination: { host: 'reviews' } }], timeout: '2s' },
    ]);
  });

  it('fails when set twice for one service', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    new Timeout(chart, 'a', { service: reviews, timeout: Duration.seconds(2) });
    expect(() => new Timeout(chart, 'b', { service: reviews, timeout: Duration.seconds(3) })).toThrow(
      /a timeout is already set by timeout 'test\/a'/,
    );
  });

  it('fails at synth when a route retries with a per-try timeout longer than the service timeout', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    new HttpRoute(chart, 'r', {
      service: reviews,
      retryPolicy: RetryPolicy.http({ attempts: 2, perTryTimeout: Duration.seconds(5) }),
    });
    new Timeout(chart, 't', { service: reviews, timeout: Duration.seconds(2) });
    expect(() => synth(chart)).toThrow(
      /route 'r' retries with perTryTimeout 5s, longer than the service timeout 2s/,
    );
  });

  it('fails on a zero timeout', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    expect(() => new Timeout(chart, 't', { service: reviews, timeout: Duration.millis(0) })).toThrow(
      /timeout 't': timeout must be a positive whole number of milliseconds, got 0ms/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { LoadBalancer, LoadBalancing } from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('LoadBalancing', () => {
  it('sets the load balancer of a service or a version', () => {
    const { chart, reviews } = reviewsChart(['v1', 'v2']);
    new LoadBalancing(chart, 'lb', { service: reviews, loadBalancer: LoadBalancer.roundRobin() });
    new LoadBalancing(chart, 'lb2', {
      service: reviews,
      version: 'v2',
      loadBalancer: LoadBalancer.consistentHashByHeader('x-user'),
    });
    const dr = find(synth(chart), 'DestinationRule', 'reviews');
    expect(dr.spec.trafficPolicy).toEqual({ loadBalancer: { simple: 'ROUND_ROBIN' } });
    expect(dr.spec.subsets[1].trafficPolicy).toEqual({
      loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } },
    });
  });

  it('renders each algorithm', () => {
    expect(LoadBalancer.leastRequest()._render()).toEqual({ simple: 'LEAST_REQUEST' });
    expect(LoadBalancer.random()._render()).toEqual({ simple: 'RANDOM' });
    expect(LoadBalancer.consistentHashBySourceIp()._render()).toEqual({
      consistentHash: { useSourceIp: true },
    });
    expect(LoadBalancer.consistentHashByCookie('s')._render()).toEqual({
      consistentHash: { httpCookie: { name: 's' } },
    });
    expect(LoadBalancer.consistentHashByQueryParameter('u')._render()).toEqual({
      consistentHash: { httpQueryParameterName: 'u' },
    });
  });

  it('fails on an unknown version and a bad header name', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    expect(
      () =>
        new LoadBalancing(chart, 'lb', {
          service: reviews,
          version: 'v5',
          loadBalancer: LoadBalancer.random(),
        }),
    ).toThrow(/version must be a version of meshservice 'reviews' \(v1\), got "v5"/);
    expect(() => LoadBalancer.consistentHashByHeader('X User')).toThrow(
      /header must be a lower-case header name/,
    );
  });
});

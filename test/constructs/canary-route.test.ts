import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { CanaryRoute } from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('CanaryRoute', () => {
  it('sends canaryPercent to the canary and the rest to the stable version', () => {
    const { chart, reviews } = reviewsChart();
    new CanaryRoute(chart, 'reviews-canary', {
      service: reviews,
      stable: 'v1',
      canary: 'v2',
      canaryPercent: 25,
      timeout: Duration.seconds(10),
    });
    const out = synth(chart);
    expect(find(out, 'VirtualService', 'reviews').spec.http).toEqual([
      {
        name: 'reviews-canary',
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
          { destination: { host: 'reviews', subset: 'v2' }, weight: 25 },
        ],
        timeout: '10s',
      },
    ]);
    expect(find(out, 'DestinationRule', 'reviews').spec.subsets.map((s: any) => s.name)).toEqual([
      'v1',
      'v2',
      'v3',
    ]);
  });

  it('fails when canaryPercent is outside 0..100', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () => new CanaryRoute(chart, 'c', { service: reviews, stable: 'v1', canary: 'v2', canaryPercent: 120 }),
    ).toThrow(/canary route 'c': canaryPercent must be between 0 and 100, got 120/);
    expect(
      () => new CanaryRoute(chart, 'd', { service: reviews, stable: 'v1', canary: 'v2', canaryPercent: -1 }),
    ).toThrow(/between 0 and 100, got -1/);
    expect(
      () => new CanaryRoute(chart, 'e', { service: reviews, stable: 'v1', canary: 'v2', canaryPercent: 2.5 }),
    ).toThrow(/whole number/);
  });

  it('fails when stable and canary are the same version or unknown', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () => new CanaryRoute(chart, 'c', { service: reviews, stable: 'v1', canary: 'v1', canaryPercent: 10 }),
    ).toThrow(/stable and canary must be different versions/);
    expect(
      () => new CanaryRoute(chart, 'd', { service: reviews, stable: 'v1', canary: 'v7', canaryPercent: 10 }),
    ).toThrow(/must be a version of meshservice 'reviews'.*got "v7"/);
  });
});

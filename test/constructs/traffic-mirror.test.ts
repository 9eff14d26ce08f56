import { describe, expect, it } from 'vitest';
import { TrafficMirror } from '../../constructs/index.js';
import { reviewsChart } from './helpers.js';

describe('TrafficMirror', () => {
  it('mirrors to a version and registers its subset', () => {
    const { reviews } = reviewsChart();
    expect(TrafficMirror.to(reviews, { version: 'v3' })._render()).toEqual({
      mirror: { host: 'reviews.default.svc.cluster.local', subset: 'v3' },
    });
  });
  it('fails on an unknown version or percentage', () => {
    const { reviews } = reviewsChart();
    expect(() => TrafficMirror.to(reviews, { version: 'v9' })._render()).toThrow(/got "v9"/);
    expect(() => TrafficMirror.to(reviews, { percent: 150 })).toThrow(
      /percent must be between 0 and 100, got 150/,
    );
  });
});

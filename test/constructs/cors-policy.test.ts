import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  CorsPolicy,
  HttpMethod,
  HttpRedirect,
  HttpRoute,
  OriginMatch,
  UnmatchedPreflights,
} from '../../constructs/index.js';
import { validateObjects } from '../../lib/api/validate.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('CorsPolicy', () => {
  it('renders a route corsPolicy the bundled runtime accepts', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'api', {
      service: reviews,
      to: [{ version: 'v1' }],
      cors: CorsPolicy.of({
        allowOrigins: [
          OriginMatch.exact('https://app.example.com'),
          OriginMatch.regex('https://[a-z0-9-]+\\.preview\\.example\\.com'),
        ],
        allowMethods: [HttpMethod.GET, HttpMethod.POST],
        allowHeaders: ['content-type'],
        exposeHeaders: ['x-total-count'],
        maxAge: Duration.hours(24),
        allowCredentials: true,
        unmatchedPreflights: UnmatchedPreflights.IGNORE,
      }),
    });
    const vs = find(synth(chart), 'VirtualService', 'reviews', 'default');
    expect(vs.spec.http[0].corsPolicy).toEqual({
      allowOrigins: [
        { exact: 'https://app.example.com' },
        { regex: 'https://[a-z0-9-]+\\.preview\\.example\\.com' },
      ],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['content-type'],
      exposeHeaders: ['x-total-count'],
      maxAge: '24h',
      allowCredentials: true,
      unmatchedPreflights: 'IGNORE',
    });
    expect(validateObjects([vs], { target: 'bundled' })).toEqual([]);
  });

  it('fails at once on bad input, naming the field', () => {
    expect(() => CorsPolicy.of({ allowOrigins: [] })).toThrow(
      /allowOrigins must list at least one origin, got none/,
    );
    expect(() => OriginMatch.regex('(a')).toThrow(/cors origin regex: "\(a" is not a valid RE2 pattern/);
    expect(() => CorsPolicy.of({ allowOrigins: [OriginMatch.any()], maxAge: Duration.millis(1500) })).toThrow(
      /maxAge must be whole seconds, got 1500ms/,
    );
    expect(() => CorsPolicy.of({ allowOrigins: [OriginMatch.any()], allowHeaders: ['x y'] })).toThrow(
      /allowHeaders has "x y", which is not a valid header name/,
    );
    const { chart, reviews } = reviewsChart();
    expect(
      () =>
        new HttpRoute(chart, 'moved', {
          service: reviews,
          redirect: HttpRedirect.to({ uri: '/new' }),
          cors: CorsPolicy.of({ allowOrigins: [OriginMatch.any()] }),
        }),
    ).toThrow(/cors has no effect on a redirect/);
  });
});

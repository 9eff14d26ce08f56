import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  FaultInjection,
  HeaderMatch,
  HttpMethod,
  HttpRedirect,
  HttpRetryEvent,
  HttpRewrite,
  HttpRoute,
  MeshService,
  PathMatch,
  QueryParameterMatch,
  RetryPolicy,
  ServicePort,
  TrafficMirror,
} from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

describe('HttpRoute', () => {
  it('renders matches, targets, timeout, retries, fault, mirror, rewrite and header edits', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'api', {
      service: reviews,
      match: [
        {
          path: PathMatch.prefix('/reviews'),
          method: HttpMethod.GET,
          headers: [HeaderMatch.regex('user-agent', '.*Firefox.*'), HeaderMatch.absent('x-debug')],
          queryParameters: [QueryParameterMatch.exact('v', '2')],
        },
      ],
      to: [
        { version: 'v2', weight: 90 },
        { version: 'v3', weight: 10 },
      ],
      timeout: Duration.seconds(5),
      retryPolicy: RetryPolicy.http({
        attempts: 3,
        perTryTimeout: Duration.millis(1500),
        httpRetryEvents: [HttpRetryEvent.SERVER_ERROR],
      }),
      fault: FaultInjection.delay({ delay: Duration.seconds(2), percent: 10 }),
      mirror: TrafficMirror.to(reviews, { version: 'v1', percent: 5 }),
      rewrite: HttpRewrite.uri('/v2/reviews'),
      headers: { request: { set: { 'x-route': 'api' } }, response: { remove: ['server'] } },
    });
    new HttpRoute(chart, 'default', { service: reviews, to: [{ version: 'v1' }] });
    const vs = find(synth(chart), 'VirtualService', 'reviews', 'default');
    expect(vs.spec.hosts).toEqual(['reviews']);
    expect(vs.spec.http[0]).toEqual({
      name: 'api',
      match: [
        {
          uri: { prefix: '/reviews' },
          method: { exact: 'GET' },
          headers: { 'user-agent': { regex: '.*Firefox.*' } },
          withoutHeaders: { 'x-debug': {} },
          queryParams: { v: { exact: '2' } },
        },
      ],
      route: [
        { destination: { host: 'reviews', subset: 'v2' }, weight: 90 },
        { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
      ],
      timeout: '5s',
      retries: { attempts: 3, perTryTimeout: '1.5s', retryOn: '5xx,unavailable,cancelled' },
      fault: { delay: { fixedDelay: '2s', percentage: { value: 10 } } },
      mirror: { host: 'reviews.default.svc.cluster.local', subset: 'v1' },
      mirrorPercentage: { value: 5 },
      rewrite: { uri: '/v2/reviews' },
      headers: { request: { set: { 'x-route': 'api' } }, response: { remove: ['server'] } },
    });
    expect(vs.spec.http[1]).toEqual({
      name: 'default',
      route: [{ destination: { host: 'reviews', subset: 'v1' } }],
    });
  });

  it('merges every route of a service into one VirtualService ordered by priority', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'catch-all', { service: reviews, to: [{ version: 'v1' }] });
    new HttpRoute(chart, 'late', {
      service: reviews,
      priority: 50,
      match: [{ path: PathMatch.exact('/b') }],
      to: [{ version: 'v3' }],
    });
    new HttpRoute(chart, 'first', {
      service: reviews,
      priority: 10,
      match: [{ path: PathMatch.exact('/a') }],
      to: [{ version: 'v2' }],
    });
    const out = synth(chart);
    expect(out.filter((o) => o.kind === 'VirtualService')).toHaveLength(1);
    expect(find(out, 'VirtualService', 'reviews').spec.http.map((r: any) => r.name)).toEqual([
      'first',
      'late',
      'catch-all',
    ]);
  });

  it('redirects instead of forwarding', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    new HttpRoute(chart, 'moved', {
      service: reviews,
      match: [{ path: PathMatch.exact('/old') }],
      redirect: HttpRedirect.to({ uri: '/new', redirectCode: 302 }),
    });
    new HttpRoute(chart, 'rest', { service: reviews });
    const vs = find(synth(chart), 'VirtualService', 'reviews');
    expect(vs.spec.http[0]).toEqual({
      name: 'moved',
      match: [{ uri: { exact: '/old' } }],
      redirect: { uri: '/new', redirectCode: 302 },
    });
    expect(vs.spec.http[1]).toEqual({ name: 'rest', route: [{ destination: { host: 'reviews' } }] });
  });

  it('fails on duplicate route names', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'a', { service: reviews, name: 'same', match: [{ path: PathMatch.exact('/a') }] });
    expect(
      () =>
        new HttpRoute(chart, 'b', {
          service: reviews,
          name: 'same',
          match: [{ path: PathMatch.exact('/b') }],
        }),
    ).toThrow(/duplicate route name 'same'/);
  });

  it('fails on an unknown version', () => {
    const { chart, reviews } = reviewsChart();
    expect(() => new HttpRoute(chart, 'r', { service: reviews, to: [{ version: 'v9' }] })).toThrow(
      /to\[0\]\.version must be a version of meshservice 'reviews' \(v1, v2, v3\), got "v9"/,
    );
  });

  it('fails when perTryTimeout is longer than the timeout', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () =>
        new HttpRoute(chart, 'r', {
          service: reviews,
          timeout: Duration.seconds(1),
          retryPolicy: RetryPolicy.http({ attempts: 2, perTryTimeout: Duration.seconds(2) }),
        }),
    ).toThrow(/perTryTimeout \(2s\) is longer than the route timeout \(1s\)/);
  });

  it('fails on retries that replay non-idempotent methods without the opt-in', () => {
    const { chart, reviews } = reviewsChart();
    const post = [{ method: HttpMethod.POST }];
    const replaying = { attempts: 2, httpRetryEvents: [HttpRetryEvent.SERVER_ERROR] };
    expect(
      () =>
        new HttpRoute(chart, 'r', {
          service: reviews,
          match: post,
          retryPolicy: RetryPolicy.http(replaying),
        }),
    ).toThrow(/retryPolicy can resend POST requests .* set retryNonIdempotent: true/);
    new HttpRoute(chart, 'safe', {
      service: reviews,
      match: post,
      retryPolicy: RetryPolicy.http({ attempts: 2 }),
    });
    new HttpRoute(chart, 'opted', {
      service: reviews,
      match: [{ method: HttpMethod.PATCH }],
      retryPolicy: RetryPolicy.http({ ...replaying, retryNonIdempotent: true }),
    });
  });

  it('fails when weights do not sum to 100 or are missing', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () =>
        new HttpRoute(chart, 'r', {
          service: reviews,
          to: [
            { version: 'v1', weight: 50 },
            { version: 'v2', weight: 40 },
          ],
        }),
    ).toThrow(/target weights must sum to 100, got 50 \+ 40 = 90/);
    expect(
      () => new HttpRoute(chart, 'r2', { service: reviews, to: [{ version: 'v1' }, { version: 'v2' }] }),
    ).toThrow(/several targets need a weight each/);
  });

  it('fails when a redirect is combined with targets', () => {
    const { chart, reviews } = reviewsChart();
    expect(
      () =>
        new HttpRoute(chart, 'r', {
          service: reviews,
          to: [{ version: 'v1' }],
          redirect: HttpRedirect.to({ uri: '/x' }),
        }),
    ).toThrow(/redirect excludes to, rewrite and mirror/);
  });

  it('fails when a second route takes every request', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'a', { service: reviews, to: [{ version: 'v1' }] });
    expect(() => new HttpRoute(chart, 'b', { service: reviews, to: [{ version: 'v2' }] })).toThrow(
      /route 'b' has no match, but route 'a' already takes every request/,
    );
  });

  it('fails at synth when a route is placed after the catch-all route', () => {
    const { chart, reviews } = reviewsChart();
    new HttpRoute(chart, 'all', { service: reviews, priority: 10, to: [{ version: 'v1' }] });
    new HttpRoute(chart, 'never', {
      service: reviews,
      match: [{ path: PathMatch.exact('/x') }],
      to: [{ version: 'v2' }],
    });
    expect(() => synth(chart)).toThrow(
      /route 'never' \(priority 100\) comes after route 'all' \(priority 10\)/,
    );
  });

  it('fails at synth when routes exist but none takes the remaining requests', () => {
    const { chart, mesh } = reviewsChart([]);
    const ratings = new MeshService(chart, 'ratings', {
      mesh,
      ports: [ServicePort.http(9080)],
      versions: { v1: { image: 'x' } },
    });
    new HttpRoute(chart, 'only-a', { service: ratings, match: [{ path: PathMatch.exact('/a') }] });
    expect(() => synth(chart)).toThrow(/every route has a match, so other requests get 404/);
  });

  it('fails on bad priorities and names', () => {
    const { chart, reviews } = reviewsChart();
    expect(() => new HttpRoute(chart, 'r', { service: reviews, priority: 5000 })).toThrow(
      /priority must be a whole number between 0 and 1000, got 5000/,
    );
    expect(() => new HttpRoute(chart, 'Bad', { service: reviews })).toThrow(/name must be a DNS label/);
  });
});

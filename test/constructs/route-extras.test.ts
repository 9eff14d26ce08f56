import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  FaultInjection,
  HeaderMatch,
  HttpRedirect,
  HttpRewrite,
  HttpRoute,
  PathMatch,
  QueryParameterMatch,
  TrafficMirror,
} from '../../constructs/index.js';
import { reviewsChart } from './helpers.js';

describe('FaultInjection', () => {
  it('renders delays and aborts with percentages', () => {
    expect(
      FaultInjection.of({
        delay: { delay: Duration.seconds(7), percent: 100 },
        abort: { httpStatus: 503, percent: 5 },
      })._render(),
    ).toEqual({
      delay: { fixedDelay: '7s', percentage: { value: 100 } },
      abort: { httpStatus: 503, percentage: { value: 5 } },
    });
  });
  it('fails on a bad status or percentage', () => {
    expect(() => FaultInjection.abort({ httpStatus: 99, percent: 10 })).toThrow(
      /httpStatus must be a whole number between 200 and 599, got 99/,
    );
    expect(() => FaultInjection.delay({ delay: Duration.seconds(1), percent: 101 })).toThrow(
      /delay percent must be between 0 and 100, got 101/,
    );
    expect(() => FaultInjection.of({})).toThrow(/set delay, abort or both/);
  });
});

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

describe('HttpRewrite and HttpRedirect', () => {
  it('renders rewrites and redirects', () => {
    expect(HttpRewrite.uri('/v2', 'example.internal')._render()).toEqual({
      uri: '/v2',
      authority: 'example.internal',
    });
    expect(HttpRewrite.regex('^/old/(.*)$', '/new/\\1')._render()).toEqual({
      uriRegexRewrite: { match: '^/old/(.*)$', rewrite: '/new/\\1' },
    });
    expect(HttpRedirect.to({ authority: 'x.example', port: 8443, scheme: 'https' })._render()).toEqual({
      authority: 'x.example',
      port: 8443,
      scheme: 'https',
    });
  });
  it('fails on bad rewrites, redirects and header edits', () => {
    expect(() => HttpRewrite.uri('v2')).toThrow(/uri must start with '\/', got "v2"/);
    expect(() => HttpRewrite.regex('(unclosed', 'x')).toThrow(/is not a valid RE2 pattern/);
    expect(() => HttpRedirect.to({})).toThrow(/set at least one of uri, authority, port, scheme/);
    expect(() => HttpRedirect.to({ uri: '/x', redirectCode: 200 })).toThrow(
      /redirectCode must be 301, 302, 303, 307 or 308, got 200/,
    );
    const { chart, reviews } = reviewsChart(['v1']);
    expect(
      () =>
        new HttpRoute(chart, 'r', { service: reviews, headers: { request: { set: { 'x-a': 'b\r\nc' } } } }),
    ).toThrow(/request header 'x-a' value must be a string without CR, LF or NUL/);
  });
});

describe('HeaderMatch, PathMatch and QueryParameterMatch', () => {
  it('fail on upper-case header names, relative paths and invalid RE2', () => {
    expect(() => HeaderMatch.exact('End-User', 'jason')).toThrow(
      /name must be a lower-case HTTP header name, got "End-User"/,
    );
    expect(() => PathMatch.prefix('api')).toThrow(/path match must start with '\/', got "api"/);
    expect(() => PathMatch.regex('(a')).toThrow(/not a valid RE2 pattern/);
    expect(() => HeaderMatch.regex('x', '(?<name>a)\\1')).toThrow(/not a valid RE2 pattern/);
    expect(() => QueryParameterMatch.exact('', 'x')).toThrow(/name must be a non-empty string/);
  });
  it('accepts RE2-only syntax such as (?i)', () => {
    expect(HeaderMatch.regex('user-agent', '(?i).*firefox.*')._match).toEqual({ regex: '(?i).*firefox.*' });
  });
});

import { describe, expect, it } from 'vitest';
import { HttpRedirect, HttpRewrite, HttpRoute } from '../../constructs/index.js';
import { reviewsChart } from './helpers.js';

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

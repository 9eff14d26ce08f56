import { describe, expect, it } from 'vitest';
import { HeaderMatch, HttpRoute, PathMatch, QueryParameterMatch } from '../../constructs/index.js';
import { reviewsChart } from './helpers.js';

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

  it('fail on a match without any condition', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    expect(() => new HttpRoute(chart, 'r', { service: reviews, match: [{}] })).toThrow(
      /match\[0\] sets no condition, so it matches every request/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { authorityCandidates, hostMatches, parseAuthority, resolveConfigHost } from '../../lib/hosts.js';

describe('config host resolution', () => {
  it.each([
    ['reviews', 'default', 'reviews.default.svc.cluster.local'],
    ['reviews', 'foo', 'reviews.foo.svc.cluster.local'],
    ['reviews.bar', 'foo', 'reviews.bar.svc.cluster.local'],
    ['reviews.bar.svc', 'foo', 'reviews.bar.svc.cluster.local'],
    ['reviews.bar.svc.cluster.local', 'foo', 'reviews.bar.svc.cluster.local'],
    ['Reviews.Bar.svc.cluster.local.', 'foo', 'reviews.bar.svc.cluster.local'],
    ['*.example.com', 'foo', '*.example.com'],
    ['*', 'foo', '*'],
    ['api.httpbin.org', 'foo', 'api.httpbin.org'],
  ])('resolves %s written in namespace %s to %s', (host, ns, want) => {
    expect(resolveConfigHost(host, ns)).toBe(want);
  });
});

describe('authority parsing', () => {
  it.each([
    ['reviews', { host: 'reviews' }],
    ['reviews:9080', { host: 'reviews', port: 9080 }],
    ['reviews.default', { host: 'reviews.default' }],
    ['REVIEWS.Default.svc.cluster.local.:9080', { host: 'reviews.default.svc.cluster.local', port: 9080 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['[fe80::1]', { host: 'fe80::1' }],
    ['10.0.0.1:80', { host: '10.0.0.1', port: 80 }],
  ])('parses %s', (authority, want) => {
    expect(parseAuthority(authority)).toEqual(want);
  });
});

describe('request authority candidates', () => {
  it('resolves a short name from the caller namespace first', () => {
    expect(authorityCandidates('reviews', 'foo')[0]).toBe('reviews.foo.svc.cluster.local');
  });
  it.each([
    ['reviews.default', 'reviews.default.svc.cluster.local'],
    ['reviews.default.svc', 'reviews.default.svc.cluster.local'],
    ['reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local'],
  ])('lets %s reach %s from any namespace', (host, fqdn) => {
    expect(authorityCandidates(host, 'foo')).toContain(fqdn);
  });
  it('keeps an external name as written', () => {
    expect(authorityCandidates('httpbin.org', 'foo')).toContain('httpbin.org');
  });
});

describe('wildcard host matching', () => {
  it.each([
    ['*', 'anything.example.com', true],
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'aexample.com', false],
    ['reviews.default.svc.cluster.local', 'REVIEWS.default.svc.cluster.local.', true],
    ['reviews.default.svc.cluster.local', 'ratings.default.svc.cluster.local', false],
  ])('pattern %s against %s is %s', (pattern, host, want) => {
    expect(hostMatches(pattern, host)).toBe(want);
  });
});

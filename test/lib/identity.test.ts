import { describe, expect, it } from 'vitest';
import { parseSpiffeId, principalOf, spiffeId } from '../../lib/identity.js';

describe('SPIFFE identities', () => {
  it('formats an identity from trust domain, namespace and service account', () => {
    expect(spiffeId('cluster.local', 'default', 'bookinfo-reviews')).toBe(
      'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    );
  });
  it('refuses to format an identity with a slash in a part', () => {
    expect(() => spiffeId('cluster.local', 'a/b', 'sa')).toThrow(/namespace/);
  });
  it('parses a well-formed identity', () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/foo/sa/sleep')).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'foo',
      serviceAccount: 'sleep',
    });
  });
  it.each([
    'https://cluster.local/ns/foo/sa/sleep',
    'spiffe://cluster.local/ns/foo/sa/sleep/extra',
    'spiffe://cluster.local/ns/foo',
    'spiffe://cluster.local/namespace/foo/sa/sleep',
    'spiffe://cluster.local/ns//sa/sleep',
    'spiffe://cluster.local/ns/foo/sa/sleep?x=1',
    'spiffe://cluster.local:443/ns/foo/sa/sleep',
    'spiffe://user@cluster.local/ns/foo/sa/sleep',
    'spiffe://cluster.local/ns/f%6fo/sa/sleep',
    'SPIFFE://cluster.local/ns/foo/sa/sleep',
  ])('rejects %s', (uri) => {
    expect(parseSpiffeId(uri)).toBeUndefined();
  });
  it('writes the principal without the scheme', () => {
    expect(principalOf('spiffe://cluster.local/ns/default/sa/sleep')).toBe(
      'cluster.local/ns/default/sa/sleep',
    );
  });
});

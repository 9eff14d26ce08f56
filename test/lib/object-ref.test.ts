import { describe, expect, it } from 'vitest';
import { objectKey, objectRef } from '../../lib/api/types.js';

describe('object references', () => {
  it('names a namespaced object as Kind namespace/name', () => {
    expect(objectRef({ kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'foo' } })).toBe(
      'VirtualService foo/reviews',
    );
  });
  it('puts objects without a namespace in default', () => {
    expect(objectKey({ kind: 'Service', metadata: { name: 'reviews' } })).toBe('Service/default/reviews');
  });
  it('names a Namespace by its name alone', () => {
    expect(objectRef({ kind: 'Namespace', metadata: { name: 'foo' } })).toBe('Namespace foo');
  });
});

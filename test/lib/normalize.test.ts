import { describe, expect, it } from 'vitest';
import { normalizeRequestTarget, type PathNormalizationMode } from '../../lib/normalize.js';

const MODES: PathNormalizationMode[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

// target → expected path per mode, in MODES order.
const TABLE: [string, [string, string, string, string]][] = [
  ['/a/../admin', ['/a/../admin', '/admin', '/admin', '/admin']],
  ['/a/./b/', ['/a/./b/', '/a/b/', '/a/b/', '/a/b/']],
  ['/../../x', ['/../../x', '/x', '/x', '/x']],
  ['//admin', ['//admin', '//admin', '/admin', '/admin']],
  ['/a/%2Fadmin', ['/a/%2Fadmin', '/a/%2Fadmin', '/a/%2Fadmin', '/a/admin']],
  ['/a/%2fadmin', ['/a/%2fadmin', '/a/%2fadmin', '/a/%2fadmin', '/a/admin']],
  ['/a%5Cadmin', ['/a%5Cadmin', '/a%5Cadmin', '/a%5Cadmin', '/a/admin']],
  ['/a%5c..%5cadmin', ['/a%5c..%5cadmin', '/a%5c..%5cadmin', '/a%5c..%5cadmin', '/admin']],
  ['/a\\admin', ['/a\\admin', '/a/admin', '/a/admin', '/a/admin']],
  ['/%2e%2e/admin', ['/%2e%2e/admin', '/admin', '/admin', '/admin']],
  ['/%41%7e%20', ['/%41%7e%20', '/A~%20', '/A~%20', '/A~%20']],
  ['/a#/../admin', ['/a', '/a', '/a', '/a']],
];

describe('path normalization', () => {
  for (const [target, expected] of TABLE) {
    MODES.forEach((mode, i) => {
      it(`normalizes ${target} to ${expected[i]} under ${mode}`, () => {
        expect(normalizeRequestTarget(target, { mode })).toMatchObject({ path: expected[i] });
      });
    });
  }

  it('uses BASE when no mode is given', () => {
    expect(normalizeRequestTarget('/a/../b\\c')).toEqual({ path: '/b/c', query: '' });
  });
  it('keeps the query apart and untouched', () => {
    expect(normalizeRequestTarget('/p/../q?x=/../y&z=%2F#frag')).toEqual({
      path: '/q',
      query: 'x=/../y&z=%2F',
    });
  });
  it('splits an absolute-form target into scheme, authority and path', () => {
    expect(normalizeRequestTarget('HTTP://Reviews:9080/x/../reviews/0?a=1')).toEqual({
      scheme: 'http',
      authority: 'Reviews:9080',
      path: '/reviews/0',
      query: 'a=1',
    });
  });
  it('gives an absolute-form target without a path the path /', () => {
    expect(normalizeRequestTarget('http://reviews')).toMatchObject({ path: '/', authority: 'reviews' });
  });
  it.each([
    ['/a\u0000b', /control byte/],
    ['/a\tb', /control byte/],
    ['/a b', /control byte/],
    ['/a%00b', /NUL/],
    ['/a%zzb', /percent-encoding/],
    ['/a%2', /percent-encoding/],
    ['relative', /must start with/],
    ['/caf\u00e9', /non-ASCII/],
  ])('rejects %j', (target, message) => {
    const r = normalizeRequestTarget(target, { mode: 'BASE' });
    expect('error' in r && r.error).toMatch(message);
  });
  it('rejects an encoded NUL even without normalization', () => {
    expect(normalizeRequestTarget('/%00', { mode: 'NONE' })).toHaveProperty('error');
  });
  it('passes invalid percent-encoding through when normalization is off', () => {
    expect(normalizeRequestTarget('/%zz', { mode: 'NONE' })).toEqual({ path: '/%zz', query: '' });
  });
});

describe('normalization properties over generated paths', () => {
  // A seeded generator of nasty paths: dot segments, encoded dots and slashes, backslashes.
  const PIECES = [
    'a',
    'b',
    '.',
    '..',
    '%2e',
    '%2E%2e',
    '%2F',
    '%2f',
    '%5C',
    '%5c',
    '\\',
    '/',
    '//',
    '%41',
    '~',
    '%25',
    'x y'.replace(' ', ''),
  ];
  function paths(seed: number, n: number): string[] {
    let s = seed;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      let p = '/';
      const len = 1 + Math.floor(next() * 8);
      for (let j = 0; j < len; j++)
        p += PIECES[Math.floor(next() * PIECES.length)] + (next() < 0.5 ? '/' : '');
      out.push(p);
    }
    return out;
  }
  const samples = paths(7, 500);

  for (const mode of ['BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const) {
    it(`is idempotent under ${mode}`, () => {
      for (const p of samples) {
        const once = normalizeRequestTarget(p, { mode });
        if ('error' in once) continue;
        expect(normalizeRequestTarget(once.path, { mode })).toEqual(once);
      }
    });
    it(`leaves no dot segment or backslash under ${mode}`, () => {
      for (const p of samples) {
        const r = normalizeRequestTarget(p, { mode });
        if ('error' in r) continue;
        expect(r.path.split('/')).not.toContain('..');
        expect(r.path.split('/')).not.toContain('.');
        expect(r.path).not.toContain('\\');
        expect(r.path.startsWith('/')).toBe(true);
      }
    });
  }

  it('leaves no empty segment under the merging modes', () => {
    for (const mode of ['MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const) {
      for (const p of samples) {
        const r = normalizeRequestTarget(p, { mode });
        if (!('error' in r)) expect(r.path).not.toContain('//');
      }
    }
  });

  it('leaves no encoded slash under DECODE_AND_MERGE_SLASHES', () => {
    for (const p of samples) {
      const r = normalizeRequestTarget(p, { mode: 'DECODE_AND_MERGE_SLASHES' });
      if (!('error' in r)) expect(r.path).not.toMatch(/%2f|%5c/i);
    }
  });
});

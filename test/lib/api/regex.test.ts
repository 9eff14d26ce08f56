import { describe, expect, it } from 'vitest';
import { compileRegex, RegexSyntaxError, regexError } from '../../../lib/api/regex.js';

describe('compileRegex', () => {
  const cases: [pattern: string, value: string, expected: boolean][] = [
    ['v[0-9]+', 'v12', true],
    ['v[0-9]+', 'xv12', false],
    ['v[0-9]+', 'v12x', false],
    ['(?i)jason', 'JaSoN', true],
    ['jason', 'JASON', false],
    ['/api/.*', '/api/users/1', true],
    ['a|b', 'ab', false],
    ['\\pL+', 'héllo', true],
    ['', '', true],
    ['.*', '', true],
  ];
  it.each(cases)('matches %s against %j as a whole value: %s', (pattern, value, expected) => {
    expect(compileRegex(pattern).test(value)).toBe(expected);
  });

  it('evaluates a catastrophic-backtracking pattern on a long non-matching value', () => {
    const value = 'a'.repeat(50_000) + '!';
    expect(compileRegex('(a+)+$').test(value)).toBe(false);
    expect(compileRegex('(a|aa)+').test(value)).toBe(false);
    expect(compileRegex('(a+)+$').test('a'.repeat(50_000))).toBe(true);
  });

  it('returns the same compiled pattern for the same source', () => {
    expect(compileRegex('ab+')).toBe(compileRegex('ab+'));
  });

  it('rewrites with Envoy-style group references', () => {
    const re = compileRegex('^/service/([^/]+)(/.*)$');
    expect(re.replaceAll('/service/foo/v1/api', '\\2/instance/\\1')).toBe('/v1/api/instance/foo');
    expect(compileRegex('a').replaceAll('banana', '$')).toBe('b$n$n$');
  });

  it('throws a RegexSyntaxError naming the pattern', () => {
    expect(() => compileRegex('(a')).toThrow(RegexSyntaxError);
    expect(() => compileRegex('(a')).toThrow('invalid RE2 regex "(a": missing closing ): `(a`');
  });
});

describe('regexError', () => {
  const refused: [pattern: string, reason: string][] = [
    ['(a', 'missing closing ): `(a`'],
    ['a\\1', 'invalid escape sequence: `\\1`'],
    ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
    ['(?<=a)b', 'invalid named capture: `(?<=a)b`'],
    ['a{1001}', 'invalid repeat count: `{1001}`'],
    ['((a{100}){100}){100}', 'invalid repeat count: `{100}`'],
    ['[z-a]', 'invalid character class range: `z-a`'],
  ];
  it.each(refused)('refuses %s (not RE2): %s', (pattern, reason) => {
    expect(regexError(pattern)).toBe(reason);
  });

  it('accepts valid RE2 patterns', () => {
    expect(regexError('(?i)^/v[12]/.*')).toBeUndefined();
    expect(regexError('[[:alpha:]]+')).toBeUndefined();
  });
});

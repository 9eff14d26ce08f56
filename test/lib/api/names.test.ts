import { describe, expect, it } from 'vitest';
import {
  cidrError,
  dnsLabelError,
  dnsSubdomainError,
  hostError,
  labelKeyError,
  labelValueError,
  portNameError,
  serviceNameError,
} from '../../../lib/api/names.js';

type Check = (value: string) => string | undefined;

const cases: [name: string, check: Check, valid: string[], invalid: string[]][] = [
  [
    'DNS labels',
    dnsLabelError,
    ['default', 'v1', 'a-b', '9lives'],
    ['Default', '-a', 'a-', 'a.b', 'a_b', 'x'.repeat(64)],
  ],
  ['Service names', serviceNameError, ['reviews', 'a1'], ['9lives', 'Reviews', 'a.b']],
  ['DNS subdomains', dnsSubdomainError, ['reviews', 'a.b-c.d'], ['a..b', 'A.b', '.a']],
  [
    'label keys',
    labelKeyError,
    ['app', 'app.kubernetes.io/name', 'A_b.c'],
    ['', 'a/b/c', 'Bad_Prefix/x', '-a', 'x'.repeat(64)],
  ],
  ['port names', portNameError, ['http', 'http-web', 'h2c'], ['HTTP', '8080', 'a--b', 'x'.repeat(16)]],
  [
    'hosts',
    hostError,
    ['reviews', 'reviews.default.svc.cluster.local', '*.example.com', '*', 'example.com.'],
    ['', 'a b', '*a.com', 'a/b', 'a..b'],
  ],
  [
    'IP addresses and CIDR blocks',
    cidrError,
    ['10.0.0.0/8', '1.2.3.4', '2001:db8::/32', '::1'],
    ['10.0.0.0/33', '300.1.1.1', 'a.b.c.d', '10.0.0.0/x'],
  ],
];

describe('name rules', () => {
  for (const [name, check, valid, invalid] of cases) {
    it.each(valid)(`accepts %j as one of the ${name}`, (v) => {
      expect(check(v)).toBeUndefined();
    });
    it.each(invalid)(`refuses %j as one of the ${name}, saying why`, (v) => {
      expect(check(v)).toMatch(/./);
    });
  }

  it('accepts empty label values and refuses values that are not strings', () => {
    expect(labelValueError('')).toBeUndefined();
    expect(labelValueError(true)).toBe('label values must be strings, got true');
  });

  it('refuses "*" as a host where a wildcard is not allowed', () => {
    expect(hostError('*', { allowStar: false })).toBe('"*" is not allowed here');
  });
});

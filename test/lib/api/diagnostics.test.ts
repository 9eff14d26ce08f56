import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  countDiagnostics,
  DIAGNOSTIC_CODES,
  type Diagnostic,
  diagnostic,
  formatDiagnostic,
  hasErrors,
  sortDiagnostics,
} from '../../../lib/api/diagnostics.js';

describe('formatDiagnostic', () => {
  const cases: [name: string, d: Diagnostic, line: string][] = [
    [
      'an error with object, file, line and path',
      {
        severity: 'error',
        code: 'IST0106',
        object: 'VirtualService default/reviews',
        path: 'spec.http[1].route[0].weight',
        message: '-5 is out of range; expected an integer from 0 to 100',
        source: { file: 'reviews.yaml', index: 0, line: 3 },
      },
      'Error [IST0106] (VirtualService default/reviews reviews.yaml:3) spec.http[1].route[0].weight: -5 is out of range; expected an integer from 0 to 100',
    ],
    [
      'a warning without a source',
      {
        severity: 'warning',
        code: 'IST0130',
        object: 'VirtualService default/a',
        message: 'rule #1 is not used',
      },
      'Warning [IST0130] (VirtualService default/a) rule #1 is not used',
    ],
    [
      'a file-level problem with a document index',
      { severity: 'info', code: 'TSM0007', message: 'ignored', source: { file: 'x.yaml', index: 2 } },
      'Info [TSM0007] (x.yaml#2) ignored',
    ],
    ['a bare message', { severity: 'error', code: 'TSM0004', message: 'broken' }, 'Error [TSM0004] broken'],
  ];
  it.each(cases)('formats %s in istioctl style', (_name, d, line) => {
    expect(formatDiagnostic(d)).toBe(line);
  });
});

describe('diagnostic codes', () => {
  it('gives every code a unique identifier in IST or TSM form', () => {
    const codes = Object.values(DIAGNOSTIC_CODES).map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^(IST|TSM)\d{4}$/);
  });

  it('documents every code in docs/config.md', () => {
    const doc = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
    for (const c of Object.values(DIAGNOSTIC_CODES)) {
      expect(doc).toMatch(new RegExp(`\\| ${c.code} \\| ${c.name} +\\|`));
    }
  });

  it('builds a diagnostic with the default severity of its code', () => {
    expect(diagnostic('faultWithoutPercentage', { message: 'm', path: 'spec.http[0].fault' })).toEqual({
      severity: 'warning',
      code: 'TSM0003',
      path: 'spec.http[0].fault',
      message: 'm',
    });
  });
});

describe('sorting and counting', () => {
  const list: Diagnostic[] = [
    { severity: 'info', code: 'IST0131', message: 'c' },
    { severity: 'warning', code: 'IST0130', message: 'b', source: { file: 'b.yaml', line: 1 } },
    { severity: 'error', code: 'IST0106', message: 'a', source: { file: 'b.yaml', line: 9 } },
    { severity: 'error', code: 'IST0106', message: 'a', source: { file: 'a.yaml', line: 20 } },
  ];
  it('puts errors first, then by file and line', () => {
    expect(sortDiagnostics(list).map((d) => `${d.severity} ${d.source?.file ?? '-'}`)).toEqual([
      'error a.yaml',
      'error b.yaml',
      'warning b.yaml',
      'info -',
    ]);
  });
  it('counts per severity and knows when there are errors', () => {
    expect(countDiagnostics(list)).toEqual({ error: 2, warning: 1, info: 1 });
    expect(hasErrors(list)).toBe(true);
    expect(hasErrors(list.slice(0, 2))).toBe(false);
  });
});

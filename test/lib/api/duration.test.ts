import { describe, expect, it } from 'vitest';
import { DurationError, durationError, formatDuration, parseDuration } from '../../../lib/api/duration.js';

describe('parseDuration', () => {
  const exact: [text: string, ms: number][] = [
    ['1.5s', 1500],
    ['500ms', 500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['2s500ms', 2500],
    ['1h30m', 5_400_000],
    ['0.1s', 100],
    ['0.001s', 1],
    ['.5s', 500],
    ['5.s', 5000],
    ['0s', 0],
    ['+3s', 3000],
    ['1000000ns', 1],
    ['2000us', 2],
    ['2000µs', 2],
    ['1.5h', 5_400_000],
    ['10s', 10_000],
    ['0.25m', 15_000],
  ];
  it.each(exact)('reads %s as exactly %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  const refused: [text: string, reason: string][] = [
    ['', 'empty; expected a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m'],
    ['-1s', 'negative durations are not allowed'],
    [
      '10',
      'missing unit after "10"; expected a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m',
    ],
    [
      '0',
      'missing unit after "0"; expected a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m',
    ],
    ['1d', 'unknown unit "d"; allowed units are h, m, s, ms, us, ns'],
    ['1 s', 'unknown unit " s"; allowed units are h, m, s, ms, us, ns'],
    ['s', 'expected a number at "s"'],
    [
      '1.5',
      'missing unit after "1.5"; expected a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m',
    ],
    ['1500us', 'only millisecond precision is supported'],
    ['1.0005s', 'only millisecond precision is supported'],
    ['abc', 'expected a number at "abc"'],
    ['1s-2s', 'unknown unit "s-"; allowed units are h, m, s, ms, us, ns'],
    ['3000000h', 'too large'],
  ];
  it.each(refused)('refuses %j: %s', (text, reason) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
    expect(durationError(text)).toBe(reason);
  });

  it('refuses a value that is not a string', () => {
    expect(durationError(5)).toMatch(/^expected a string/);
  });
});

describe('formatDuration', () => {
  const cases: [ms: number, text: string][] = [
    [0, '0s'],
    [1, '1ms'],
    [500, '500ms'],
    [1500, '1.5s'],
    [1050, '1.05s'],
    [30_000, '30s'],
    [300_000, '5m'],
    [7_200_000, '2h'],
    [5_400_000, '90m'],
    [61_001, '61.001s'],
  ];
  it.each(cases)('writes %d ms as %s, which reads back the same', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it('refuses negative and fractional milliseconds', () => {
    expect(() => formatDuration(-1)).toThrow(
      'a duration must be a whole, non-negative number of milliseconds, got -1',
    );
    expect(() => formatDuration(1.5)).toThrow(RangeError);
  });
});

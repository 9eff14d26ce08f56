import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { FaultInjection } from '../../constructs/index.js';

describe('FaultInjection', () => {
  it('renders delays and aborts with percentages', () => {
    expect(
      FaultInjection.of({
        delay: { delay: Duration.seconds(7), percent: 100 },
        abort: { httpStatus: 503, percent: 5 },
      })._render(),
    ).toEqual({
      delay: { fixedDelay: '7s', percentage: { value: 100 } },
      abort: { httpStatus: 503, percentage: { value: 5 } },
    });
  });
  it('fails on a bad status or percentage', () => {
    expect(() => FaultInjection.abort({ httpStatus: 99, percent: 10 })).toThrow(
      /httpStatus must be a whole number between 200 and 599, got 99/,
    );
    expect(() => FaultInjection.delay({ delay: Duration.seconds(1), percent: 101 })).toThrow(
      /delay percent must be between 0 and 100, got 101/,
    );
    expect(() => FaultInjection.of({})).toThrow(/set delay, abort or both/);
  });
});

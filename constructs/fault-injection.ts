import type { Duration } from 'cdk8s';
import type { HTTPFaultInjection } from '../lib/api/types.js';
import { checkInteger, checkPercent, renderDuration } from './private/validate-input.js';

/** Options of {@link FaultInjection.delay}. */
export interface DelayFaultOptions {
  /** The delay added before the request is forwarded. */
  readonly delay: Duration;
  /** Percentage (0..100) of requests delayed. */
  readonly percent: number;
}

/** Options of {@link FaultInjection.abort}. */
export interface AbortFaultOptions {
  /** The HTTP status returned instead of forwarding. */
  readonly httpStatus: number;
  /** Percentage (0..100) of requests aborted. */
  readonly percent: number;
}

/**
 * Faults injected on a route before it forwards (for testing resilience): delays and aborts, each
 * on a percentage of requests. An abort answers `fault filter abort` with the status given.
 *
 * @example
 * FaultInjection.delay({ delay: Duration.seconds(7), percent: 100 });
 * FaultInjection.abort({ httpStatus: 500, percent: 10 });
 * FaultInjection.of({ delay: { delay: Duration.seconds(2), percent: 50 }, abort: { httpStatus: 503, percent: 5 } });
 */
export class FaultInjection {
  public static delay(options: DelayFaultOptions): FaultInjection {
    return new FaultInjection(options, undefined);
  }
  public static abort(options: AbortFaultOptions): FaultInjection {
    return new FaultInjection(undefined, options);
  }
  public static of(options: { delay?: DelayFaultOptions; abort?: AbortFaultOptions }): FaultInjection {
    if (!options.delay && !options.abort) {
      throw new Error('fault injection: set delay, abort or both, got neither');
    }
    return new FaultInjection(options.delay, options.abort);
  }

  private readonly rendered: HTTPFaultInjection;

  private constructor(delay?: DelayFaultOptions, abort?: AbortFaultOptions) {
    this.rendered = {};
    if (delay) {
      this.rendered.delay = {
        fixedDelay: renderDuration('fault injection: delay', delay.delay),
        percentage: { value: checkPercent('fault injection: delay percent', delay.percent) },
      };
    }
    if (abort) {
      this.rendered.abort = {
        httpStatus: checkInteger('fault injection: abort httpStatus', abort.httpStatus, 200, 599),
        percentage: { value: checkPercent('fault injection: abort percent', abort.percent) },
      };
    }
  }

  /** @internal */
  public _render(): HTTPFaultInjection {
    return structuredClone(this.rendered);
  }
}

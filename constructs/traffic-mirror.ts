import type { Destination, Percent } from '../lib/api/types.js';
import { checkPercent } from './private/validate-input.js';
import type { IMeshService } from './service-base.js';

/** Options of {@link TrafficMirror.to}. */
export interface TrafficMirrorOptions {
  /**
   * The version (subset) receiving the copies.
   * @default - every version
   */
  readonly version?: string;
  /**
   * Percentage (0..100) of requests copied.
   * @default 100
   */
  readonly percent?: number;
}

/**
 * Copies requests to another service or version, fire-and-forget: responses of the copy are
 * discarded.
 *
 * @example
 * TrafficMirror.to(reviews, { version: 'v3', percent: 10 });
 */
export class TrafficMirror {
  public static to(service: IMeshService, options: TrafficMirrorOptions = {}): TrafficMirror {
    return new TrafficMirror(service, options);
  }

  public readonly service: IMeshService;
  public readonly version?: string;
  private readonly percent?: number;

  private constructor(service: IMeshService, options: TrafficMirrorOptions) {
    this.service = service;
    this.version = options.version;
    if (options.percent !== undefined)
      this.percent = checkPercent('traffic mirror: percent', options.percent);
  }

  /** @internal */
  public _render(): { mirror: Destination; mirrorPercentage?: Percent } {
    if (this.version !== undefined) this.service._useSubset(this.version, 'traffic mirror: version');
    const mirror: Destination = { host: this.service.host };
    if (this.version !== undefined) mirror.subset = this.version;
    return this.percent === undefined ? { mirror } : { mirror, mirrorPercentage: { value: this.percent } };
  }
}

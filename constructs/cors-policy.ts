import type { Duration } from 'cdk8s';
import type { CorsPolicy as IstioCorsPolicy, StringMatch } from '../lib/api/types.js';
import { checkRegex } from './private/regex.js';
import { renderDuration } from './private/validate-input.js';
import { HttpMethod } from './route-match.js';

/**
 * An origin a CORS policy allows (`Origin` header values look like `https://app.example.com`).
 *
 * @example
 * OriginMatch.exact('https://app.example.com');
 * OriginMatch.prefix('https://');
 * OriginMatch.regex('https://[a-z0-9-]+\\.preview\\.example\\.com');
 * OriginMatch.any();
 */
export class OriginMatch {
  public static exact(origin: string): OriginMatch {
    return new OriginMatch({ exact: checkOrigin(origin) });
  }
  public static prefix(prefix: string): OriginMatch {
    return new OriginMatch({ prefix: checkOrigin(prefix) });
  }
  /** An RE2 pattern the whole origin must match. */
  public static regex(pattern: string): OriginMatch {
    return new OriginMatch({ regex: checkRegex('cors origin regex', pattern) });
  }
  /** Every origin (an `exact: '*'` entry). */
  public static any(): OriginMatch {
    return new OriginMatch({ exact: '*' });
  }
  /** @internal */
  public readonly _match: StringMatch;
  private constructor(match: StringMatch) {
    this._match = match;
  }
}

function checkOrigin(origin: string): string {
  if (typeof origin !== 'string' || origin === '') {
    throw new Error(`cors origin must be a non-empty string, got ${JSON.stringify(origin)}`);
  }
  return origin;
}

/** What happens to a preflight from an origin the policy does not allow. */
export enum UnmatchedPreflights {
  /** Forward it to the service unchanged (the default). */
  FORWARD = 'FORWARD',
  /** Answer it at the proxy (200) without `Access-Control-Allow-Origin`. */
  IGNORE = 'IGNORE',
}

/** Props of {@link CorsPolicy.of}. */
export interface CorsPolicyProps {
  /** Origins allowed to make cross-origin requests. */
  readonly allowOrigins: OriginMatch[];
  /**
   * Methods a preflight may ask for (`Access-Control-Allow-Methods`).
   * @default - the header is not sent
   */
  readonly allowMethods?: HttpMethod[];
  /**
   * Request headers a preflight may ask for (`Access-Control-Allow-Headers`).
   * @default - the header is not sent
   */
  readonly allowHeaders?: string[];
  /**
   * Response headers the browser may expose (`Access-Control-Expose-Headers`).
   * @default - the header is not sent
   */
  readonly exposeHeaders?: string[];
  /**
   * How long a browser may cache a preflight answer, in whole seconds (`Access-Control-Max-Age`).
   * @default - the header is not sent
   */
  readonly maxAge?: Duration;
  /**
   * Allow credentials (`Access-Control-Allow-Credentials: true`).
   * @default false
   */
  readonly allowCredentials?: boolean;
  /**
   * What happens to a preflight from an origin not allowed.
   * @default UnmatchedPreflights.FORWARD
   */
  readonly unmatchedPreflights?: UnmatchedPreflights;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A route's CORS policy: the sidecar (or gateway) answers preflights from allowed origins itself
 * and adds the CORS headers to the responses of their actual requests.
 *
 * @example
 * new HttpRoute(chart, 'api', {
 *   service: api,
 *   cors: CorsPolicy.of({
 *     allowOrigins: [OriginMatch.exact('https://app.example.com')],
 *     allowMethods: [HttpMethod.GET, HttpMethod.POST],
 *     allowHeaders: ['content-type'],
 *     maxAge: Duration.hours(24),
 *   }),
 * });
 */
export class CorsPolicy {
  public static of(props: CorsPolicyProps): CorsPolicy {
    return new CorsPolicy(props);
  }

  private readonly rendered: IstioCorsPolicy;

  private constructor(props: CorsPolicyProps) {
    if (!props.allowOrigins || props.allowOrigins.length === 0) {
      throw new Error('cors policy: allowOrigins must list at least one origin, got none');
    }
    const out: IstioCorsPolicy = { allowOrigins: props.allowOrigins.map((o) => o._match) };
    if (props.allowMethods?.length) {
      const methods = Object.values(HttpMethod) as string[];
      for (const m of props.allowMethods) {
        if (!methods.includes(m)) {
          throw new Error(
            `cors policy: allowMethods has ${JSON.stringify(m)}; expected one of ${methods.join(', ')}`,
          );
        }
      }
      out.allowMethods = [...props.allowMethods];
    }
    if (props.allowHeaders?.length) out.allowHeaders = headerNames('allowHeaders', props.allowHeaders);
    if (props.exposeHeaders?.length) out.exposeHeaders = headerNames('exposeHeaders', props.exposeHeaders);
    if (props.maxAge) {
      const ms = props.maxAge.toMilliseconds();
      if (ms % 1000 !== 0) {
        throw new Error(`cors policy: maxAge must be whole seconds, got ${ms}ms`);
      }
      out.maxAge = renderDuration('cors policy: maxAge', props.maxAge);
    }
    if (props.allowCredentials) out.allowCredentials = true;
    if (props.unmatchedPreflights) out.unmatchedPreflights = props.unmatchedPreflights;
    this.rendered = out;
  }

  /** @internal */
  public _render(): IstioCorsPolicy {
    return structuredClone(this.rendered);
  }
}

function headerNames(field: string, names: string[]): string[] {
  for (const n of names) {
    if (typeof n !== 'string' || !HEADER_NAME.test(n)) {
      throw new Error(`cors policy: ${field} has ${JSON.stringify(n)}, which is not a valid header name`);
    }
  }
  return [...names];
}

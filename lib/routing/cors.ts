/**
 * VirtualService `http[].corsPolicy`, compiled once per rule and evaluated per request, with the
 * semantics of Envoy's CORS filter as Istio configures it:
 *
 * - A request without `Origin` (or with an empty one) is not a CORS request: nothing changes.
 * - A preflight is `OPTIONS` with `Origin` and a non-empty `Access-Control-Request-Method`.
 *   When the origin is allowed, the proxy answers it itself (200, never forwarded). When it is
 *   not, `unmatchedPreflights: FORWARD` (the default) forwards it unchanged, `IGNORE` answers
 *   200 without `Access-Control-Allow-Origin`.
 * - Any other request with an allowed origin is forwarded, and its response gets
 *   `Access-Control-Allow-Origin` (the request's origin), `-Expose-Headers` and
 *   `-Allow-Credentials`.
 *
 * An `allowOrigins` entry that matches the literal `*` allows every origin. Regexes go through
 * RE2 (lib/api/regex.ts) like every other config regex.
 */
import { parseDuration } from '../api/duration.js';
import type { CorsPolicy, StringMatch } from '../api/types.js';
import { compileStringMatch, type StringMatcher, testString } from './matchers.js';

export const CORS_HEADERS = {
  origin: 'origin',
  requestMethod: 'access-control-request-method',
  requestHeaders: 'access-control-request-headers',
  allowOrigin: 'access-control-allow-origin',
  allowMethods: 'access-control-allow-methods',
  allowHeaders: 'access-control-allow-headers',
  exposeHeaders: 'access-control-expose-headers',
  maxAge: 'access-control-max-age',
  allowCredentials: 'access-control-allow-credentials',
} as const;

/** What the CORS policy does to one request (undefined from `evaluate`: nothing). */
export type CorsOutcome =
  /** Answer the preflight with 200 and these headers; do not forward it. */
  | { kind: 'preflight'; originAllowed: boolean; headers: Record<string, string> }
  /** Forward the request and set these headers on its response. */
  | { kind: 'response'; headers: Record<string, string> };

/**
 * A route's CORS policy, ready to evaluate. The public fields are what the configuration says
 * (they are what `tsmesh explain` prints); the compiled origin matchers stay private.
 */
export class CompiledCors {
  /** The `allowOrigins` entries as configured. */
  readonly allowOrigins: readonly StringMatch[];
  /** `Access-Control-Allow-Methods` (the list joined by `,`); `*` echoes the requested method. */
  readonly allowMethods?: string;
  /** `Access-Control-Allow-Headers`; `*` echoes the requested headers. */
  readonly allowHeaders?: string;
  readonly exposeHeaders?: string;
  /** `Access-Control-Max-Age` in whole seconds. */
  readonly maxAge?: string;
  readonly allowCredentials: boolean;
  readonly unmatchedPreflights: 'FORWARD' | 'IGNORE';
  readonly #origins: readonly StringMatcher[];
  readonly #anyOrigin: boolean;

  constructor(policy: CorsPolicy) {
    this.allowOrigins = policy.allowOrigins ?? [];
    if (policy.allowMethods?.length) this.allowMethods = policy.allowMethods.join(',');
    if (policy.allowHeaders?.length) this.allowHeaders = policy.allowHeaders.join(',');
    if (policy.exposeHeaders?.length) this.exposeHeaders = policy.exposeHeaders.join(',');
    if (policy.maxAge !== undefined) this.maxAge = String(Math.floor(parseDuration(policy.maxAge) / 1000));
    this.allowCredentials = policy.allowCredentials === true;
    this.unmatchedPreflights = policy.unmatchedPreflights === 'IGNORE' ? 'IGNORE' : 'FORWARD';
    this.#origins = this.allowOrigins.map((m) => compileStringMatch(m));
    this.#anyOrigin = this.#origins.some((m) => testString(m, '*'));
  }

  /** Whether an `Origin` value is allowed. */
  allowsOrigin(origin: string): boolean {
    if (this.#anyOrigin) return true;
    const origins = this.#origins;
    for (let i = 0; i < origins.length; i++) if (testString(origins[i], origin)) return true;
    return false;
  }

  /**
   * What to do with a request: `method` upper-case, the other values the first value of the
   * request header of that name (undefined when absent).
   */
  evaluate(
    method: string,
    origin: string | undefined,
    requestMethod: string | undefined,
    requestHeaders: string | undefined,
  ): CorsOutcome | undefined {
    if (origin === undefined || origin === '') return undefined;
    const allowed = this.allowsOrigin(origin);
    if (method === 'OPTIONS' && requestMethod !== undefined && requestMethod !== '') {
      if (!allowed && this.unmatchedPreflights === 'FORWARD') return undefined;
      const headers: Record<string, string> = {};
      if (allowed) headers[CORS_HEADERS.allowOrigin] = origin;
      if (this.allowCredentials) headers[CORS_HEADERS.allowCredentials] = 'true';
      if (this.allowMethods !== undefined)
        headers[CORS_HEADERS.allowMethods] = this.allowMethods === '*' ? requestMethod : this.allowMethods;
      if (this.allowHeaders !== undefined) {
        const value = this.allowHeaders === '*' ? requestHeaders : this.allowHeaders;
        if (value !== undefined && value !== '') headers[CORS_HEADERS.allowHeaders] = value;
      }
      if (this.maxAge !== undefined) headers[CORS_HEADERS.maxAge] = this.maxAge;
      return { kind: 'preflight', originAllowed: allowed, headers };
    }
    if (!allowed) return undefined;
    const headers: Record<string, string> = { [CORS_HEADERS.allowOrigin]: origin };
    if (this.allowCredentials) headers[CORS_HEADERS.allowCredentials] = 'true';
    if (this.exposeHeaders !== undefined) headers[CORS_HEADERS.exposeHeaders] = this.exposeHeaders;
    return { kind: 'response', headers };
  }
}

/** Compiles a rule's `corsPolicy`; undefined when the rule has none. */
export function compileCors(policy: CorsPolicy | undefined): CompiledCors | undefined {
  return policy ? new CompiledCors(policy) : undefined;
}

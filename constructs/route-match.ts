import type { HTTPMatchRequest, StringMatch } from '../lib/api/types.js';
import { checkRegex } from './private/regex.js';

/** HTTP methods a route can match. */
export enum HttpMethod {
  GET = 'GET',
  HEAD = 'HEAD',
  POST = 'POST',
  PUT = 'PUT',
  DELETE = 'DELETE',
  PATCH = 'PATCH',
  OPTIONS = 'OPTIONS',
  CONNECT = 'CONNECT',
  TRACE = 'TRACE',
}

/** Methods a retry may not repeat without an explicit opt-in. */
export const NON_IDEMPOTENT_METHODS: readonly HttpMethod[] = [
  HttpMethod.POST,
  HttpMethod.PATCH,
  HttpMethod.CONNECT,
];

function stringMatch(what: string, kind: 'exact' | 'prefix' | 'regex', value: string): StringMatch {
  if (typeof value !== 'string') throw new Error(`${what} must be a string, got ${JSON.stringify(value)}`);
  if (kind === 'regex') checkRegex(what, value);
  return { [kind]: value };
}

/**
 * A condition on a request header (names are lower case; values are case-sensitive).
 *
 * @example
 * HeaderMatch.exact('end-user', 'jason');
 * HeaderMatch.regex('user-agent', '.*Firefox.*');
 * HeaderMatch.present('x-canary');
 * HeaderMatch.absent('x-debug');
 */
export class HeaderMatch {
  public static exact(name: string, value: string): HeaderMatch {
    return new HeaderMatch(name, stringMatch(`header match '${name}'`, 'exact', value), false);
  }
  public static prefix(name: string, value: string): HeaderMatch {
    return new HeaderMatch(name, stringMatch(`header match '${name}'`, 'prefix', value), false);
  }
  /** RE2 syntax, matching the whole value. */
  public static regex(name: string, pattern: string): HeaderMatch {
    return new HeaderMatch(name, stringMatch(`header match '${name}'`, 'regex', pattern), false);
  }
  public static present(name: string): HeaderMatch {
    return new HeaderMatch(name, {}, false);
  }
  /** The header is absent (Istio's `withoutHeaders` with an empty match). */
  public static absent(name: string): HeaderMatch {
    return new HeaderMatch(name, {}, true);
  }
  /** The header is not exactly `value` (or absent). */
  public static notExact(name: string, value: string): HeaderMatch {
    return new HeaderMatch(name, stringMatch(`header match '${name}'`, 'exact', value), true);
  }

  public readonly name: string;
  /** @internal */
  public readonly _match: StringMatch;
  /** @internal */
  public readonly _invert: boolean;

  private constructor(name: string, match: StringMatch, invert: boolean) {
    if (typeof name !== 'string' || !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
      throw new Error(
        `header match: name must be a lower-case HTTP header name, got ${JSON.stringify(name)}`,
      );
    }
    this.name = name;
    this._match = match;
    this._invert = invert;
  }
}

/**
 * A condition on the request path (without the query string).
 *
 * @example
 * PathMatch.exact('/productpage');
 * PathMatch.prefix('/api/v1/products');
 * PathMatch.regex('/reviews/[0-9]+');
 */
export class PathMatch {
  public static exact(path: string): PathMatch {
    return new PathMatch(stringMatch('path match', 'exact', checkPath(path)));
  }
  public static prefix(prefix: string): PathMatch {
    return new PathMatch(stringMatch('path match', 'prefix', checkPath(prefix)));
  }
  public static regex(pattern: string): PathMatch {
    return new PathMatch(stringMatch('path match', 'regex', pattern));
  }
  /** @internal */
  public readonly _match: StringMatch;
  private constructor(match: StringMatch) {
    this._match = match;
  }
}

function checkPath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new Error(`path match must start with '/', got ${JSON.stringify(path)}`);
  }
  return path;
}

/**
 * A condition on a query parameter.
 *
 * @example
 * QueryParameterMatch.exact('debug', 'true');
 */
export class QueryParameterMatch {
  public static exact(name: string, value: string): QueryParameterMatch {
    return new QueryParameterMatch(name, stringMatch(`query parameter match '${name}'`, 'exact', value));
  }
  public static prefix(name: string, value: string): QueryParameterMatch {
    return new QueryParameterMatch(name, stringMatch(`query parameter match '${name}'`, 'prefix', value));
  }
  public static regex(name: string, pattern: string): QueryParameterMatch {
    return new QueryParameterMatch(name, stringMatch(`query parameter match '${name}'`, 'regex', pattern));
  }
  public readonly name: string;
  /** @internal */
  public readonly _match: StringMatch;
  private constructor(name: string, match: StringMatch) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new Error(`query parameter match: name must be a non-empty string, got ${JSON.stringify(name)}`);
    }
    this.name = name;
    this._match = match;
  }
}

/** One set of conditions of a route; all must hold. A route's matches are alternatives. */
export interface HttpRouteMatch {
  /**
   * Condition on the path.
   * @default - any path
   */
  readonly path?: PathMatch;
  /**
   * Conditions on headers.
   * @default - any headers
   */
  readonly headers?: HeaderMatch[];
  /**
   * The method.
   * @default - any method
   */
  readonly method?: HttpMethod;
  /**
   * Conditions on query parameters.
   * @default - any query
   */
  readonly queryParameters?: QueryParameterMatch[];
  /**
   * Compare exact and prefix path matches case-insensitively.
   * @default false
   */
  readonly ignoreUriCase?: boolean;
  /**
   * Only requests from workloads with these labels.
   * @default - any caller
   */
  readonly sourceLabels?: Record<string, string>;
  /**
   * Only requests from workloads in this namespace.
   * @default - any namespace
   */
  readonly sourceNamespace?: string;
}

/** @internal renders one match, checking its fields. */
export function renderMatch(what: string, m: HttpRouteMatch): HTTPMatchRequest {
  if (m.method !== undefined && !Object.values(HttpMethod).includes(m.method)) {
    throw new Error(
      `${what}: method must be one of ${Object.values(HttpMethod).join(', ')}, got ${JSON.stringify(m.method)}`,
    );
  }
  const out: HTTPMatchRequest = {};
  if (m.path) out.uri = m.path._match;
  if (m.method) out.method = { exact: m.method };
  const headers = (m.headers ?? []).filter((h) => !h._invert);
  const without = (m.headers ?? []).filter((h) => h._invert);
  if (headers.length > 0) out.headers = Object.fromEntries(headers.map((h) => [h.name, h._match]));
  if (without.length > 0) out.withoutHeaders = Object.fromEntries(without.map((h) => [h.name, h._match]));
  for (const list of [headers, without]) {
    const names = list.map((h) => h.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup)
      throw new Error(`${what}: header '${dup}' is matched twice in one match; use a regex or two matches`);
  }
  if (m.queryParameters?.length) {
    out.queryParams = Object.fromEntries(m.queryParameters.map((q) => [q.name, q._match]));
  }
  if (m.ignoreUriCase) {
    if (!m.path) throw new Error(`${what}: ignoreUriCase needs a path match`);
    out.ignoreUriCase = true;
  }
  if (m.sourceLabels) out.sourceLabels = { ...m.sourceLabels };
  if (m.sourceNamespace) out.sourceNamespace = m.sourceNamespace;
  if (Object.keys(out).length === 0) {
    throw new Error(
      `${what} sets no condition, so it matches every request; omit match for a route that takes every request`,
    );
  }
  return out;
}

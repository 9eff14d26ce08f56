import type { HeaderOperations, Headers, HTTPRedirect, HTTPRewrite } from '../lib/api/types.js';
import { checkRegex } from './private/regex.js';
import { checkInteger, checkPort } from './private/validate-input.js';

/**
 * Rewrites a request before it is forwarded.
 *
 * @example
 * HttpRewrite.uri('/v2/');
 * HttpRewrite.authority('reviews.internal');
 * HttpRewrite.regex('^/old/(.*)$', '/new/\\1');
 */
export class HttpRewrite {
  /** Replaces the matched path prefix (or the whole path for an exact match) with `uri`. */
  public static uri(uri: string, authority?: string): HttpRewrite {
    if (typeof uri !== 'string' || !uri.startsWith('/')) {
      throw new Error(`http rewrite: uri must start with '/', got ${JSON.stringify(uri)}`);
    }
    return new HttpRewrite({ uri, authority });
  }
  /** Replaces the Host/authority. */
  public static authority(authority: string): HttpRewrite {
    if (typeof authority !== 'string' || authority.length === 0) {
      throw new Error(`http rewrite: authority must be a non-empty host, got ${JSON.stringify(authority)}`);
    }
    return new HttpRewrite({ authority });
  }
  /** Rewrites the path with an RE2 pattern; `\1`..`\9` refer to groups. */
  public static regex(pattern: string, rewrite: string): HttpRewrite {
    checkRegex('http rewrite: pattern', pattern);
    return new HttpRewrite({ uriRegexRewrite: { match: pattern, rewrite } });
  }
  private constructor(private readonly rendered: HTTPRewrite) {}
  /** @internal */
  public _render(): HTTPRewrite {
    return Object.fromEntries(
      Object.entries(this.rendered).filter(([, v]) => v !== undefined),
    ) as HTTPRewrite;
  }
}

/** Options of {@link HttpRedirect.to}. */
export interface HttpRedirectOptions {
  /**
   * The new path.
   * @default - the request's path
   */
  readonly uri?: string;
  /**
   * The new authority.
   * @default - the request's authority
   */
  readonly authority?: string;
  /**
   * The new port.
   * @default - the request's port
   */
  readonly port?: number;
  /**
   * The new scheme (`http` or `https`).
   * @default - the request's scheme
   */
  readonly scheme?: string;
  /**
   * The status code.
   * @default 301
   */
  readonly redirectCode?: number;
}

/**
 * Answers with a redirect instead of forwarding.
 *
 * @example
 * HttpRedirect.to({ uri: '/v1/bookRatings', authority: 'newratings.default.svc.cluster.local' });
 */
export class HttpRedirect {
  public static to(options: HttpRedirectOptions): HttpRedirect {
    return new HttpRedirect(options);
  }
  private readonly rendered: HTTPRedirect;
  private constructor(o: HttpRedirectOptions) {
    if (o.uri === undefined && o.authority === undefined && o.port === undefined && o.scheme === undefined) {
      throw new Error('http redirect: set at least one of uri, authority, port, scheme');
    }
    if (o.uri !== undefined && !o.uri.startsWith('/')) {
      throw new Error(`http redirect: uri must start with '/', got ${JSON.stringify(o.uri)}`);
    }
    if (o.scheme !== undefined && o.scheme !== 'http' && o.scheme !== 'https') {
      throw new Error(`http redirect: scheme must be http or https, got ${JSON.stringify(o.scheme)}`);
    }
    if (o.port !== undefined) checkPort('http redirect: port', o.port);
    const code = o.redirectCode ?? 301;
    if (![301, 302, 303, 307, 308].includes(code)) {
      throw new Error(
        `http redirect: redirectCode must be 301, 302, 303, 307 or 308, got ${JSON.stringify(code)}`,
      );
    }
    checkInteger('http redirect: redirectCode', code, 300, 399);
    this.rendered = Object.fromEntries(
      Object.entries({
        uri: o.uri,
        authority: o.authority,
        port: o.port,
        scheme: o.scheme,
        redirectCode: o.redirectCode,
      }).filter(([, v]) => v !== undefined),
    ) as HTTPRedirect;
  }
  /** @internal */
  public _render(): HTTPRedirect {
    return { ...this.rendered };
  }
}

/** Header edits on one direction of a request. */
export interface HeaderOperationOptions {
  /**
   * Headers set (replacing any value).
   * @default - none
   */
  readonly set?: Record<string, string>;
  /**
   * Headers appended.
   * @default - none
   */
  readonly add?: Record<string, string>;
  /**
   * Headers removed.
   * @default - none
   */
  readonly remove?: string[];
}

/** Header edits on requests and responses of a route. */
export interface HeaderEdits {
  /**
   * Edits of the request forwarded upstream.
   * @default - none
   */
  readonly request?: HeaderOperationOptions;
  /**
   * Edits of the response returned downstream.
   * @default - none
   */
  readonly response?: HeaderOperationOptions;
}

/** @internal */
export function renderHeaderEdits(what: string, edits: HeaderEdits): Headers {
  const one = (dir: string, o?: HeaderOperationOptions): HeaderOperations | undefined => {
    if (!o) return undefined;
    const out: HeaderOperations = {};
    for (const [k, v] of Object.entries({ ...o.set, ...o.add })) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k)) {
        throw new Error(
          `${what}: ${dir} header name must be a valid HTTP header name, got ${JSON.stringify(k)}`,
        );
      }
      if (typeof v !== 'string' || /[\r\n\0]/.test(v)) {
        throw new Error(`${what}: ${dir} header '${k}' value must be a string without CR, LF or NUL`);
      }
    }
    if (o.set && Object.keys(o.set).length) out.set = { ...o.set };
    if (o.add && Object.keys(o.add).length) out.add = { ...o.add };
    if (o.remove?.length) out.remove = [...o.remove];
    return Object.keys(out).length ? out : undefined;
  };
  const out: Headers = {};
  const request = one('request', edits.request);
  const response = one('response', edits.response);
  if (request) out.request = request;
  if (response) out.response = response;
  return out;
}

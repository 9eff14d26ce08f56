/**
 * The first step at every listener: hygiene checks on the raw request, then the request target
 * and authority normalized once. Routing, authorization and forwarding all use the result.
 */
import type { IncomingMessage } from 'node:http';
import { parseAuthority } from '../../../lib/hosts.js';
import { normalizeRequestTarget, type PathNormalizationMode } from '../../../lib/normalize.js';
import { checkRawHeaders, type HygieneError } from '../hygiene.js';

export interface PreparedRequest {
  /** Normalized path (no query). */
  path: string;
  /** Raw query without `?` ('' when none). */
  query: string;
  /** Path plus `?query`, as forwarded. */
  target: string;
  /** The authority as received (Host, or the absolute-form authority). */
  authority: string;
  /** Lower-case host without port or trailing dot. */
  host: string;
  port?: number;
  /** The request used absolute-form (explicit proxy). */
  absoluteForm: boolean;
}

export function prepareRequest(
  req: IncomingMessage,
  mode: PathNormalizationMode,
  maxHeadersCount: number,
): PreparedRequest | HygieneError {
  const bad = checkRawHeaders(req.rawHeaders, { maxHeadersCount });
  if (bad) return bad;
  const target = normalizeRequestTarget(req.url ?? '', { mode });
  if ('error' in target) return { status: 400, message: target.error };
  const hostHeader = req.headers.host;
  let authority = hostHeader ?? '';
  if (target.authority !== undefined) {
    if (target.scheme !== 'http')
      return { status: 400, message: `unsupported scheme '${target.scheme}' in request target` };
    if (hostHeader !== undefined && !sameAuthority(hostHeader, target.authority)) {
      return { status: 400, message: 'request target authority does not match the Host header' };
    }
    authority = target.authority;
  }
  if (authority === '') return { status: 400, message: 'missing Host header' };
  const parsed = parseAuthority(authority);
  if (parsed.host === '' || /[^a-z0-9.\-_:[\]]/.test(parsed.host)) {
    return { status: 400, message: 'invalid Host header' };
  }
  const out: PreparedRequest = {
    path: target.path,
    query: target.query,
    target: target.query ? `${target.path}?${target.query}` : target.path,
    authority,
    host: parsed.host,
    absoluteForm: target.authority !== undefined,
  };
  if (parsed.port !== undefined) out.port = parsed.port;
  return out;
}

function sameAuthority(a: string, b: string): boolean {
  const x = parseAuthority(a);
  const y = parseAuthority(b);
  return x.host === y.host && (x.port ?? 80) === (y.port ?? 80);
}

/**
 * The request's headers as routing and hashing read them: one value per name. Node joins
 * repeated request headers into one string except `set-cookie` (an array), so the parsed object
 * serves as it is unless that header is present.
 */
export function firstValues(req: IncomingMessage): Record<string, string | undefined> {
  const h = req.headers;
  if (h['set-cookie'] === undefined) return h as Record<string, string | undefined>;
  const out: Record<string, string | undefined> = {};
  for (const name in h) {
    const v = h[name];
    out[name] = Array.isArray(v) ? v[0] : v;
  }
  return out;
}

export function isHygieneError(v: PreparedRequest | HygieneError): v is HygieneError {
  return (v as HygieneError).status !== undefined;
}

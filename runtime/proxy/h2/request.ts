/**
 * The first step for an HTTP/2 stream, as for HTTP/1.1 (listeners/prepare.ts): header limits and
 * control bytes checked on the raw list, `:path` normalized once, `:authority` parsed, and the
 * forwarded header list filtered (hop-by-hop and mesh-internal headers dropped, `te: trailers`
 * kept for gRPC).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { parseAuthority } from '../../../lib/hosts.js';
import { normalizeRequestTarget, type PathNormalizationMode } from '../../../lib/normalize.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { checkRawHeaders, type FilterOptions, filterRequestHeaders, type HygieneError } from '../hygiene.js';
import { H2Exchange } from './forward.js';
import { isGrpcContentType } from './grpc.js';

export interface H2Request {
  method: string;
  /** Normalized path without the query. */
  path: string;
  query: string;
  /** Path plus `?query`, as forwarded. */
  target: string;
  authority: string;
  host: string;
  port?: number;
  scheme: string;
  /** Forwarded headers (no pseudo-headers, no Host), flat. */
  list: string[];
  /** Mesh-internal headers the sender was trusted for. */
  trusted: Map<string, string>;
  /** First value of each header (lower-case names), for routing and policy. */
  values: Record<string, string | undefined>;
}

export function prepareH2(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  mode: PathNormalizationMode,
  maxHeadersCount: number,
  filter: FilterOptions = {},
): H2Request | HygieneError {
  const plain: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].charCodeAt(0) !== 0x3a) plain.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  const bad = checkRawHeaders(plain, { maxHeadersCount });
  if (bad) return bad;
  const method = String(headers[':method'] ?? 'GET');
  const rawPath = String(headers[':path'] ?? '');
  const target = normalizeRequestTarget(rawPath, { mode });
  if ('error' in target) return { status: 400, message: target.error };
  const authority = String(headers[':authority'] ?? headers.host ?? '');
  if (authority === '') return { status: 400, message: 'missing :authority' };
  const parsed = parseAuthority(authority);
  if (parsed.host === '' || /[^a-z0-9.\-_:[\]]/.test(parsed.host))
    return { status: 400, message: 'invalid :authority' };
  const filtered = filterRequestHeaders(plain, { ...filter, dropHost: true });
  const values: Record<string, string | undefined> = {};
  for (const name in headers) {
    if (name.startsWith(':')) continue;
    const v = headers[name];
    values[name] = Array.isArray(v) ? v[0] : v;
  }
  const out: H2Request = {
    method,
    path: target.path,
    query: target.query,
    target: target.query ? `${target.path}?${target.query}` : target.path,
    authority,
    host: parsed.host,
    scheme: String(headers[':scheme'] ?? 'http'),
    list: filtered.list,
    trusted: filtered.trusted,
    values,
  };
  if (parsed.port !== undefined) out.port = parsed.port;
  return out;
}

/** A flat header list as an HTTP/2 header object (repeated names become arrays). */
export function listToHeaders(list: readonly string[], into: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i].toLowerCase();
    const prev = into[name];
    if (prev === undefined) into[name] = list[i + 1];
    else into[name] = [...(Array.isArray(prev) ? prev : [String(prev)]), list[i + 1]];
  }
  return into;
}

export function isHygieneError(v: H2Request | HygieneError): v is HygieneError {
  return (v as HygieneError).status !== undefined && (v as H2Request).list === undefined;
}

/** Stream errors surface as a closed stream; the forwarders and telemetry handle that. */
function ignoreStreamError(): void {}

/** The exchange of an HTTP/2 stream a listener accepted (counted as a downstream request). */
export function startH2Exchange(
  ctx: ProxyContext,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
): H2Exchange {
  ctx.counters.downstreamRequests++;
  stream.on('error', ignoreStreamError);
  const ex = new H2Exchange();
  ex.method = String(headers[':method'] ?? 'GET');
  ex.path = String(headers[':path'] ?? '');
  ex.grpc = isGrpcContentType(headers['content-type']);
  return ex;
}

/**
 * {@link prepareH2} at a listener: a stream that fails hygiene is answered with `reply` (flag
 * `DPE`) and undefined returned; otherwise the exchange takes the normalized target and authority.
 */
export function prepareH2OrReject(
  ctx: ProxyContext,
  cfg: ActiveConfig,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  ex: H2Exchange,
  reply: (status: number, body: string) => void,
  filter?: FilterOptions,
): H2Request | undefined {
  const prepared = prepareH2(
    headers,
    rawHeaders,
    cfg.table.mesh.pathNormalization,
    ctx.options.maxHeadersCount,
    filter,
  );
  if (isHygieneError(prepared)) {
    ctx.counters.hygieneRejections++;
    ex.flag('DPE');
    reply(prepared.status, prepared.message);
    return undefined;
  }
  ex.path = prepared.target;
  ex.authority = prepared.authority;
  return prepared;
}

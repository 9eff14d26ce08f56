/**
 * The first step at every listener: hygiene checks on the raw request, then the request target
 * and authority normalized once. Routing, authorization and forwarding all use the result.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import { parseAuthority } from '../../../lib/hosts.js';
import { normalizeRequestTarget, type PathNormalizationMode } from '../../../lib/normalize.js';
import { route } from '../../../lib/routing/route.js';
import type { RequestAttributes, RouteDecision } from '../../../lib/routing/types.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { Exchange, LOCAL_REPLY, localReply } from '../exchange.js';
import { checkRawHeaders, type HygieneError } from '../hygiene.js';
import type { SpanRecord } from '../telemetry/index.js';

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

/** The exchange of a request a listener accepted (counted as a downstream request). */
export function startExchange(ctx: ProxyContext, req: IncomingMessage): Exchange {
  ctx.counters.downstreamRequests++;
  const ex = new Exchange();
  ex.method = req.method ?? 'GET';
  ex.path = req.url ?? '';
  return ex;
}

/**
 * {@link prepareRequest} at an HTTP/1.1 listener: without a config yet the request is answered
 * 503, a request that fails hygiene 400 or 431 (flag `DPE`, connection closed), and undefined
 * returned; otherwise the exchange takes the normalized target and authority.
 */
export function prepareOrReject(
  ctx: ProxyContext,
  cfg: ActiveConfig | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  closeWhenNotReady = false,
): PreparedRequest | undefined {
  if (cfg === undefined) {
    localReply(res, ex, 503, LOCAL_REPLY.notReady, { close: closeWhenNotReady });
    return undefined;
  }
  const prepared = prepareRequest(req, cfg.table.mesh.pathNormalization, ctx.options.maxHeadersCount);
  if (isHygieneError(prepared)) {
    ctx.counters.hygieneRejections++;
    ex.flag('DPE');
    localReply(res, ex, prepared.status, prepared.message, { close: true });
    return undefined;
  }
  ex.path = prepared.target;
  ex.authority = prepared.authority;
  return prepared;
}

/**
 * Names the request for the next hop: keeps the client's `x-request-id` or appends a new one to
 * `list`, and appends this hop's trace headers (the incoming ones are already removed). Returns
 * the span that ends with the telemetry record.
 */
export function tagRequest(
  ctx: ProxyContext,
  ex: Exchange,
  list: string[],
  incoming: IncomingHttpHeaders,
  requestId: string | string[] | undefined,
  reporter: 'source' | 'destination',
): SpanRecord | undefined {
  let id = requestId;
  if (typeof id !== 'string' || id === '') {
    id = randomUUID();
    list.push(HEADERS.requestId, id);
  }
  ex.requestId = id;
  const started = ctx.telemetry.tracer.startSpan(incoming, reporter);
  const upstream = started.headersForUpstream;
  for (const name in upstream) list.push(name, upstream[name]);
  return started.span;
}

/** The route name telemetry reports: the rule's name, else `namespace/name#index`, else `default`. */
export function routeNameOf(decision: RouteDecision): string {
  return (
    decision.ruleName ??
    (decision.ruleIndex !== undefined ? `${decision.virtualService}#${decision.ruleIndex}` : 'default')
  );
}

/** Routes a request with the proxy's table and names the route for telemetry. */
export function routeRequest(
  ctx: ProxyContext,
  cfg: ActiveConfig,
  req: IncomingMessage,
  ex: Exchange,
  prepared: PreparedRequest,
  port: number,
  scheme: 'http' | 'https',
): RouteDecision {
  const attrs: RequestAttributes = {
    authority: prepared.authority,
    port,
    method: ex.method,
    path: prepared.path,
    query: prepared.query,
    scheme,
    headers: firstValues(req),
    caller: cfg.snapshot.proxy,
  };
  if (req.socket.remoteAddress) attrs.sourceAddress = req.socket.remoteAddress;
  const decision = route(cfg.table, attrs, ctx.options.random);
  ex.routeName = routeNameOf(decision);
  return decision;
}

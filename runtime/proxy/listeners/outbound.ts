/**
 * The outbound listener (15001): requests the local app sends, captured by iptables REDIRECT
 * (origin-form, routed by Host as Envoy does) or sent to us as an explicit HTTP proxy
 * (absolute-form). Pipeline: hygiene + normalization → lib/routing decision → fault → rewrite
 * and header edits → forward (balancer, pool limits, retries, timeout) → telemetry.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import { route } from '../../../lib/routing/route.js';
import type {
  HeaderOperationsResolved,
  RequestAttributes,
  RouteDecision,
} from '../../../lib/routing/types.js';
import { hasBody, NO_BODY, readBody } from '../body.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { applyCors } from '../cors.js';
import { Exchange, LOCAL_REPLY, localReply } from '../exchange.js';
import { forward } from '../forward.js';
import { filterRequestHeaders, hasHeader, removeHeader, setHeader } from '../hygiene.js';
import { mirrorRequest } from '../mirror.js';
import {
  encodePeerMetadata,
  type HttpRequestRecord,
  type SpanRecord,
  TRACE_HEADER_NAMES,
  UNKNOWN_SERVICE,
  UNKNOWN_WORKLOAD,
} from '../telemetry/index.js';
import { hashKeyFor, withCookieEdit } from '../upstream/consistent-hash.js';
import { firstValues, isHygieneError, type PreparedRequest, prepareRequest } from './prepare.js';

const NO_HASH: ReturnType<typeof hashKeyFor> = Object.freeze({});

/** Marks requests a proxy sent, to detect one coming back to the same proxy. */
export const LOOP_HEADER = 'x-tsmesh-hop';

/** Applies route header edits (set replaces, add appends, remove deletes) to a flat list. */
export function applyRequestEdits(list: string[], ops: HeaderOperationsResolved): void {
  for (const name of ops.remove) removeHeader(list, name);
  for (const name in ops.set) setHeader(list, name, ops.set[name]);
  for (const name in ops.add) list.push(name, ops.add[name]);
}

/** The path after a `rewrite.uri` (prefix replacement when the rule matched a prefix). */
export function rewritePath(path: string, decision: RouteDecision): string {
  const rw = decision.rewrite;
  if (!rw || rw.uri === undefined) return path;
  if (rw.matchedPrefix !== undefined && path.startsWith(rw.matchedPrefix)) {
    return rw.uri + path.slice(rw.matchedPrefix.length);
  }
  return rw.uri;
}

export function createOutboundHandler(
  ctx: ProxyContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  const trusted = new Set(ctx.options.trustedAppHeaders.map((h) => h.toLowerCase()));
  // Every request this proxy sends carries its instance id; one that comes back to its own
  // outbound listener (a Host naming the proxy itself, passed through) is a loop, refused at once
  // instead of multiplying until file descriptors run out.
  const hopId = randomUUID();
  return (req, res) => {
    ctx.counters.downstreamRequests++;
    const ex = new Exchange();
    ex.method = req.method ?? 'GET';
    ex.path = req.url ?? '';
    const cfg = ctx.config();
    let span: SpanRecord | undefined;
    let decision: RouteDecision | undefined;
    const finish = () => recordOutbound(ctx, cfg, ex, decision, span);
    if (!cfg) {
      localReply(res, ex, 503, LOCAL_REPLY.notReady);
      finish();
      return;
    }
    const prepared = prepareRequest(req, cfg.table.mesh.pathNormalization, ctx.options.maxHeadersCount);
    if (isHygieneError(prepared)) {
      ctx.counters.hygieneRejections++;
      ex.flag('DPE');
      localReply(res, ex, prepared.status, prepared.message, { close: true });
      finish();
      return;
    }
    ex.path = prepared.target;
    ex.authority = prepared.authority;
    if (req.headers[LOOP_HEADER] === hopId) {
      ctx.counters.hygieneRejections++;
      localReply(res, ex, 508, 'request loops back to this proxy', { close: true });
      finish();
      return;
    }
    const filtered = filterRequestHeaders(req.rawHeaders, {
      allowInternal: trusted,
      dropHost: true,
      drop: TRACE_HEADER_NAMES,
    });
    const headers = filtered.list;
    headers.push(LOOP_HEADER, hopId);
    let requestId = req.headers[HEADERS.requestId];
    if (typeof requestId !== 'string' || requestId === '') {
      requestId = randomUUID();
      headers.push(HEADERS.requestId, requestId);
    }
    ex.requestId = requestId;
    const started = ctx.telemetry.tracer.startSpan(req.headers, 'source');
    span = started.span;
    for (const name in started.headersForUpstream) headers.push(name, started.headersForUpstream[name]);

    const attrs: RequestAttributes = {
      authority: prepared.authority,
      port: prepared.port ?? 80,
      method: ex.method,
      path: prepared.path,
      query: prepared.query,
      headers: firstValues(req),
      caller: cfg.snapshot.proxy,
    };
    if (req.socket.remoteAddress) attrs.sourceAddress = req.socket.remoteAddress;
    decision = route(cfg.table, attrs, ctx.options.random);
    ex.routeName =
      decision.ruleName ??
      (decision.ruleIndex !== undefined ? `${decision.virtualService}#${decision.ruleIndex}` : 'default');
    void handleDecision(ctx, cfg, req, res, ex, prepared, decision, headers, filtered.trusted).then(
      finish,
      (err) => {
        ctx.options.log('error', `outbound request failed: ${(err as Error).stack ?? err}`);
        localReply(res, ex, 500, 'internal proxy error');
        finish();
      },
    );
  };
}

async function handleDecision(
  ctx: ProxyContext,
  cfg: ActiveConfig,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  prepared: PreparedRequest,
  decision: RouteDecision,
  headers: string[],
  trusted: Map<string, string>,
): Promise<void> {
  const random = ctx.options.random;
  switch (decision.kind) {
    case 'no-route':
      ex.flag('NR');
      localReply(res, ex, 404, '');
      return;
    case 'blackhole':
      if (ctx.egress) ctx.egress.blackhole(req, res, ex, prepared.host);
      else {
        ex.flag('NR');
        localReply(res, ex, 502, `no route to unknown host ${prepared.host}`);
      }
      return;
    case 'passthrough':
      if (!ctx.egress) {
        ex.flag('NR');
        localReply(res, ex, 502, `no route to unknown host ${prepared.host}`);
        return;
      }
      break;
    case 'redirect': {
      const r = decision.redirect!;
      ex.status = r.status;
      res.writeHead(r.status, {
        location: r.location,
        'content-length': 0,
        'x-request-id': ex.requestId ?? '',
      });
      res.end();
      return;
    }
    case 'direct-response': {
      const d = decision.directResponse!;
      localReply(res, ex, d.status, d.body ?? '');
      return;
    }
    default:
      break;
  }
  // CORS acts before the fault filter, as in Envoy: a preflight it answers never goes upstream.
  let responseEdits = decision.headers.response;
  if (decision.cors !== undefined) {
    const edits = applyCors(decision.cors, req, res, ex, responseEdits);
    if (edits === false) return;
    responseEdits = edits;
  }
  // Fault injection acts before forwarding: an abort is never retried, a delay does not count
  // against the route timeout.
  if (decision.fault && (await injectFault(decision, req, res, ex, random))) return;
  const cluster = decision.clusterKey ? cfg.clusters.get(decision.clusterKey) : undefined;
  // To the original destination: an unknown host under ALLOW_ANY, or a ServiceEntry host with
  // resolution NONE and no endpoints (egress/egress.ts).
  const original =
    ctx.egress !== undefined &&
    (decision.kind === 'passthrough' ||
      (cluster?.cluster.loadBalancer.kind === 'PASSTHROUGH' && cluster.cluster.endpoints.length === 0));
  if (!cluster && !original) {
    ex.flag('UH');
    localReply(res, ex, 503, LOCAL_REPLY.noHealthyUpstream);
    return;
  }
  const path = rewritePath(prepared.path, decision);
  const target = prepared.query ? `${path}?${prepared.query}` : path;
  const authority = decision.rewrite?.authority ?? prepared.authority;
  applyRequestEdits(headers, decision.headers.request);
  headers.push('host', authority);
  if (cluster?.endpoints.some((e) => e.endpoint.mtls)) {
    headers.push(HEADERS.peerMetadata, encodePeerMetadata(cfg.localFacts));
  }
  if (!hasHeader(headers, 'x-forwarded-proto')) headers.push('x-forwarded-proto', 'http');
  let timeoutMs = decision.timeoutMs;
  const override = trusted.get(HEADERS.upstreamTimeout);
  if (override !== undefined && /^[0-9]{1,9}$/.test(override))
    timeoutMs = Number(override) === 0 ? null : Number(override);
  let body = NO_BODY;
  if (hasBody(req)) {
    try {
      // Buffered when something may send it again: a retry, or a mirror copy (mirror.ts).
      const replay = decision.retries.attempts > 0 || decision.mirrors.length > 0;
      body = await readBody(req, replay ? ctx.options.retryBufferBytes : 0, (n) => {
        ex.requestBytes += n;
      });
    } catch {
      ex.flag('DC');
      return;
    }
  }
  if (decision.mirrors.length > 0)
    mirrorRequest(cfg, decision.mirrors, { method: ex.method, path: target, headers, body }, random);
  if (original || !cluster) {
    await ctx.egress!.passthrough(req, res, ex, {
      host: prepared.host,
      port: prepared.port ?? 80,
      method: ex.method,
      path: target,
      headers,
      body,
      timeoutMs,
      random,
    });
    return;
  }
  const lb = cluster.cluster.loadBalancer;
  const hash =
    lb.kind === 'CONSISTENT_HASH'
      ? hashKeyFor(lb, {
          headers: firstValues(req),
          sourceAddress: req.socket.remoteAddress,
          query: prepared.query,
        })
      : NO_HASH;
  await forward(
    req,
    res,
    {
      cluster,
      method: ex.method,
      path: target,
      headers,
      body,
      retry: decision.retries,
      timeoutMs,
      responseEdits: withCookieEdit(responseEdits, hash.responseEdits),
      random,
      hashKey: hash.key,
    },
    ex,
  );
}

/** Records a request that left through this proxy (reporter `source`): outbound, gateway and WebSocket paths. */
export function recordOutbound(
  ctx: ProxyContext,
  cfg: ActiveConfig | undefined,
  ex: Exchange,
  decision: RouteDecision | undefined,
  span: SpanRecord | undefined,
): void {
  // The forwarder records the endpoint it used; other paths (WebSocket) only its address.
  let ep = ex.upstream;
  if (ep === undefined && ex.upstreamHost !== undefined) {
    const cluster = decision?.clusterKey ? cfg?.clusters.get(decision.clusterKey) : undefined;
    ep = cluster?.endpoints.find((e) => e.hostPort === ex.upstreamHost)?.endpoint;
  }
  const rec: HttpRequestRecord = {
    reporter: 'source',
    startTime: ex.startTime,
    durationMs: ex.durationMs(),
    method: ex.method,
    path: ex.path,
    authority: ex.authority,
    httpProtocol: 'HTTP/1.1',
    requestProtocol: 'http',
    status: ex.status,
    responseFlags: ex.flags(),
    requestBytes: ex.requestBytes,
    responseBytes: ex.responseBytes,
    requestId: ex.requestId,
    upstreamHost: ex.upstreamHost,
    upstreamCluster: ex.upstreamCluster,
    routeName: ex.routeName,
    source: cfg?.localFacts ?? UNKNOWN_WORKLOAD,
    sourcePrincipal: ctx.certificate()?.bundle.spiffeId,
    destination: (ep && cfg?.endpointFacts.get(ep.pod)) || UNKNOWN_WORKLOAD,
    destinationPrincipal: ep?.mtls ? ep.identity : undefined,
    service: (decision?.service && cfg?.serviceFacts.get(decision.service.host)) || UNKNOWN_SERVICE,
    mtls: ep?.mtls ?? false,
  };
  ctx.telemetry.recordHttp(rec, span);
}

/**
 * Fault injection, before forwarding: an abort is never retried, a delay does not count against
 * the route timeout. Returns true when the request is finished (aborted, or the client left
 * during the delay).
 */
export async function injectFault(
  decision: RouteDecision,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  random: () => number,
): Promise<boolean> {
  const fault = decision.fault;
  if (fault?.abort && random() * 100 < fault.abort.percent) {
    ex.flag('FI');
    req.resume();
    localReply(res, ex, fault.abort.status, LOCAL_REPLY.faultAbort);
    return true;
  }
  if (fault?.delay && random() * 100 < fault.delay.percent) {
    ex.flag('DI');
    const ms = fault.delay.ms;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      res.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (res.destroyed || res.writableEnded) {
      ex.flag('DC');
      return true;
    }
  }
  return false;
}

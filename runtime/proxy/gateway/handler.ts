/**
 * A gateway listener's request path, for requests from outside the mesh: hygiene and
 * normalization → the Gateway server that accepts the Host (none: 404 `NR`) → edge headers
 * (forwarded facts set from the connection, mesh-internal headers from the client dropped) →
 * the gateway-mode route table (VirtualServices bound to the Gateway) → fault, redirect,
 * rewrite and header edits → the core's forwarder into the mesh (mTLS as the gateway's own
 * identity, verifying the destination's) → telemetry as the source side.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import { route } from '../../../lib/routing/route.js';
import type { RequestAttributes, RouteDecision } from '../../../lib/routing/types.js';
import { readBody } from '../body.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { applyCors } from '../cors.js';
import { Exchange, LOCAL_REPLY, localReply } from '../exchange.js';
import { forward } from '../forward.js';
import { filterRequestHeaders, removeHeader } from '../hygiene.js';
import { applyRequestEdits, injectFault, recordOutbound, rewritePath } from '../listeners/outbound.js';
import { isHygieneError, type PreparedRequest, prepareRequest } from '../listeners/prepare.js';
import { mirrorRequest } from '../mirror.js';
import { encodePeerMetadata, type SpanRecord, TRACE_HEADERS } from '../telemetry/index.js';
import { hashKeyFor, withCookieEdit } from '../upstream/consistent-hash.js';
import { applyEdgeHeaders } from './edge-headers.js';
import { type GatewayListenerSpec, serverFor } from './servers.js';

export interface GatewayListenerView {
  /** The listener's current spec (it changes with snapshots); undefined once removed. */
  spec(): GatewayListenerSpec | undefined;
  scheme: 'http' | 'https';
}

function firstValues(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const h = req.headers;
  for (const name in h) {
    const v = h[name];
    out[name] = Array.isArray(v) ? v[0] : v;
  }
  return out;
}

export function createGatewayHandler(
  ctx: ProxyContext,
  view: GatewayListenerView,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    ctx.counters.downstreamRequests++;
    const ex = new Exchange();
    ex.method = req.method ?? 'GET';
    ex.path = req.url ?? '';
    const cfg = ctx.config();
    let span: SpanRecord | undefined;
    let decision: RouteDecision | undefined;
    const finish = () => recordOutbound(ctx, cfg, ex, decision, span);
    const spec = view.spec();
    if (!cfg || !spec) {
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
    const server = serverFor(spec, prepared.host);
    if (!server) {
      // No server of this port accepts the host: Envoy has no virtual host for it.
      ex.flag('NR');
      req.resume();
      localReply(res, ex, 404, '');
      finish();
      return;
    }
    // Nothing mesh-internal from outside: no allow-list at the edge.
    const headers = filterRequestHeaders(req.rawHeaders, { dropHost: true }).list;
    applyEdgeHeaders(headers, {
      clientAddress: req.socket.remoteAddress,
      scheme: view.scheme,
      authority: prepared.authority,
    });
    let requestId = req.headers[HEADERS.requestId];
    if (typeof requestId !== 'string' || requestId === '') {
      requestId = randomUUID();
      headers.push(HEADERS.requestId, requestId);
    }
    ex.requestId = requestId;
    const started = ctx.telemetry.tracer.startSpan(req.headers, 'source');
    span = started.span;
    for (const name of TRACE_HEADERS) removeHeader(headers, name);
    for (const name in started.headersForUpstream) headers.push(name, started.headersForUpstream[name]);

    const attrs: RequestAttributes = {
      authority: prepared.authority,
      port: spec.port,
      method: ex.method,
      path: prepared.path,
      query: prepared.query,
      scheme: view.scheme,
      headers: firstValues(req),
      caller: cfg.snapshot.proxy,
    };
    if (req.socket.remoteAddress) attrs.sourceAddress = req.socket.remoteAddress;
    decision = route(cfg.table, attrs, ctx.options.random);
    ex.routeName =
      decision.ruleName ??
      (decision.ruleIndex !== undefined ? `${decision.virtualService}#${decision.ruleIndex}` : 'default');
    void handleDecision(ctx, cfg, req, res, ex, prepared, decision, headers).then(finish, (err) => {
      ctx.options.log('error', `gateway request failed: ${(err as Error).stack ?? err}`);
      localReply(res, ex, 500, 'internal proxy error');
      finish();
    });
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
): Promise<void> {
  const random = ctx.options.random;
  switch (decision.kind) {
    case 'redirect': {
      const r = decision.redirect!;
      ex.status = r.status;
      req.resume();
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
      req.resume();
      localReply(res, ex, d.status, d.body ?? '');
      return;
    }
    case 'route':
      break;
    default:
      // no-route, and (never in gateway mode) passthrough/blackhole: no VirtualService bound
      // to this gateway serves the host, or none of its rules matched.
      ex.flag('NR');
      req.resume();
      localReply(res, ex, 404, '');
      return;
  }
  // CORS acts before the fault filter, as in Envoy: a preflight it answers never goes upstream.
  let responseEdits = decision.headers.response;
  if (decision.cors !== undefined) {
    const edits = applyCors(decision.cors, req, res, ex, responseEdits);
    if (edits === false) return;
    responseEdits = edits;
  }
  if (await injectFault(decision, req, res, ex, random)) return;
  const cluster = decision.clusterKey ? cfg.clusters.get(decision.clusterKey) : undefined;
  if (!cluster) {
    ex.flag('UH');
    req.resume();
    localReply(res, ex, 503, LOCAL_REPLY.noHealthyUpstream);
    return;
  }
  const path = rewritePath(prepared.path, decision);
  const target = prepared.query ? `${path}?${prepared.query}` : path;
  const authority = decision.rewrite?.authority ?? prepared.authority;
  applyRequestEdits(headers, decision.headers.request);
  headers.push('host', authority);
  if (cluster.endpoints.some((e) => e.endpoint.mtls)) {
    headers.push(HEADERS.peerMetadata, encodePeerMetadata(cfg.localFacts));
  }
  let body: Awaited<ReturnType<typeof readBody>>;
  try {
    // Buffered when something may send it again: a retry, or a mirror copy.
    const replay = decision.retries.attempts > 0 || decision.mirrors.length > 0;
    body = await readBody(req, replay ? ctx.options.retryBufferBytes : 0, (n) => {
      ex.requestBytes += n;
    });
  } catch {
    ex.flag('DC');
    return;
  }
  if (decision.mirrors.length > 0)
    mirrorRequest(cfg, decision.mirrors, { method: ex.method, path: target, headers, body }, random);
  const hash = hashKeyFor(cluster.cluster.loadBalancer, {
    headers: firstValues(req),
    sourceAddress: req.socket.remoteAddress,
    query: prepared.query,
  });
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
      timeoutMs: decision.timeoutMs,
      responseEdits: withCookieEdit(responseEdits, hash.responseEdits),
      random,
      hashKey: hash.key,
      closeConnection: () => ctx.draining(),
    },
    ex,
  );
}

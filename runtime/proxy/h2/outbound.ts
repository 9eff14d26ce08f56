/**
 * HTTP/2 streams from the local app (h2c with prior knowledge on 15001): the same pipeline as
 * the HTTP/1.1 outbound listener — hygiene and normalization, the lib/routing decision, fault,
 * rewrite and header edits — then an HTTP/2 forward to the chosen cluster, so trailers (gRPC
 * status and metadata) survive. `grpc-timeout` is honoured and capped by the route timeout.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HEADERS } from '../../../lib/constants.js';
import { route } from '../../../lib/routing/route.js';
import type { RequestAttributes, RouteDecision } from '../../../lib/routing/types.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { answerPreflightH2, evaluateCors, withCorsHeaders } from '../cors.js';
import { LOCAL_REPLY } from '../exchange.js';
import { removeHeader } from '../hygiene.js';
import { routeNameOf, tagRequest } from '../listeners/prepare.js';
import { recordOutbound } from '../listeners/records.js';
import { applyRequestEdits, rewritePath } from '../listeners/route-forward.js';
import { encodePeerMetadata, type SpanRecord, TRACE_HEADERS } from '../telemetry/index.js';
import { hashKeyFor, withCookieEdit } from '../upstream/consistent-hash.js';
import { forwardH2, type H2Exchange, type H2Upstream } from './forward.js';
import { effectiveTimeout, parseGrpcTimeout } from './grpc.js';
import { mirrorH2 } from './mirror.js';
import { localReplyH2 } from './reply.js';
import { type H2Request, listToHeaders, prepareH2OrReject, startH2Exchange } from './request.js';

export interface H2OutboundDeps {
  /** The HTTP/2 upstream for a cluster key (sessions pooled per endpoint). */
  upstream(cfg: ActiveConfig, clusterKey: string, hashKey?: string): H2Upstream | undefined;
  /** Request body bytes kept so a retry can resend them. */
  replayBytes: number;
}

export function handleOutboundStream(
  ctx: ProxyContext,
  deps: H2OutboundDeps,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: string[],
): void {
  const ex = startH2Exchange(ctx, stream, headers);
  const cfg = ctx.config();
  let span: SpanRecord | undefined;
  let decision: RouteDecision | undefined;
  const finish = () => recordOutbound(ctx, cfg, ex, decision, span, ex.protocol());
  const reply = (status: number, body: string, extra?: Record<string, string>) => {
    stream.resume();
    localReplyH2(stream, ex, status, body, { grpc: ex.grpc, headers: extra });
  };
  if (!cfg) {
    reply(503, LOCAL_REPLY.notReady);
    finish();
    return;
  }
  const trusted = new Set(ctx.options.trustedAppHeaders.map((h) => h.toLowerCase()));
  const prepared = prepareH2OrReject(ctx, cfg, headers, rawHeaders, ex, reply, { allowInternal: trusted });
  if (prepared === undefined) {
    finish();
    return;
  }
  const list = prepared.list;
  for (const name of TRACE_HEADERS) removeHeader(list, name);
  span = tagRequest(ctx, ex, list, headers, prepared.values[HEADERS.requestId], 'source');
  const attrs: RequestAttributes = {
    authority: prepared.authority,
    port: prepared.port ?? 80,
    method: ex.method,
    path: prepared.path,
    query: prepared.query,
    headers: prepared.values,
    caller: cfg.snapshot.proxy,
  };
  const source = stream.session?.socket?.remoteAddress;
  if (source) attrs.sourceAddress = source;
  decision = route(cfg.table, attrs, ctx.options.random);
  ex.routeName = routeNameOf(decision);
  void handleDecision(ctx, deps, cfg, stream, ex, prepared, decision, reply).then(finish, (err) => {
    ctx.options.log('error', `outbound HTTP/2 request failed: ${(err as Error).stack ?? err}`);
    reply(500, 'internal proxy error');
    finish();
  });
}

async function handleDecision(
  ctx: ProxyContext,
  deps: H2OutboundDeps,
  cfg: ActiveConfig,
  stream: ServerHttp2Stream,
  ex: H2Exchange,
  prepared: H2Request,
  decision: RouteDecision,
  reply: (status: number, body: string, extra?: Record<string, string>) => void,
): Promise<void> {
  const random = ctx.options.random;
  switch (decision.kind) {
    case 'no-route':
      ex.flag('NR');
      reply(404, '');
      return;
    case 'blackhole':
    case 'passthrough':
      ex.flag('NR');
      reply(502, `no route to unknown host ${prepared.host}`);
      return;
    case 'redirect': {
      const r = decision.redirect!;
      ex.status = r.status;
      stream.resume();
      stream.respond(
        { ':status': r.status, location: r.location, 'x-request-id': ex.requestId ?? '' },
        { endStream: true },
      );
      return;
    }
    case 'direct-response': {
      const d = decision.directResponse!;
      reply(d.status, d.body ?? '');
      return;
    }
    default:
      break;
  }
  // CORS acts before the fault filter, as in Envoy: a preflight it answers never goes upstream.
  let responseEdits = decision.headers.response;
  if (decision.cors !== undefined) {
    const cors = evaluateCors(decision.cors, ex.method, prepared.values);
    if (cors?.kind === 'preflight') {
      answerPreflightH2(stream, ex, cors.headers);
      return;
    }
    if (cors !== undefined) responseEdits = withCorsHeaders(responseEdits, cors.headers);
  }
  const fault = decision.fault;
  if (fault?.abort && random() * 100 < fault.abort.percent) {
    ex.flag('FI');
    reply(fault.abort.status, LOCAL_REPLY.faultAbort);
    return;
  }
  if (fault?.delay && random() * 100 < fault.delay.percent) {
    ex.flag('DI');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, fault.delay!.ms);
      stream.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (stream.closed || stream.destroyed) {
      ex.flag('DC');
      return;
    }
  }
  const policy = decision.clusterKey
    ? cfg.clusters.get(decision.clusterKey)?.cluster.loadBalancer
    : undefined;
  const hash = policy
    ? hashKeyFor(policy, {
        headers: prepared.values,
        sourceAddress: stream.session?.socket?.remoteAddress,
        query: prepared.query,
      })
    : {};
  const upstream = decision.clusterKey ? deps.upstream(cfg, decision.clusterKey, hash.key) : undefined;
  if (!upstream?.cluster) {
    ex.flag('UH');
    reply(503, LOCAL_REPLY.noHealthyUpstream);
    return;
  }
  const list = prepared.list;
  applyRequestEdits(list, decision.headers.request);
  if (upstream.cluster.hasMeshedEndpoints) {
    list.push(HEADERS.peerMetadata, encodePeerMetadata(cfg.localFacts));
  }
  const path = rewritePath(prepared.path, decision);
  const target = prepared.query ? `${path}?${prepared.query}` : path;
  const out: OutgoingHttpHeaders = {
    ':method': ex.method,
    ':path': target,
    ':authority': decision.rewrite?.authority ?? prepared.authority,
    ':scheme': 'http',
  };
  listToHeaders(list, out);
  let timeoutMs = effectiveTimeout(decision.timeoutMs, parseGrpcTimeout(prepared.values['grpc-timeout']));
  const override = prepared.trusted.get(HEADERS.upstreamTimeout);
  if (override !== undefined && /^[0-9]{1,9}$/.test(override))
    timeoutMs = Number(override) === 0 ? null : Number(override);
  await forwardH2(
    stream,
    {
      upstream,
      headers: out,
      retry: decision.retries,
      timeoutMs,
      responseEdits: withCookieEdit(responseEdits, hash.responseEdits),
      random,
      replayBytes: deps.replayBytes,
      onBufferedBody:
        decision.mirrors.length > 0
          ? (body) => mirrorH2(decision.mirrors, (key) => deps.upstream(cfg, key), out, body, random)
          : undefined,
    },
    ex,
  );
}

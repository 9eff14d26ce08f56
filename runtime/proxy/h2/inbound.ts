/**
 * HTTP/2 streams arriving at the inbound listener (15006), over mesh mTLS (`tsmesh-h2`) or as
 * plaintext h2c: the same checks as HTTP/1.1 inbound — STRICT refuses plaintext, the
 * AuthorizationPolicy decision with the verified peer identity (403, or gRPC status 7),
 * mesh-internal headers stripped and `x-forwarded-client-cert` set from the verified peer —
 * then forwarded to the app over h2c with trailers intact.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { HEADERS } from '../../../lib/constants.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { LOCAL_REPLY } from '../exchange.js';
import { NO_RETRY } from '../forward.js';
import { removeHeader } from '../hygiene.js';
import { admitInbound, NO_APP_PORT, PLAINTEXT_REFUSED } from '../listeners/admission.js';
import { tagRequest } from '../listeners/prepare.js';
import { recordInbound } from '../listeners/records.js';
import {
  type PeerMetadataDecoder,
  type SpanRecord,
  TRACE_HEADERS,
  UNKNOWN_WORKLOAD,
  type WorkloadFacts,
} from '../telemetry/index.js';
import { forwardH2, type H2Upstream } from './forward.js';
import { appSpeaksH2, type Http1Bridge } from './http1-bridge.js';
import { localReplyH2 } from './reply.js';
import { listToHeaders, prepareH2OrReject, startH2Exchange } from './request.js';

/** What the inbound listener learnt about the connection a stream arrived on. */
export interface H2Connection {
  mtls: boolean;
  peerIdentity?: string;
  xfcc?: string;
  /** App port named by the SNI (mesh mTLS). */
  port?: number;
}

export interface H2InboundDeps {
  /** The local app on `port`, over h2c. */
  app(port: number): H2Upstream;
  /** The declared protocol of an app port (`http2`, `grpc`, `http`...), undefined when unknown. */
  appProtocol(cfg: ActiveConfig, port: number): string | undefined;
  /** The local app on `port`, over HTTP/1.1 (ports not declared HTTP/2 or gRPC). */
  http1: Http1Bridge;
  decoder: PeerMetadataDecoder;
  replayBytes: number;
}

export function handleInboundStream(
  ctx: ProxyContext,
  deps: H2InboundDeps,
  conn: H2Connection,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: string[],
): void {
  const ex = startH2Exchange(ctx, stream, headers);
  ex.mtls = conn.mtls;
  ex.peerIdentity = conn.peerIdentity;
  const cfg = ctx.config();
  let span: SpanRecord | undefined;
  let source: WorkloadFacts = UNKNOWN_WORKLOAD;
  const finish = () => recordInbound(ctx, cfg, ex, source, span, ex.protocol());
  const reply = (status: number, body: string) => {
    stream.resume();
    localReplyH2(stream, ex, status, body, { grpc: ex.grpc });
  };
  // Draining: finish what is in flight, accept nothing new on this connection (GOAWAY).
  if (ctx.draining() && stream.session && !stream.session.closed) stream.session.close();
  if (!cfg) {
    reply(503, LOCAL_REPLY.notReady);
    finish();
    return;
  }
  const prepared = prepareH2OrReject(ctx, cfg, headers, rawHeaders, ex, reply);
  if (prepared === undefined) {
    finish();
    return;
  }
  if (conn.mtls) source = deps.decoder.decode(headers[HEADERS.peerMetadata]) ?? UNKNOWN_WORKLOAD;
  const port = admitInbound(
    cfg,
    conn,
    prepared,
    ex.method,
    prepared.values,
    stream.session?.socket?.remoteAddress,
  );
  if (port < 0) {
    if (port === PLAINTEXT_REFUSED) {
      ctx.counters.inboundRefusedConnections++;
      stream.session?.destroy();
      return;
    }
    if (port === NO_APP_PORT) {
      ex.flag('NR');
      reply(404, `no app port for ${prepared.authority}`);
    } else reply(403, LOCAL_REPLY.rbacDenied);
    finish();
    return;
  }
  const list = prepared.list;
  if (conn.xfcc) list.push(HEADERS.forwardedClientCert, conn.xfcc);
  for (const name of TRACE_HEADERS) removeHeader(list, name);
  span = tagRequest(ctx, ex, list, headers, prepared.values[HEADERS.requestId], 'destination');
  const out: OutgoingHttpHeaders = {
    ':method': ex.method,
    ':path': prepared.target,
    ':authority': prepared.authority,
    ':scheme': 'http',
  };
  listToHeaders(list, out);
  if (!appSpeaksH2(deps.appProtocol(cfg, port), ex.grpc)) {
    void deps.http1.forward(stream, port, out, ex).then(finish);
    return;
  }
  void forwardH2(
    stream,
    {
      upstream: deps.app(port),
      headers: out,
      retry: NO_RETRY,
      timeoutMs: null,
      random: ctx.options.random,
      replayBytes: deps.replayBytes,
    },
    ex,
  ).then(finish);
}

/**
 * The telemetry record of one HTTP exchange, as every listener writes it: reporter `source` for
 * what left through this proxy (outbound, gateway, WebSocket, h2c from the app) and
 * `destination` for what it delivered to its app (inbound over HTTP/1.1, HTTP/2, WebSocket).
 */
import type { RouteDecision } from '../../../lib/routing/types.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import type { Exchange } from '../exchange.js';
import {
  type HttpRequestRecord,
  type SpanRecord,
  UNKNOWN_SERVICE,
  UNKNOWN_WORKLOAD,
  type WorkloadFacts,
} from '../telemetry/index.js';

/** How the request travelled: HTTP/1.1 by default; HTTP/2 streams say whether they carry gRPC. */
export interface RecordProtocol {
  http: 'HTTP/1.1' | 'HTTP/2';
  grpc: boolean;
  grpcStatus?: string;
}

const HTTP1: RecordProtocol = Object.freeze({ http: 'HTTP/1.1', grpc: false });
const UNKNOWN_LOCAL_SERVICE = Object.freeze({ host: 'unknown', name: 'unknown', namespace: 'unknown' });

/** Records a request that left through this proxy (reporter `source`). */
export function recordOutbound(
  ctx: ProxyContext,
  cfg: ActiveConfig | undefined,
  ex: Exchange,
  decision: RouteDecision | undefined,
  span: SpanRecord | undefined,
  protocol: RecordProtocol = HTTP1,
): void {
  // The forwarders record the endpoint they used; other paths (WebSocket, HTTP/2) its address.
  let ep = ex.upstream;
  if (ep === undefined && ex.upstreamHost !== undefined) {
    const cluster = decision?.clusterKey ? cfg?.clusters.get(decision.clusterKey) : undefined;
    ep = cluster?.endpoints.find((e) => e.hostPort === ex.upstreamHost)?.endpoint;
  }
  write(
    ctx,
    ex,
    span,
    protocol,
    'source',
    ex.routeName,
    cfg?.localFacts ?? UNKNOWN_WORKLOAD,
    ctx.certificate()?.bundle.spiffeId,
    (ep && cfg?.endpointFacts.get(ep.pod)) || UNKNOWN_WORKLOAD,
    ep?.mtls ? ep.identity : undefined,
    (decision?.service && cfg?.serviceFacts.get(decision.service.host)) || UNKNOWN_SERVICE,
    ep?.mtls ?? false,
  );
}

/** Records a request this proxy delivered to its app (reporter `destination`). */
export function recordInbound(
  ctx: ProxyContext,
  cfg: ActiveConfig | undefined,
  ex: Exchange,
  source: WorkloadFacts,
  span: SpanRecord | undefined,
  protocol: RecordProtocol = HTTP1,
): void {
  write(
    ctx,
    ex,
    span,
    protocol,
    'destination',
    'inbound',
    source,
    ex.peerIdentity,
    cfg?.localFacts ?? UNKNOWN_WORKLOAD,
    ctx.certificate()?.bundle.spiffeId,
    cfg?.localService ?? UNKNOWN_LOCAL_SERVICE,
    ex.mtls,
  );
}

/** One record, in one shape for both reporters (positional, so nothing is allocated but the record). */
function write(
  ctx: ProxyContext,
  ex: Exchange,
  span: SpanRecord | undefined,
  protocol: RecordProtocol,
  reporter: HttpRequestRecord['reporter'],
  routeName: string | undefined,
  source: WorkloadFacts,
  sourcePrincipal: string | undefined,
  destination: WorkloadFacts,
  destinationPrincipal: string | undefined,
  service: HttpRequestRecord['service'],
  mtls: boolean,
): void {
  const rec: HttpRequestRecord = {
    reporter,
    startTime: ex.startTime,
    durationMs: ex.durationMs(),
    method: ex.method,
    path: ex.path,
    authority: ex.authority,
    httpProtocol: protocol.http,
    requestProtocol: protocol.grpc ? 'grpc' : 'http',
    status: ex.status,
    responseFlags: ex.flags(),
    grpcStatus: protocol.grpcStatus,
    requestBytes: ex.requestBytes,
    responseBytes: ex.responseBytes,
    requestId: ex.requestId,
    upstreamHost: ex.upstreamHost,
    upstreamCluster: ex.upstreamCluster,
    routeName,
    source,
    sourcePrincipal,
    destination,
    destinationPrincipal,
    service,
    mtls,
  };
  ctx.telemetry.recordHttp(rec, span);
}

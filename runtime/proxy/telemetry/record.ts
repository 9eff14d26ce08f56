/**
 * What the data plane reports to telemetry, once per HTTP request and per TCP connection.
 *
 * Contract with the data plane (runtime/proxy/**):
 * - Build one `HttpRequestRecord` per downstream request, when the response is finished or the
 *   request ended otherwise (reset, timeout), and pass it to `telemetry.recordHttp(rec)`. The
 *   record is read synchronously and not retained; the caller may reuse the object.
 * - `source`/`destination` must be stable objects (see workload-facts.ts): the local workload
 *   from `workloadFactsFromProxy` (once per snapshot), endpoints from `WorkloadFactsCache.of`,
 *   peers from `PeerMetadataDecoder.decode`, else `UNKNOWN_WORKLOAD`. Metrics look label sets
 *   up by object identity, so a fresh object per request would cost a cache miss each time.
 * - `service` likewise: one `ServiceFacts` per destination service per snapshot (or UNKNOWN_SERVICE).
 */
import type { ServiceFacts, WorkloadFacts } from './workload-facts.js';

/** `source`: reported by the client's sidecar (outbound); `destination`: by the server's (inbound). */
export type Reporter = 'source' | 'destination';

/** Istio's `request_protocol` label for HTTP traffic. */
export type RequestProtocol = 'http' | 'grpc';

export interface HttpRequestRecord {
  reporter: Reporter;
  /** Request start, epoch milliseconds (`Date.now()` when the request headers arrived). */
  startTime: number;
  /** From request start to the last response byte (or the end of the request), milliseconds. */
  durationMs: number;
  method: string;
  /** The normalized path as routed (with the query string, as forwarded). */
  path: string;
  /** The Host / :authority the client sent. */
  authority: string;
  /** `HTTP/1.1` or `HTTP/2` for the downstream side (access log `protocol`). */
  httpProtocol: string;
  /** `http` or `grpc` (metric label `request_protocol`). */
  requestProtocol: RequestProtocol;
  /** Response status sent downstream; 0 when none was sent (downstream closed early). */
  status: number;
  /** Envoy-style response flags joined by `,` (`UF,URX`), or '' / '-' when none. */
  responseFlags: string;
  /** `grpc-status` of a gRPC response; '' otherwise. */
  grpcStatus?: string;
  /** Request body bytes received from downstream. */
  requestBytes: number;
  /** Response body bytes sent downstream. */
  responseBytes: number;
  /** `x-request-id` as forwarded. */
  requestId?: string;
  /** `ip:port` of the endpoint the (last) attempt went to. */
  upstreamHost?: string;
  /** Envoy-style cluster name, e.g. `outbound|9080|v1|reviews.default.svc.cluster.local`. */
  upstreamCluster?: string;
  /** The VirtualService route name (or a generated one). */
  routeName?: string;
  source: WorkloadFacts;
  /** The client's SPIFFE id: verified on the destination side; the local identity on the source side. */
  sourcePrincipal?: string;
  destination: WorkloadFacts;
  /** The server's SPIFFE id as verified by the client side, or the local identity on the destination side. */
  destinationPrincipal?: string;
  service: ServiceFacts;
  /** The connection carrying the request (inbound side: downstream; outbound side: upstream) is mesh mTLS. */
  mtls: boolean;
}

/** The labels of one TCP connection (`request_protocol` is `tcp`). */
export interface TcpConnectionRecord {
  reporter: Reporter;
  source: WorkloadFacts;
  sourcePrincipal?: string;
  destination: WorkloadFacts;
  destinationPrincipal?: string;
  service: ServiceFacts;
  mtls: boolean;
  /** Flags known when the connection closes (`UF`, `UO`...), '' when none. */
  responseFlags?: string;
}

/**
 * The explain schema (`tsmesh.explain/v1`): what `explain()` returns, `tsmesh explain -o json`
 * prints and the constructs' testing helper returns. Documented in docs/engine.md.
 */
import type { MeshObject, StringMatch } from './api/types.js';
import type { ProxyIdentity, WorkloadInstance } from './model.js';
import type { PathNormalizationMode } from './normalize.js';
import type { AuthzDecision } from './policy/authz.js';
import type { MtlsDecision } from './policy/mtls.js';
import type {
  ConnectionPoolPolicy,
  DirectResponsePolicy,
  FaultPolicy,
  HeaderEdits,
  LoadBalancerPolicy,
  MirrorPolicy,
  OutlierDetectionPolicy,
  RedirectPolicy,
  RewritePolicy,
  RouteDecisionKind,
  ServiceRef,
} from './routing/types.js';

export const EXPLAIN_SCHEMA = 'tsmesh.explain/v1';

export interface ExplainInput {
  objects: readonly MeshObject[];
  /** Known workload instances; when absent or empty they are derived from the Deployments. */
  workloads?: readonly WorkloadInstance[];
}

export interface ExplainRequestSpec {
  /** The calling workload: `namespace/workload` (a Deployment or registered workload) or an identity. */
  from?: string | ProxyIdentity;
  /** `http://reviews:9080/reviews/0`; a bare `reviews:9080/x` is read as http. */
  url: string;
  method?: string;
  /** Header name → value (names are lower-cased). */
  headers?: Readonly<Record<string, string>>;
}

export interface ExplainOptions {
  /** Path normalization; default the MeshConfig's (BASE). */
  pathNormalization?: PathNormalizationMode;
  /** Draws the per-request split; default `() => 0`, i.e. the first destination. */
  random?: () => number;
  /** Overrides the MeshConfig's root namespace. */
  rootNamespace?: string;
}

export interface ExplainCaller {
  namespace: string;
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** SPIFFE id the caller's sidecar presents; absent when the caller is not meshed. */
  identity?: string;
  meshed: boolean;
}

export interface ExplainRetries {
  attempts: number;
  perTryTimeoutMs: number | null;
  retryOn: string[];
  retriableStatusCodes: number[];
  backoffBaseMs: number;
  source: 'route' | 'mesh-default' | 'disabled';
}

export interface ExplainClusterPolicy {
  key: string;
  protocol: string;
  loadBalancer: LoadBalancerPolicy;
  connectionPool: ConnectionPoolPolicy;
  outlierDetection?: OutlierDetectionPolicy;
  tls: 'AUTO' | 'ISTIO_MUTUAL' | 'DISABLE';
  destinationRule?: string;
  serverIdentities: readonly string[];
}

export interface ExplainEndpoint {
  /** `namespace/pod`. */
  pod: string;
  address: string;
  /** Target (container) port. */
  port: number;
  labels: Readonly<Record<string, string>>;
  meshed: boolean;
  identity?: string;
  /** How the caller's sidecar connects: mesh mTLS or plaintext. */
  transport: 'mtls' | 'plaintext';
  /** The server side's PeerAuthentication mode for this port. */
  mtls: MtlsDecision;
  /** The server side's AuthorizationPolicy verdict for this request. */
  authorization: AuthzDecision;
  /** What happens at this endpoint: served by the app, refused by mTLS, or denied by policy. */
  outcome: 'allowed' | 'denied' | 'mtls-refused';
}

export interface ExplainDestination {
  host: string;
  subset?: string;
  port: number;
  weight: number;
  probability: number;
  clusterKey: string;
  /** Null when the cluster does not exist (unknown subset or host not visible). */
  cluster: ExplainClusterPolicy | null;
  endpoints: ExplainEndpoint[];
}

/** A route's CORS policy as configured, and its effect on the explained request. */
export interface ExplainCors {
  policy: {
    allowOrigins: readonly StringMatch[];
    allowMethods?: string;
    allowHeaders?: string;
    exposeHeaders?: string;
    maxAge?: string;
    allowCredentials: boolean;
    unmatchedPreflights: 'FORWARD' | 'IGNORE';
  };
  /**
   * `not-cors`: no Origin header; `preflight-answered`: the proxy answers with 200 (origin
   * allowed, or not allowed with unmatchedPreflights IGNORE); `preflight-forwarded`: the origin is
   * not allowed and the preflight goes upstream unchanged; `response-headers`: the response gets
   * the CORS headers; `origin-not-allowed`: forwarded, the response is unchanged.
   */
  effect:
    | 'not-cors'
    | 'preflight-answered'
    | 'preflight-forwarded'
    | 'response-headers'
    | 'origin-not-allowed';
  originAllowed?: boolean;
  /** The headers the proxy answers with (preflight) or sets on the response. */
  headers?: Record<string, string>;
}

export interface ExplainResult {
  schema: typeof EXPLAIN_SCHEMA;
  request: {
    url: string;
    method: string;
    scheme: string;
    authority: string;
    host: string;
    port: number;
    /** Normalized path (what routing and authorization see). */
    path: string;
    query: string;
    headers: Record<string, string>;
    normalization: PathNormalizationMode;
    /** `tcp` when the service port carries opaque TCP (tcp, tls, https, mongo, mysql, redis). */
    protocol: 'http' | 'tcp';
  };
  caller: ExplainCaller;
  route: {
    kind: RouteDecisionKind;
    service?: ServiceRef;
    virtualService?: string;
    rule?: { index: number; name?: string; matchIndex?: number };
    destinations: ExplainDestination[];
    /** Probability per subset (`''` for the whole service). */
    subsets: Record<string, number>;
    /** The destination this draw picked (see ExplainOptions.random). */
    chosen?: { host: string; subset?: string; port: number; clusterKey: string };
    timeoutMs: number | null;
    retries: ExplainRetries;
    fault?: FaultPolicy;
    mirrors: readonly MirrorPolicy[];
    rewrite?: RewritePolicy;
    redirect?: RedirectPolicy;
    directResponse?: DirectResponsePolicy;
    headers: HeaderEdits;
    /** The rule's `corsPolicy` and what it does to this request (see ExplainCors). */
    cors?: ExplainCors;
    responseFlag?: string;
    reason: string;
  };
  /** The outcome for the chosen destination. */
  verdict: {
    outcome:
      | 'allowed'
      | 'denied'
      | 'mtls-refused'
      | 'no-route'
      | 'no-healthy-upstream'
      | 'passthrough'
      | 'blackhole'
      | 'redirect'
      | 'direct-response'
      /** A CORS preflight the caller's sidecar (or gateway) answers itself with 200. */
      | 'cors-preflight';
    /** The HTTP status the caller gets from the mesh; null when the app answers or on TCP. */
    status: number | null;
    responseFlag?: string;
    summary: string;
    /** Shortcuts into the chosen destination's first endpoint. */
    mtls?: MtlsDecision;
    authorization?: AuthzDecision;
  };
  warnings: string[];
}

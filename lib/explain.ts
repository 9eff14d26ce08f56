import {
  EXPLAIN_SCHEMA,
  type ExplainCaller,
  type ExplainClusterPolicy,
  type ExplainCors,
  type ExplainDestination,
  type ExplainEndpoint,
  type ExplainInput,
  type ExplainOptions,
  type ExplainRequestSpec,
  type ExplainResult,
} from './explain-types.js';
import { parseAuthority } from './hosts.js';
import { spiffeId } from './identity.js';
import type { ProxyIdentity, WorkloadInstance } from './model.js';
import { normalizeRequestTarget } from './normalize.js';
import { type AuthzDecision, authorize, compileAuthorization } from './policy/authz.js';
import { compilePeerAuthentication, type MtlsDecision, mtlsModeFor } from './policy/mtls.js';
import { compileRoutes } from './routing/compile.js';
import { CORS_HEADERS, type CompiledCors } from './routing/cors.js';
import { meshSettings } from './routing/mesh.js';
import { disabledRetry, NO_HEADER_EDITS } from './routing/policies.js';
import { workloadsFromDeployments } from './routing/registry.js';
import { lookupHost, route } from './routing/route.js';
import { gatewaysFor } from './routing/scope.js';
import { routeTcp, TCP_PROTOCOLS, type TcpRouteDecision } from './routing/tcp.js';
import type {
  Cluster,
  DirectResponsePolicy,
  RedirectPolicy,
  RouteDecision,
  RouteDecisionKind,
} from './routing/types.js';

export * from './explain-types.js';
export { workloadsFromDeployments } from './routing/registry.js';

/** Resolves `namespace/workload` against the known workloads. */
export function resolveCaller(
  from: string | ProxyIdentity | undefined,
  workloads: readonly WorkloadInstance[],
  trustDomain: string,
): ExplainCaller {
  if (from === undefined) {
    return {
      namespace: 'default',
      workload: '-',
      serviceAccount: 'default',
      labels: {},
      meshed: true,
      identity: spiffeId(trustDomain, 'default', 'default'),
    };
  }
  if (typeof from !== 'string') {
    const w = workloads.find((x) => x.namespace === from.namespace && x.workload === from.workload);
    const meshed = w?.meshed ?? true;
    const caller: ExplainCaller = {
      namespace: from.namespace,
      workload: from.workload,
      serviceAccount: from.serviceAccount,
      labels: { ...from.labels },
      meshed,
    };
    if (meshed) caller.identity = w?.identity ?? spiffeId(trustDomain, from.namespace, from.serviceAccount);
    return caller;
  }
  const slash = from.indexOf('/');
  const namespace = slash >= 0 ? from.slice(0, slash) : 'default';
  const name = slash >= 0 ? from.slice(slash + 1) : from;
  const w =
    workloads.find((x) => x.namespace === namespace && x.workload === name) ??
    workloads.find((x) => x.namespace === namespace && x.name === name);
  if (!w) {
    const known = [...new Set(workloads.map((x) => `${x.namespace}/${x.workload}`))].sort();
    throw new Error(
      `unknown caller '${from}': no workload ${namespace}/${name} is declared${known.length ? `; known workloads: ${known.join(', ')}` : ''}`,
    );
  }
  const caller: ExplainCaller = {
    namespace,
    workload: w.workload,
    serviceAccount: w.serviceAccount,
    labels: { ...w.labels },
    meshed: w.meshed,
  };
  if (w.meshed) caller.identity = w.identity ?? spiffeId(trustDomain, namespace, w.serviceAccount);
  return caller;
}

/** Explains one request. Throws on a bad URL or an unknown caller, naming what is wrong. */
export function explain(
  input: ExplainInput,
  request: ExplainRequestSpec,
  options: ExplainOptions = {},
): ExplainResult {
  const mesh = meshSettings(
    input.objects,
    options.rootNamespace ? { rootNamespace: options.rootNamespace } : {},
  );
  const workloads =
    input.workloads && input.workloads.length > 0
      ? input.workloads
      : workloadsFromDeployments(input.objects, { trustDomain: mesh.trustDomain });
  const warnings: string[] = [];
  const caller = resolveCaller(request.from, workloads, mesh.trustDomain);
  if (!caller.meshed) {
    warnings.push(
      `caller ${caller.namespace}/${caller.workload} runs without a sidecar: its requests bypass mesh routing; shown as a sidecar would route them`,
    );
  }
  const proxy: ProxyIdentity = {
    namespace: caller.namespace,
    workload: caller.workload,
    serviceAccount: caller.serviceAccount,
    labels: caller.labels,
  };
  // A caller a Gateway selects is a gateway proxy: it routes with the VirtualServices bound to it.
  const explicitMode = typeof request.from === 'object' ? request.from.mode : undefined;
  if (
    explicitMode ??
    (gatewaysFor(input.objects, { ...proxy, mode: 'gateway' }).length > 0 ? 'gateway' : undefined)
  ) {
    proxy.mode = explicitMode ?? 'gateway';
  }

  const url = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(request.url) ? request.url : `http://${request.url}`;
  const normalization = options.pathNormalization ?? mesh.pathNormalization;
  const target = normalizeRequestTarget(url, { mode: normalization });
  if ('error' in target) throw new Error(`invalid URL '${request.url}': ${target.error}`);
  const scheme = target.scheme ?? 'http';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers ?? {})) headers[k.toLowerCase()] = v;
  // The URL says where the connection goes (its port); a Host header, as with curl -H, names
  // the authority the sidecar routes by.
  const urlPort = parseAuthority(target.authority ?? '').port;
  const port = urlPort ?? (scheme === 'https' ? 443 : 80);
  const authority = headers.host ?? target.authority ?? '';
  const { host } = parseAuthority(authority);
  const method = (request.method ?? 'GET').toUpperCase();

  const table = compileRoutes(
    { objects: input.objects, workloads },
    proxy,
    options.rootNamespace ? { rootNamespace: options.rootNamespace } : {},
  );
  for (const c of table.conflicts)
    warnings.push(`VirtualServices ${c.ignored.join(', ')} for ${c.host} are ignored: ${c.winner} is older`);
  const random = options.random ?? (() => 0);
  const portProtocol = lookupHost(table, authority)?.service?.ports.find((p) => p.port === port)?.protocol;
  const protocol: 'http' | 'tcp' =
    portProtocol !== undefined && TCP_PROTOCOLS.has(portProtocol) ? 'tcp' : 'http';
  const decision: RouteDecision =
    protocol === 'tcp'
      ? tcpAsRouteDecision(routeTcp(table, { host: authority, port }, random))
      : route(
          table,
          {
            authority,
            port,
            method,
            path: target.path,
            query: target.query,
            scheme,
            headers: { ...headers, host: authority },
          },
          random,
        );

  const peerAuth = compilePeerAuthentication(input.objects, mesh.rootNamespaces);
  const authzCache = new Map<string, ReturnType<typeof compileAuthorization>>();
  const byPod = new Map(workloads.map((w) => [`${w.namespace}/${w.name}`, w]));

  const describeEndpoints = (cluster: Cluster): ExplainEndpoint[] =>
    cluster.endpoints.map((ep) => {
      const w = byPod.get(ep.pod);
      const wl = { namespace: w?.namespace ?? cluster.service?.namespace ?? 'default', labels: ep.labels };
      const mtls = ep.meshed
        ? mtlsModeFor(peerAuth, wl, ep.port)
        : ({ mode: 'DISABLE', level: 'default' } as MtlsDecision);
      const key = `${wl.namespace}|${JSON.stringify(ep.labels)}`;
      let authz = authzCache.get(key);
      if (!authz)
        authzCache.set(
          key,
          (authz = compileAuthorization(input.objects, wl, { rootNamespaces: mesh.rootNamespaces })),
        );
      const transport = ep.mtls ? 'mtls' : 'plaintext';
      const authorization = ep.meshed
        ? authorize(authz, {
            principal: transport === 'mtls' ? caller.identity : undefined,
            host: authority,
            port: ep.port,
            method,
            path: target.path,
            headers,
            protocol: TCP_PROTOCOLS.has(cluster.protocol) ? 'tcp' : 'http',
          })
        : ({
            allowed: true,
            action: 'ALLOW',
            reason: 'the endpoint runs without a sidecar: no policy is enforced',
          } as AuthzDecision);
      const refused =
        ep.meshed &&
        ((mtls.mode === 'STRICT' && transport === 'plaintext') ||
          (mtls.mode === 'DISABLE' && transport === 'mtls'));
      const out: ExplainEndpoint = {
        pod: ep.pod,
        address: ep.address,
        port: ep.port,
        labels: ep.labels,
        meshed: ep.meshed,
        transport,
        mtls,
        authorization,
        outcome: refused ? 'mtls-refused' : authorization.allowed ? 'allowed' : 'denied',
      };
      if (ep.identity) out.identity = ep.identity;
      return out;
    });

  const destinations: ExplainDestination[] = decision.destinations.map((d) => {
    const cluster = table.clusters.get(d.clusterKey);
    if (!cluster)
      warnings.push(
        `cluster ${d.clusterKey} does not exist (unknown subset, port or host not visible to the caller)`,
      );
    const out: ExplainDestination = {
      host: d.host,
      port: d.port,
      weight: d.weight,
      probability: d.probability,
      clusterKey: d.clusterKey,
      cluster: cluster ? clusterPolicy(cluster) : null,
      endpoints: cluster ? describeEndpoints(cluster) : [],
    };
    if (d.subset !== undefined) out.subset = d.subset;
    return out;
  });
  const subsets: Record<string, number> = {};
  for (const d of decision.destinations)
    subsets[d.subset ?? ''] = (subsets[d.subset ?? ''] ?? 0) + d.probability;

  const r = decision.retries;
  const routeOut: ExplainResult['route'] = {
    kind: decision.kind,
    destinations,
    subsets,
    timeoutMs: decision.timeoutMs,
    retries: {
      attempts: r.attempts,
      perTryTimeoutMs: r.perTryTimeoutMs,
      retryOn: [...r.retryOn].sort(),
      retriableStatusCodes: [...r.retriableStatusCodes].sort((a, b) => a - b),
      backoffBaseMs: r.backoffBaseMs,
      source: r.source,
    },
    mirrors: decision.mirrors,
    headers: decision.headers,
    reason: decision.reason,
  };
  if (decision.service) routeOut.service = decision.service;
  if (decision.virtualService) routeOut.virtualService = decision.virtualService;
  if (decision.ruleIndex !== undefined) {
    routeOut.rule = { index: decision.ruleIndex };
    if (decision.ruleName !== undefined) routeOut.rule.name = decision.ruleName;
    if (decision.matchIndex !== undefined) routeOut.rule.matchIndex = decision.matchIndex;
  }
  if (decision.chosen) {
    routeOut.chosen = {
      host: decision.chosen.host,
      port: decision.chosen.port,
      clusterKey: decision.chosen.clusterKey,
    };
    if (decision.chosen.subset !== undefined) routeOut.chosen.subset = decision.chosen.subset;
  }
  if (decision.fault) routeOut.fault = decision.fault;
  if (decision.rewrite) routeOut.rewrite = decision.rewrite;
  if (decision.redirect) routeOut.redirect = decision.redirect;
  if (decision.directResponse) routeOut.directResponse = decision.directResponse;
  if (decision.responseFlag) routeOut.responseFlag = decision.responseFlag;
  if (decision.cors) routeOut.cors = explainCors(decision.cors, method, headers);

  const chosen = destinations.find((d) => d.clusterKey === decision.clusterKey);
  return {
    schema: EXPLAIN_SCHEMA,
    request: {
      url: request.url,
      method,
      scheme,
      authority,
      host,
      port,
      path: target.path,
      query: target.query,
      headers,
      normalization,
      protocol,
    },
    caller,
    route: routeOut,
    verdict:
      routeOut.cors?.effect === 'preflight-answered'
        ? preflightVerdict(routeOut.cors, headers.origin ?? '')
        : verdictOf(
            decision.kind,
            decision.responseFlag,
            decision.redirect,
            decision.directResponse,
            chosen,
            protocol,
          ),
    warnings,
  };
}

function explainCors(cors: CompiledCors, method: string, headers: Record<string, string>): ExplainCors {
  const policy: ExplainCors['policy'] = {
    allowOrigins: cors.allowOrigins,
    allowCredentials: cors.allowCredentials,
    unmatchedPreflights: cors.unmatchedPreflights,
  };
  if (cors.allowMethods !== undefined) policy.allowMethods = cors.allowMethods;
  if (cors.allowHeaders !== undefined) policy.allowHeaders = cors.allowHeaders;
  if (cors.exposeHeaders !== undefined) policy.exposeHeaders = cors.exposeHeaders;
  if (cors.maxAge !== undefined) policy.maxAge = cors.maxAge;
  const origin = headers[CORS_HEADERS.origin];
  if (origin === undefined || origin === '') return { policy, effect: 'not-cors' };
  const outcome = cors.evaluate(
    method,
    origin,
    headers[CORS_HEADERS.requestMethod],
    headers[CORS_HEADERS.requestHeaders],
  );
  const originAllowed = cors.allowsOrigin(origin);
  if (outcome?.kind === 'preflight')
    return { policy, effect: 'preflight-answered', originAllowed, headers: outcome.headers };
  if (outcome?.kind === 'response')
    return { policy, effect: 'response-headers', originAllowed, headers: outcome.headers };
  const preflight = method === 'OPTIONS' && (headers[CORS_HEADERS.requestMethod] ?? '') !== '';
  return { policy, effect: preflight ? 'preflight-forwarded' : 'origin-not-allowed', originAllowed };
}

function preflightVerdict(cors: ExplainCors, origin: string): ExplainResult['verdict'] {
  return {
    outcome: 'cors-preflight',
    status: 200,
    summary: cors.originAllowed
      ? `200 answered by the caller sidecar: CORS preflight from allowed origin ${origin}`
      : `200 answered by the caller sidecar without access-control-allow-origin: origin ${origin} is not allowed and unmatchedPreflights is IGNORE`,
  };
}

function clusterPolicy(c: Cluster): ExplainClusterPolicy {
  const out: ExplainClusterPolicy = {
    key: c.key,
    protocol: c.protocol,
    loadBalancer: c.loadBalancer,
    connectionPool: c.connectionPool,
    tls: c.tls.mode,
    serverIdentities: c.serverIdentities,
  };
  if (c.outlierDetection) out.outlierDetection = c.outlierDetection;
  if (c.destinationRule) out.destinationRule = c.destinationRule;
  return out;
}

function verdictOf(
  kind: RouteDecisionKind,
  flag: string | undefined,
  redirect: RedirectPolicy | undefined,
  direct: DirectResponsePolicy | undefined,
  chosen: ExplainDestination | undefined,
  protocol: 'http' | 'tcp',
): ExplainResult['verdict'] {
  switch (kind) {
    case 'no-route':
      return {
        outcome: 'no-route',
        status: 404,
        responseFlag: flag ?? 'NR',
        summary: '404 from the caller sidecar: no route (NR)',
      };
    case 'blackhole':
      return {
        outcome: 'blackhole',
        status: 502,
        responseFlag: 'NR',
        summary: '502: the host is not in the registry and outbound traffic is REGISTRY_ONLY',
      };
    case 'passthrough':
      return {
        outcome: 'passthrough',
        status: null,
        summary: 'forwarded unchanged to the original destination (ALLOW_ANY)',
      };
    case 'redirect':
      return {
        outcome: 'redirect',
        status: redirect!.status,
        summary: `${redirect!.status} redirect to ${redirect!.location}`,
      };
    case 'direct-response':
      return {
        outcome: 'direct-response',
        status: direct!.status,
        summary: `${direct!.status} answered by the caller sidecar`,
      };
    default:
      break;
  }
  const first = chosen?.endpoints[0];
  if (!chosen || !first) {
    return {
      outcome: 'no-healthy-upstream',
      status: 503,
      responseFlag: 'UH',
      summary: `503: no endpoint for ${chosen?.clusterKey ?? 'the route'} (UH)`,
    };
  }
  const base = { mtls: first.mtls, authorization: first.authorization };
  if (first.outcome === 'mtls-refused') {
    return {
      outcome: 'mtls-refused',
      status: protocol === 'tcp' ? null : 503,
      responseFlag: 'UC',
      summary: `${protocol === 'tcp' ? 'connection closed' : '503'}: ${first.pod} requires ${first.mtls.mode === 'STRICT' ? 'mTLS' : 'plaintext'} but the caller sends ${first.transport}`,
      ...base,
    };
  }
  if (first.outcome === 'denied') {
    return {
      outcome: 'denied',
      status: protocol === 'tcp' ? null : 403,
      summary: `${protocol === 'tcp' ? 'connection closed' : '403 RBAC: access denied'} at ${first.pod}: ${first.authorization.reason}`,
      ...base,
    };
  }
  return {
    outcome: 'allowed',
    status: null,
    summary: `served by ${first.pod} (${first.transport}, ${first.authorization.reason})`,
    ...base,
  };
}

export { formatExplain } from './explain-text.js';

/** A TCP route in the shape of an HTTP decision: no timeout, retries or HTTP features. */
function tcpAsRouteDecision(t: TcpRouteDecision): RouteDecision {
  return {
    kind: t.kind,
    service: t.service,
    virtualService: t.virtualService,
    ruleIndex: t.ruleIndex,
    destinations: t.destinations,
    chosen: t.chosen,
    clusterKey: t.clusterKey,
    timeoutMs: null,
    retries: disabledRetry(),
    mirrors: [],
    headers: NO_HEADER_EDITS,
    reason: t.reason,
  };
}

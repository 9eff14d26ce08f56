/**
 * networking.istio.io shapes: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar.
 * Each field is either implemented by the bundled runtime or marked `unsupported`.
 */
import { describe } from '../describe.js';
import { durationError, parseDuration } from '../duration.js';
import { cidrError, dnsLabelError, hostError, ipError } from '../names.js';
import { joinPath } from '../path.js';
import {
  any,
  bool,
  type Check,
  type CheckContext,
  duration,
  int,
  isRecord,
  list,
  map,
  notSupported,
  num,
  obj,
  oneOf,
  regex,
  reportInvalid,
  required,
  str,
  unsupported,
} from '../schema.js';
import { exportTo, labels, outboundTrafficPolicyMode, port, workloadSelector } from './common.js';

const host = (opts: { allowStar?: boolean } = {}) =>
  str({ nonEmpty: true, check: (s) => hostError(s, opts) });
const percent = obj({ value: required(num({ min: 0, max: 100 })) });
const portSelector = obj({ number: port() });
const destinationHost = str({
  nonEmpty: true,
  check: (s) =>
    s.includes('*') ? `${JSON.stringify(s)}: a destination host cannot contain a wildcard` : hostError(s),
});
const destination = obj({ host: required(destinationHost), subset: str(), port: portSelector });

/** exactly one of exact/prefix/regex; `allowEmpty` for header presence matches. */
function stringMatch(opts: { allowEmpty?: boolean; prefix?: boolean } = {}): Check {
  const fields = obj({
    exact: str(),
    prefix: str(),
    regex,
  });
  return (v, path, ctx) => {
    fields(v, path, ctx);
    if (!isRecord(v)) return;
    const set = ['exact', 'prefix', 'regex'].filter((k) => v[k] !== undefined && v[k] !== null);
    if (set.length > 1)
      reportInvalid(ctx, path, `set only one of exact, prefix, regex; got ${set.join(' and ')}`);
    if (set.length === 0 && !opts.allowEmpty) reportInvalid(ctx, path, 'set one of exact, prefix, regex');
    if (opts.prefix === false && v.prefix !== undefined) {
      reportInvalid(
        ctx,
        `${path}.prefix`,
        'prefix matching is not available for query parameters; use exact or regex',
      );
    }
  };
}

const headerName = (k: string) =>
  /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(k)
    ? undefined
    : /[A-Z]/.test(k) && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k)
      ? `header name ${JSON.stringify(k)} must be lower-case`
      : `${JSON.stringify(k)} is not a valid header name`;

const headerMatches = map(stringMatch({ allowEmpty: true }), headerName);

const httpMatch = obj({
  name: str(),
  uri: stringMatch(),
  scheme: unsupported(stringMatch()),
  method: stringMatch(),
  authority: stringMatch(),
  headers: headerMatches,
  withoutHeaders: headerMatches,
  queryParams: map(stringMatch({ allowEmpty: true, prefix: false })),
  port: port(),
  sourceLabels: labels,
  gateways: list(str({ nonEmpty: true })),
  ignoreUriCase: bool,
  sourceNamespace: str({ check: dnsLabelError }),
  statPrefix: unsupported(str()),
});

const headerOperations = obj({
  set: map(str(), headerName),
  add: map(str(), headerName),
  remove: list(str({ check: headerName })),
});
const headers = obj({ request: headerOperations, response: headerOperations });

const httpRouteDestination = obj({
  destination: required(destination),
  weight: int({ min: 0 }),
  headers,
});

const redirect = obj({
  uri: str(),
  authority: str(),
  port: port(),
  derivePort: oneOf(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']),
  scheme: str(),
  redirectCode: int({ min: 300, max: 399 }),
});

const directResponse = obj({
  status: required(int({ min: 200, max: 599 })),
  body: obj(
    {
      string: str(),
      bytes: str({
        check: (b) =>
          /^[A-Za-z0-9+/]*={0,2}$/.test(b) && b.length % 4 === 0 ? undefined : 'bytes must be base64',
      }),
    },
    {
      check: (b, p, ctx) => {
        if (b.string !== undefined && b.bytes !== undefined)
          reportInvalid(ctx, p, 'set only one of string, bytes');
      },
    },
  ),
});

const rewrite = obj({
  uri: str(),
  authority: str(),
  uriRegexRewrite: unsupported(obj({ match: required(regex), rewrite: required(str()) }), 'use rewrite.uri'),
});

const retryOnToken = (t: string) => {
  const tokens = [
    '5xx',
    'gateway-error',
    'reset',
    'reset-before-request',
    'connect-failure',
    'envoy-ratelimited',
    'retriable-4xx',
    'refused-stream',
    'retriable-status-codes',
    'retriable-headers',
    'http3-post-connect-failure',
    'cancelled',
    'deadline-exceeded',
    'internal',
    'resource-exhausted',
    'unavailable',
  ];
  if (tokens.includes(t)) return undefined;
  if (/^[0-9]{3}$/.test(t) && Number(t) >= 100 && Number(t) <= 599) return undefined;
  return `retryOn entry ${JSON.stringify(t)} is not a retry condition; expected one of ${tokens.join(', ')} or an HTTP status code`;
};

const retries = obj({
  attempts: int({ min: 0 }),
  perTryTimeout: duration(),
  retryOn: str({
    check: (s) => {
      for (const t of s.split(',').map((x) => x.trim())) {
        const problem = retryOnToken(t);
        if (problem) return problem;
      }
      return undefined;
    },
  }),
  retryRemoteLocalities: unsupported(bool),
  backoff: duration(),
});

/** Methods a CORS policy may allow (Istio's list), or `*` for "the method the preflight asks for". */
const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*'];
const corsMethod = (m: string) =>
  CORS_METHODS.includes(m)
    ? undefined
    : `${JSON.stringify(m)} is not an HTTP method a CORS policy can allow; expected one of ${CORS_METHODS.join(', ')}`;
/** CORS header lists are case-insensitive names (mixed case allowed), or `*`. */
const corsHeaderName = (h: string) =>
  h === '*' || /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h)
    ? undefined
    : `${JSON.stringify(h)} is not a valid header name`;

const corsPolicy = obj({
  allowOrigins: list(stringMatch()),
  allowOrigin: unsupported(
    list(str()),
    'use allowOrigins (a list of StringMatch, e.g. - exact: https://example.com)',
  ),
  allowMethods: list(str({ nonEmpty: true, check: corsMethod })),
  allowHeaders: list(str({ nonEmpty: true, check: corsHeaderName })),
  exposeHeaders: list(str({ nonEmpty: true, check: corsHeaderName })),
  maxAge: (v, path, ctx) => {
    duration({ minMs: 0 })(v, path, ctx);
    if (typeof v === 'string' && durationError(v) === undefined && parseDuration(v) % 1000 !== 0) {
      reportInvalid(
        ctx,
        path,
        `${JSON.stringify(v)} has a fraction of a second; maxAge is sent in whole seconds`,
      );
    }
  },
  allowCredentials: bool,
  unmatchedPreflights: oneOf(['UNSPECIFIED', 'FORWARD', 'IGNORE']),
});

const fault = obj(
  {
    delay: obj(
      {
        fixedDelay: duration(),
        exponentialDelay: unsupported(duration(), 'use fixedDelay'),
        percentage: percent,
        percent: unsupported(int({ min: 0, max: 100 }), 'use percentage.value'),
      },
      {
        check: (d, p, ctx) => {
          if (d.fixedDelay === undefined && d.exponentialDelay === undefined) {
            reportInvalid(ctx, joinPath(p, 'fixedDelay'), 'required field is missing');
          }
        },
      },
    ),
    abort: obj(
      {
        httpStatus: int({ min: 200, max: 599 }),
        grpcStatus: unsupported(str(), 'use httpStatus'),
        http2Error: unsupported(str(), 'use httpStatus'),
        percentage: percent,
      },
      {
        check: (a, p, ctx) => {
          const set = ['httpStatus', 'grpcStatus', 'http2Error'].filter((k) => a[k] !== undefined);
          if (set.length === 0) reportInvalid(ctx, joinPath(p, 'httpStatus'), 'required field is missing');
          if (set.length > 1)
            reportInvalid(
              ctx,
              p,
              `set only one of httpStatus, grpcStatus, http2Error; got ${set.join(' and ')}`,
            );
        },
      },
    ),
  },
  {
    check: (f, p, ctx) => {
      if (f.delay === undefined && f.abort === undefined) reportInvalid(ctx, p, 'set delay, abort or both');
    },
  },
);

/** Weights: non-negative, and not all zero across several destinations. */
function checkWeights(dests: unknown, path: string, ctx: CheckContext): void {
  if (!Array.isArray(dests) || dests.length < 2) return;
  const weights = dests.map((d) => (isRecord(d) && typeof d.weight === 'number' ? d.weight : 0));
  if (weights.every((w) => w === 0)) {
    reportInvalid(
      ctx,
      path,
      `all ${dests.length} destinations have weight 0 or none; give at least one a positive weight (weights are relative)`,
    );
  }
}

const httpRoute = obj(
  {
    name: str(),
    match: list(httpMatch),
    route: list(httpRouteDestination),
    redirect,
    directResponse,
    delegate: unsupported(obj({ name: str(), namespace: str() })),
    rewrite,
    timeout: duration(),
    retries,
    fault,
    mirror: destination,
    mirrors: unsupported(
      list(obj({ destination: required(destination), percentage: percent })),
      'use mirror and mirrorPercentage',
    ),
    mirrorPercentage: percent,
    mirrorPercent: unsupported(int({ min: 0, max: 100 }), 'use mirrorPercentage.value'),
    corsPolicy,
    headers,
  },
  {
    check: (r, p, ctx) => {
      const has = (k: string) => r[k] !== undefined && r[k] !== null;
      const routed = Array.isArray(r.route) && r.route.length > 0;
      if (!routed && !has('redirect') && !has('directResponse') && !has('delegate')) {
        reportInvalid(ctx, p, 'a route needs one of route, redirect, directResponse or delegate');
      }
      if (routed && has('redirect')) reportInvalid(ctx, p, 'route and redirect cannot be used together');
      if (routed && has('directResponse'))
        reportInvalid(ctx, p, 'route and directResponse cannot be used together');
      if (has('redirect') && has('directResponse')) {
        reportInvalid(ctx, p, 'redirect and directResponse cannot be used together');
      }
      if (has('rewrite') && has('redirect'))
        reportInvalid(ctx, joinPath(p, 'rewrite'), 'rewrite cannot be used with redirect');
      if (has('mirrorPercentage') && !has('mirror')) {
        reportInvalid(ctx, joinPath(p, 'mirrorPercentage'), 'mirrorPercentage needs mirror');
      }
      if (has('mirror') && has('mirrors'))
        reportInvalid(ctx, p, 'mirror and mirrors cannot be used together');
      checkWeights(r.route, joinPath(p, 'route'), ctx);
    },
  },
);

const l4Match = obj({
  destinationSubnets: unsupported(list(str({ check: cidrError }))),
  port: port(),
  sourceLabels: labels,
  gateways: list(str({ nonEmpty: true })),
  sourceNamespace: str({ check: dnsLabelError }),
  sourceSubnet: unsupported(str({ check: cidrError })),
});

const routeDestination = obj({ destination: required(destination), weight: int({ min: 0 }) });

const tcpRoute = obj(
  { match: list(l4Match), route: list(routeDestination, { minItems: 1 }) },
  { check: (r, p, ctx) => checkWeights(r.route, joinPath(p, 'route'), ctx) },
);

const tlsRoute = obj({
  match: required(
    list(
      obj({
        sniHosts: required(list(host(), { minItems: 1 })),
        destinationSubnets: list(str({ check: cidrError })),
        port: port(),
        sourceLabels: labels,
        gateways: list(str()),
        sourceNamespace: str(),
      }),
      { minItems: 1 },
    ),
  ),
  route: list(routeDestination, { minItems: 1 }),
});

const gatewayRef = str({
  nonEmpty: true,
  check: (s) => {
    const parts = s.split('/');
    if (parts.length > 2)
      return `${JSON.stringify(s)} is not a gateway reference; expected NAME or NAMESPACE/NAME`;
    return parts.every((x) => /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(x))
      ? undefined
      : `${JSON.stringify(s)} is not a gateway reference; expected NAME or NAMESPACE/NAME`;
  },
});

export const virtualServiceSpec = obj(
  {
    hosts: list(host()),
    gateways: list(gatewayRef),
    http: list(httpRoute),
    tls: unsupported(list(tlsRoute), 'use tcp routes'),
    tcp: list(tcpRoute),
    exportTo,
  },
  {
    check: (s, p, ctx) => {
      const isDelegate = s.hosts === undefined;
      if (!isDelegate && Array.isArray(s.hosts) && s.hosts.length === 0) {
        reportInvalid(ctx, joinPath(p, 'hosts'), 'at least one host is required');
      }
      if (isDelegate) {
        notSupported(
          ctx,
          joinPath(p, 'hosts'),
          'a VirtualService without hosts is a delegate, which the bundled runtime does not support; list the hosts',
        );
      }
      const rules = ['http', 'tcp', 'tls'].filter(
        (k) => Array.isArray(s[k]) && (s[k] as unknown[]).length > 0,
      );
      if (rules.length === 0) reportInvalid(ctx, p, 'at least one of http, tcp or tls routes is required');
      const gateways = Array.isArray(s.gateways) ? s.gateways : [];
      const boundToMesh = gateways.length === 0 || gateways.includes('mesh');
      if (boundToMesh && Array.isArray(s.hosts)) {
        s.hosts.forEach((h, i) => {
          if (h === '*') {
            reportInvalid(
              ctx,
              joinPath(joinPath(p, 'hosts'), i),
              'host "*" is not allowed for a VirtualService bound to the mesh (list gateways, or name the hosts)',
            );
          }
        });
      }
    },
  },
);

// ------------------------------------------------------------------ DestinationRule

const consistentHash = obj(
  {
    httpHeaderName: str({ nonEmpty: true }),
    httpCookie: obj({ name: required(str({ nonEmpty: true })), path: str(), ttl: duration({ minMs: 0 }) }),
    useSourceIp: bool,
    httpQueryParameterName: str({ nonEmpty: true }),
    ringHash: unsupported(obj({ minimumRingSize: int({ min: 0 }) })),
    maglev: unsupported(obj({ tableSize: int({ min: 0 }) })),
    minimumRingSize: unsupported(int({ min: 0 })),
  },
  {
    check: (h, p, ctx) => {
      const set = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter(
        (k) => h[k] !== undefined,
      );
      if (set.length !== 1) {
        reportInvalid(
          ctx,
          p,
          `set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName; got ${set.length === 0 ? 'none' : set.join(' and ')}`,
        );
      }
    },
  },
);

const loadBalancer = obj(
  {
    simple: oneOf(
      ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'],
      ['PASSTHROUGH'],
    ),
    consistentHash,
    localityLbSetting: unsupported(any),
    warmupDurationSecs: unsupported(duration()),
    warmup: unsupported(any),
  },
  {
    check: (lb, p, ctx) => {
      if (lb.simple !== undefined && lb.consistentHash !== undefined) {
        reportInvalid(ctx, p, 'set only one of simple, consistentHash');
      }
    },
  },
);

const connectionPool = obj({
  tcp: obj({
    maxConnections: int({ min: 0 }),
    connectTimeout: duration(),
    tcpKeepalive: unsupported(obj({ probes: int({ min: 0 }), time: duration(), interval: duration() })),
    maxConnectionDuration: unsupported(duration()),
    idleTimeout: unsupported(duration()),
  }),
  http: obj({
    http1MaxPendingRequests: int({ min: 0 }),
    http2MaxRequests: int({ min: 0 }),
    maxRequestsPerConnection: int({ min: 0 }),
    maxRetries: int({ min: 0 }),
    idleTimeout: duration(),
    h2UpgradePolicy: unsupported(oneOf(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'])),
    useClientProtocol: unsupported(bool),
    maxConcurrentStreams: unsupported(int({ min: 0 })),
  }),
});

const outlierDetection = obj({
  splitExternalLocalOriginErrors: unsupported(bool),
  consecutiveLocalOriginFailures: unsupported(int({ min: 0 })),
  consecutiveGatewayErrors: int({ min: 0 }),
  consecutive5xxErrors: int({ min: 0 }),
  consecutiveErrors: int({ min: 0 }),
  interval: duration(),
  baseEjectionTime: duration(),
  maxEjectionPercent: int({ min: 0, max: 100 }),
  minHealthPercent: unsupported(int({ min: 0, max: 100 })),
});

const clientTls = obj(
  {
    mode: oneOf(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'], ['SIMPLE', 'MUTUAL']),
    clientCertificate: unsupported(str()),
    privateKey: unsupported(str()),
    caCertificates: unsupported(str()),
    credentialName: unsupported(str()),
    subjectAltNames: unsupported(list(str())),
    sni: unsupported(str()),
    insecureSkipVerify: unsupported(bool),
    caCrl: unsupported(str()),
  },
  {
    check: (t, p, ctx) => {
      if (
        (t.mode === 'DISABLE' || t.mode === 'ISTIO_MUTUAL') &&
        (t.clientCertificate || t.privateKey || t.caCertificates)
      ) {
        reportInvalid(
          ctx,
          p,
          `clientCertificate, privateKey and caCertificates cannot be set with mode ${t.mode}`,
        );
      }
      if (t.mode === 'MUTUAL' && !t.credentialName && (!t.clientCertificate || !t.privateKey)) {
        reportInvalid(ctx, p, 'mode MUTUAL needs credentialName, or clientCertificate and privateKey');
      }
    },
  },
);

const trafficPolicySections = {
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: clientTls,
  tunnel: unsupported(any),
  proxyProtocol: unsupported(any),
  retryBudget: unsupported(any),
};

const portTrafficPolicy = obj({ port: required(portSelector), ...trafficPolicySections });

const trafficPolicy = obj({ ...trafficPolicySections, portLevelSettings: list(portTrafficPolicy) });

const subset = obj({
  name: required(str({ nonEmpty: true, check: dnsLabelError })),
  labels,
  trafficPolicy,
});

export const destinationRuleSpec = obj(
  {
    host: required(host({ allowStar: false })),
    trafficPolicy,
    subsets: list(subset),
    exportTo,
    workloadSelector: unsupported(workloadSelector),
  },
  {
    check: (s, p, ctx) => {
      if (!Array.isArray(s.subsets)) return;
      const seen = new Map<string, number>();
      s.subsets.forEach((sub, i) => {
        if (!isRecord(sub) || typeof sub.name !== 'string') return;
        const first = seen.get(sub.name);
        if (first !== undefined) {
          reportInvalid(
            ctx,
            `${p}.subsets[${i}].name`,
            `duplicate subset name ${JSON.stringify(sub.name)} (also subsets[${first}])`,
          );
        } else seen.set(sub.name, i);
      });
    },
  },
);

// ------------------------------------------------------------------ Gateway

const PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'GRPC',
  'GRPC-WEB',
  'HTTP2',
  'MONGO',
  'TCP',
  'TLS',
  'UDP',
  'MYSQL',
  'REDIS',
];

function protocol(supported: readonly string[]): Check {
  return (v, path, ctx) => {
    const upper = typeof v === 'string' ? v.toUpperCase() : v;
    oneOf(
      PROTOCOLS,
      PROTOCOLS.filter((x) => !supported.includes(x)),
    )(upper, path, ctx);
  };
}

const gatewayServerTls = obj({
  httpsRedirect: unsupported(bool),
  mode: oneOf(
    ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'],
    ['PASSTHROUGH', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'],
  ),
  serverCertificate: unsupported(str(), 'use credentialName'),
  privateKey: unsupported(str(), 'use credentialName'),
  caCertificates: unsupported(str()),
  credentialName: str({ nonEmpty: true }),
  credentialNames: unsupported(list(str())),
  subjectAltNames: unsupported(list(str())),
  verifyCertificateSpki: unsupported(list(str())),
  verifyCertificateHash: unsupported(list(str())),
  minProtocolVersion: unsupported(str()),
  maxProtocolVersion: unsupported(str()),
  cipherSuites: unsupported(list(str())),
});

const gatewayHost = str({
  nonEmpty: true,
  check: (s) => {
    const slash = s.indexOf('/');
    const ns = slash >= 0 ? s.slice(0, slash) : undefined;
    const h = slash >= 0 ? s.slice(slash + 1) : s;
    if (ns !== undefined && ns !== '*' && ns !== '.' && dnsLabelError(ns)) {
      return `${JSON.stringify(s)} has an invalid namespace; expected NAMESPACE/HOST with NAMESPACE "*", "." or a namespace name`;
    }
    return hostError(h);
  },
});

const server = obj(
  {
    port: required(
      obj({
        number: required(port()),
        protocol: required(protocol(['HTTP', 'HTTPS'])),
        name: str(),
        targetPort: unsupported(port()),
      }),
    ),
    bind: unsupported(str({ check: ipError })),
    hosts: required(list(gatewayHost, { minItems: 1 })),
    tls: gatewayServerTls,
    name: str(),
    defaultEndpoint: unsupported(str()),
  },
  {
    check: (s, p, ctx) => {
      const proto =
        isRecord(s.port) && typeof s.port.protocol === 'string' ? s.port.protocol.toUpperCase() : '';
      const tls = isRecord(s.tls) ? s.tls : undefined;
      if ((proto === 'HTTPS' || proto === 'TLS') && !tls) {
        reportInvalid(ctx, joinPath(p, 'tls'), `an ${proto} server needs tls settings`);
      }
      if (
        proto === 'HTTPS' &&
        tls &&
        (tls.mode ?? 'SIMPLE') === 'SIMPLE' &&
        !tls.credentialName &&
        !tls.serverCertificate
      ) {
        reportInvalid(
          ctx,
          joinPath(p, 'tls'),
          'tls mode SIMPLE needs credentialName (or serverCertificate and privateKey)',
        );
      }
    },
  },
);

export const gatewaySpec = obj({
  servers: required(list(server, { minItems: 1 })),
  selector: map(str()),
});

// ------------------------------------------------------------------ ServiceEntry

const servicePort = obj({
  number: required(port()),
  protocol: protocol(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'TCP', 'TLS']),
  name: required(str({ nonEmpty: true })),
  targetPort: unsupported(port()),
});

const workloadEntry = obj({
  address: str({ nonEmpty: true }),
  ports: map(port()),
  labels,
  network: unsupported(str()),
  locality: unsupported(str()),
  weight: unsupported(int({ min: 0 })),
  serviceAccount: str(),
});

export const serviceEntrySpec = obj(
  {
    hosts: required(list(host(), { minItems: 1 })),
    addresses: unsupported(list(str({ check: cidrError }))),
    ports: list(servicePort),
    location: oneOf(['MESH_EXTERNAL', 'MESH_INTERNAL']),
    resolution: oneOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'], ['DNS_ROUND_ROBIN']),
    endpoints: list(workloadEntry),
    workloadSelector: unsupported(workloadSelector, 'use endpoints'),
    exportTo,
    subjectAltNames: unsupported(list(str())),
  },
  {
    check: (s, p, ctx) => {
      const endpoints = Array.isArray(s.endpoints) ? s.endpoints : [];
      if (s.resolution === 'STATIC' && endpoints.length === 0) {
        reportInvalid(ctx, joinPath(p, 'endpoints'), 'resolution STATIC needs at least one endpoint');
      }
      if ((s.resolution === 'DNS' || s.resolution === 'DNS_ROUND_ROBIN') && Array.isArray(s.hosts)) {
        s.hosts.forEach((h, i) => {
          if (typeof h === 'string' && h.startsWith('*')) {
            reportInvalid(
              ctx,
              `${p}.hosts[${i}]`,
              `wildcard host ${JSON.stringify(h)} cannot be used with resolution ${s.resolution}`,
            );
          }
        });
      }
      if (s.resolution === 'STATIC') {
        endpoints.forEach((e, i) => {
          if (
            isRecord(e) &&
            typeof e.address === 'string' &&
            ipError(e.address) &&
            !e.address.startsWith('unix://')
          ) {
            reportInvalid(
              ctx,
              `${p}.endpoints[${i}].address`,
              `${describe(e.address)} must be an IP address with resolution STATIC`,
            );
          }
        });
      }
      uniquePorts(s.ports, `${p}.ports`, ctx);
      const portNames = new Set(
        (Array.isArray(s.ports) ? s.ports : [])
          .map((x) => (isRecord(x) ? x.name : undefined))
          .filter((x) => typeof x === 'string'),
      );
      endpoints.forEach((e, i) => {
        if (!isRecord(e) || !isRecord(e.ports)) return;
        for (const name of Object.keys(e.ports)) {
          if (!portNames.has(name)) {
            reportInvalid(
              ctx,
              `${p}.endpoints[${i}].ports.${name}`,
              `no port named ${JSON.stringify(name)} in spec.ports`,
            );
          }
        }
      });
    },
  },
);

/** Port names and numbers appear once in a list of ports. */
function uniquePorts(ports: unknown, path: string, ctx: CheckContext): void {
  if (!Array.isArray(ports)) return;
  const names = new Map<unknown, number>();
  const numbers = new Map<unknown, number>();
  ports.forEach((port, i) => {
    if (!isRecord(port)) return;
    for (const [field, seen] of [
      ['name', names],
      ['number', numbers],
    ] as const) {
      const v = port[field];
      if (v === undefined) continue;
      const first = seen.get(v);
      if (first !== undefined) {
        reportInvalid(
          ctx,
          `${path}[${i}].${field}`,
          `duplicate port ${field} ${JSON.stringify(v)} (also ${path.split('.').pop()}[${first}])`,
        );
      } else seen.set(v, i);
    }
  });
}

// ------------------------------------------------------------------ Sidecar

const egressHost = str({
  nonEmpty: true,
  check: (s) => {
    const slash = s.indexOf('/');
    if (slash < 0)
      return `${JSON.stringify(s)} must be NAMESPACE/HOST (for example "./*" or "istio-system/*")`;
    const ns = s.slice(0, slash);
    const h = s.slice(slash + 1);
    if (ns !== '*' && ns !== '.' && ns !== '~' && dnsLabelError(ns))
      return `${JSON.stringify(s)} has an invalid namespace`;
    return hostError(h);
  },
});

const sidecarPort = obj({
  number: required(port()),
  protocol: protocol(PROTOCOLS),
  name: str(),
  targetPort: port(),
});

export const sidecarSpec = obj({
  workloadSelector: obj({ labels: required(labels) }),
  ingress: unsupported(list(any)),
  egress: list(
    obj({
      port: unsupported(sidecarPort),
      bind: unsupported(str()),
      captureMode: unsupported(oneOf(['DEFAULT', 'IPTABLES', 'NONE'])),
      hosts: required(list(egressHost, { minItems: 1 })),
    }),
  ),
  outboundTrafficPolicy: obj({ mode: outboundTrafficPolicyMode, egressProxy: unsupported(any) }),
  inboundConnectionPool: unsupported(any),
});

import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../../lib/api/diagnostics.js';
import { parseYaml } from '../../../lib/api/parse.js';
import type { MeshObject } from '../../../lib/api/types.js';
import { validateObjects } from '../../../lib/api/validate.js';

const NET = 'networking.istio.io/v1';
const SEC = 'security.istio.io/v1';

function object(
  kind: string,
  spec: unknown,
  apiVersion = kind.endsWith('Policy') || kind === 'PeerAuthentication' ? SEC : NET,
) {
  return { apiVersion, kind, metadata: { name: 'x', namespace: 'default' }, spec } as unknown as MeshObject;
}

const route = (extra: Record<string, unknown> = {}) => ({
  hosts: ['reviews'],
  http: [{ route: [{ destination: { host: 'reviews' } }], ...extra }],
});

/** The path → message pairs validation reports for one object. */
function problems(obj: MeshObject, target: 'bundled' | 'istio' = 'bundled'): [string, string, string][] {
  return validateObjects([obj], { target }).map((d: Diagnostic) => [d.code, d.path ?? '', d.message]);
}

describe('validateObjects: invalid Istio config is an error with its exact path', () => {
  const cases: [name: string, obj: MeshObject, code: string, path: string, message: string][] = [
    [
      'a negative weight',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ route: [{ destination: { host: 'r' }, weight: -5 }] }],
      }),
      'IST0106',
      'spec.http[0].route[0].weight',
      '-5 is out of range; expected an integer from 0 to 2147483647',
    ],
    [
      'a weight that is not a number',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ route: [{ destination: { host: 'r' }, weight: '50' }] }],
      }),
      'IST0106',
      'spec.http[0].route[0].weight',
      'expected an integer from 0 to 2147483647, got "50"',
    ],
    [
      'all-zero weights across several destinations',
      object('VirtualService', {
        hosts: ['r'],
        http: [
          {
            route: [
              { destination: { host: 'r', subset: 'a' }, weight: 0 },
              { destination: { host: 'r', subset: 'b' }, weight: 0 },
            ],
          },
        ],
      }),
      'IST0106',
      'spec.http[0].route',
      'all 2 destinations have weight 0 or none; give at least one a positive weight (weights are relative)',
    ],
    [
      'an unknown field',
      object('VirtualService', route({ retires: { attempts: 1 } })),
      'IST0106',
      'spec.http[0].retires',
      'unknown field "retires"; allowed fields: name, match, route, redirect, directResponse, delegate, rewrite, timeout, retries, fault, mirror, mirrors, mirrorPercentage, mirrorPercent, corsPolicy, headers',
    ],
    [
      'a missing destination host',
      object('VirtualService', { hosts: ['r'], http: [{ route: [{ destination: { subset: 'v1' } }] }] }),
      'IST0106',
      'spec.http[0].route[0].destination.host',
      'required field is missing',
    ],
    [
      'a bad duration',
      object('VirtualService', route({ timeout: '10' })),
      'IST0106',
      'spec.http[0].timeout',
      '"10" is not a valid duration: missing unit after "10"; expected a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m',
    ],
    [
      'a duration under 1ms',
      object('VirtualService', route({ timeout: '0s' })),
      'IST0106',
      'spec.http[0].timeout',
      '"0s" is too short; expected at least 1ms',
    ],
    [
      'a regex that is not RE2',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ match: [{ uri: { regex: '(?=x)' } }], route: [{ destination: { host: 'r' } }] }],
      }),
      'IST0106',
      'spec.http[0].match[0].uri.regex',
      '"(?=x)" is not a valid RE2 regex: invalid or unsupported Perl syntax: `(?=`',
    ],
    [
      'two kinds of string match at once',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ match: [{ uri: { exact: '/a', prefix: '/' } }], route: [{ destination: { host: 'r' } }] }],
      }),
      'IST0106',
      'spec.http[0].match[0].uri',
      'set only one of exact, prefix, regex; got exact and prefix',
    ],
    [
      'an upper-case header name',
      object('VirtualService', {
        hosts: ['r'],
        http: [
          {
            match: [{ headers: { 'End-User': { exact: 'jason' } } }],
            route: [{ destination: { host: 'r' } }],
          },
        ],
      }),
      'IST0106',
      'spec.http[0].match[0].headers["End-User"]',
      'header name "End-User" must be lower-case',
    ],
    [
      'a misspelt spec on a kind whose spec is optional',
      {
        apiVersion: SEC,
        kind: 'PeerAuthentication',
        metadata: { name: 'x' },
        sepc: { mtls: { mode: 'STRICT' } },
      } as unknown as MeshObject,
      'IST0106',
      'sepc',
      'unknown field "sepc"; allowed fields: apiVersion, kind, metadata, spec, status',
    ],
    [
      'a fault with neither delay nor abort',
      object('VirtualService', route({ fault: {} })),
      'IST0106',
      'spec.http[0].fault',
      'set delay, abort or both',
    ],
    [
      'a direct response body that is not base64',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ directResponse: { status: 200, body: { bytes: 'not base64!' } } }],
      }),
      'IST0106',
      'spec.http[0].directResponse.body.bytes',
      'bytes must be base64',
    ],
    [
      'two ServiceEntry ports with one name',
      object('ServiceEntry', {
        hosts: ['a.example.com'],
        ports: [
          { number: 80, name: 'http', protocol: 'HTTP' },
          { number: 8080, name: 'http', protocol: 'HTTP' },
        ],
        resolution: 'DNS',
      }),
      'IST0106',
      'spec.ports[1].name',
      'duplicate port name "http" (also ports[0])',
    ],
    [
      'a wildcard destination host',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ route: [{ destination: { host: '*.example.com' } }] }],
      }),
      'IST0106',
      'spec.http[0].route[0].destination.host',
      '"*.example.com": a destination host cannot contain a wildcard',
    ],
    [
      'a port out of range',
      object('VirtualService', {
        hosts: ['r'],
        http: [{ route: [{ destination: { host: 'r', port: { number: 70000 } } }] }],
      }),
      'IST0106',
      'spec.http[0].route[0].destination.port.number',
      '70000 is not a valid port; expected an integer from 1 to 65535',
    ],
    [
      'a percentage above 100',
      object('VirtualService', route({ fault: { abort: { httpStatus: 503, percentage: { value: 120 } } } })),
      'IST0106',
      'spec.http[0].fault.abort.percentage.value',
      '120 is out of range; expected a number from 0 to 100',
    ],
    [
      'rewrite together with redirect',
      object('VirtualService', { hosts: ['r'], http: [{ redirect: { uri: '/b' }, rewrite: { uri: '/c' } }] }),
      'IST0106',
      'spec.http[0].rewrite',
      'rewrite cannot be used with redirect',
    ],
    [
      'a route with no action',
      object('VirtualService', { hosts: ['r'], http: [{ timeout: '1s' }] }),
      'IST0106',
      'spec.http[0]',
      'a route needs one of route, redirect, directResponse or delegate',
    ],
    [
      'a mesh VirtualService for every host',
      object('VirtualService', { hosts: ['*'], http: [{ route: [{ destination: { host: 'r' } }] }] }),
      'IST0106',
      'spec.hosts[0]',
      'host "*" is not allowed for a VirtualService bound to the mesh (list gateways, or name the hosts)',
    ],
    [
      'an unknown retry condition',
      object('VirtualService', route({ retries: { attempts: 2, retryOn: '5xx,sometimes' } })),
      'IST0106',
      'spec.http[0].retries.retryOn',
      'retryOn entry "sometimes" is not a retry condition; expected one of 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable or an HTTP status code',
    ],
    [
      'an unknown load balancer',
      object('DestinationRule', { host: 'r', trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } }),
      'IST0106',
      'spec.trafficPolicy.loadBalancer.simple',
      '"FASTEST" is not one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST',
    ],
    [
      'a subset name that is not a DNS label',
      object('DestinationRule', { host: 'r', subsets: [{ name: 'V1', labels: { version: 'v1' } }] }),
      'IST0106',
      'spec.subsets[0].name',
      '"V1" is not a valid DNS label; expected lower-case letters, digits and \'-\', starting and ending with a letter or digit',
    ],
    [
      'duplicate subset names',
      object('DestinationRule', { host: 'r', subsets: [{ name: 'v1' }, { name: 'v1' }] }),
      'IST0106',
      'spec.subsets[1].name',
      'duplicate subset name "v1" (also subsets[0])',
    ],
    [
      'maxEjectionPercent above 100',
      object('DestinationRule', {
        host: 'r',
        trafficPolicy: { outlierDetection: { maxEjectionPercent: 101 } },
      }),
      'IST0106',
      'spec.trafficPolicy.outlierDetection.maxEjectionPercent',
      '101 is out of range; expected an integer from 0 to 100',
    ],
    [
      'an HTTPS gateway server without tls',
      object('Gateway', {
        selector: { istio: 'ingressgateway' },
        servers: [{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['*'] }],
      }),
      'IST0106',
      'spec.servers[0].tls',
      'an HTTPS server needs tls settings',
    ],
    [
      'a STATIC ServiceEntry without endpoints',
      object('ServiceEntry', {
        hosts: ['db.example.com'],
        ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }],
        resolution: 'STATIC',
      }),
      'IST0106',
      'spec.endpoints',
      'resolution STATIC needs at least one endpoint',
    ],
    [
      'a Sidecar egress host without namespace',
      object('Sidecar', { egress: [{ hosts: ['reviews'] }] }),
      'IST0106',
      'spec.egress[0].hosts[0]',
      '"reviews" must be NAMESPACE/HOST (for example "./*" or "istio-system/*")',
    ],
    [
      'an unknown mTLS mode',
      object('PeerAuthentication', { mtls: { mode: 'STRICTER' } }),
      'IST0106',
      'spec.mtls.mode',
      '"STRICTER" is not one of UNSET, DISABLE, PERMISSIVE, STRICT',
    ],
    [
      'portLevelMtls without a selector',
      object('PeerAuthentication', { portLevelMtls: { '8080': { mode: 'DISABLE' } } }),
      'IST0106',
      'spec.portLevelMtls',
      'portLevelMtls needs a selector (it applies to container ports of selected workloads)',
    ],
    [
      'a bad ipBlock',
      object('AuthorizationPolicy', { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/40'] } }] }] }),
      'IST0106',
      'spec.rules[0].from[0].source.ipBlocks[0]',
      '"10.0.0.0/40" has an invalid prefix length; expected 0 to 32',
    ],
    [
      'an empty source',
      object('AuthorizationPolicy', { rules: [{ from: [{ source: {} }] }] }),
      'IST0106',
      'spec.rules[0].from[0].source',
      'source must set at least one field',
    ],
    [
      'an unknown condition key',
      object('AuthorizationPolicy', { rules: [{ when: [{ key: 'request.colour', values: ['red'] }] }] }),
      'IST0106',
      'spec.rules[0].when[0].key',
      'unknown attribute "request.colour"; expected request.headers[NAME], source.ip, remote.ip, source.namespace, source.principal, destination.port, or another Istio condition key',
    ],
    [
      'an unknown apiVersion for the kind',
      object('VirtualService', route(), 'networking.istio.io/v2'),
      'IST0106',
      'apiVersion',
      '"networking.istio.io/v2" is not an API version of VirtualService; expected networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1',
    ],
    [
      'a Service port out of range',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'r' },
        spec: { ports: [{ port: 0 }] },
      } as unknown as MeshObject,
      'IST0106',
      'spec.ports[0].port',
      '0 is not a valid port; expected an integer from 1 to 65535',
    ],
    [
      'a Service name that is not a DNS label',
      { apiVersion: 'v1', kind: 'Service', metadata: { name: '9lives' }, spec: {} } as unknown as MeshObject,
      'IST0106',
      'metadata.name',
      '"9lives" is not a valid Service name; expected lower-case letters, digits and \'-\', starting with a letter and ending with a letter or digit',
    ],
    [
      'a bad targetPort name',
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'r' },
        spec: { ports: [{ port: 80, targetPort: 'Http_Port' }] },
      } as unknown as MeshObject,
      'IST0106',
      'spec.ports[0].targetPort',
      '"Http_Port" is not a valid port name; expected up to 15 lower-case letters, digits and \'-\', with at least one letter',
    ],
    [
      'a Deployment whose selector does not match its template',
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'r' },
        spec: {
          selector: { matchLabels: { app: 'r' } },
          template: { metadata: { labels: { app: 's' } }, spec: { containers: [{ name: 'c' }] } },
        },
      } as unknown as MeshObject,
      'IST0106',
      'spec.selector.matchLabels.app',
      "selector app=r does not match the pod template's labels (template has app=s)",
    ],
    [
      'a bad label value',
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'foo', labels: { team: 'a b' } },
      } as unknown as MeshObject,
      'IST0106',
      'metadata.labels.team',
      "label value \"a b\" is invalid; expected up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    ],
  ];
  it.each(cases)('refuses %s', (_name, obj, code, path, message) => {
    expect(problems(obj)).toContainEqual([code, path, message]);
    // Invalid Istio config is invalid for every target.
    expect(problems(obj, 'istio')).toContainEqual([code, path, message]);
  });
});

describe('validateObjects: valid Istio config the bundled runtime does not implement', () => {
  const cases: [name: string, obj: MeshObject, path: string, message: string][] = [
    [
      'DestinationRule tls mode SIMPLE',
      object('DestinationRule', { host: 'x', trafficPolicy: { tls: { mode: 'SIMPLE' } } }),
      'spec.trafficPolicy.tls.mode',
      'SIMPLE is not supported by the bundled runtime; supported: DISABLE, ISTIO_MUTUAL',
    ],
    [
      'the deprecated corsPolicy.allowOrigin',
      object('VirtualService', route({ corsPolicy: { allowOrigin: ['https://a'] } })),
      'spec.http[0].corsPolicy.allowOrigin',
      'not supported by the bundled runtime (valid for target istio); use allowOrigins (a list of StringMatch, e.g. - exact: https://example.com)',
    ],
    [
      'a delegate',
      object('VirtualService', { hosts: ['r'], http: [{ delegate: { name: 'd' } }] }),
      'spec.http[0].delegate',
      'not supported by the bundled runtime (valid for target istio)',
    ],
    [
      'a delegate VirtualService (one without hosts)',
      object('VirtualService', { http: [{ route: [{ destination: { host: 'r' } }] }] }),
      'spec.hosts',
      'a VirtualService without hosts is a delegate, which the bundled runtime does not support; list the hosts',
    ],
    [
      'tls routes',
      object('VirtualService', {
        hosts: ['r'],
        tls: [{ match: [{ sniHosts: ['r'] }], route: [{ destination: { host: 'r' } }] }],
      }),
      'spec.tls',
      'not supported by the bundled runtime (valid for target istio); use tcp routes',
    ],
    [
      'a localityLbSetting',
      object('DestinationRule', {
        host: 'x',
        trafficPolicy: { loadBalancer: { localityLbSetting: { enabled: true } } },
      }),
      'spec.trafficPolicy.loadBalancer.localityLbSetting',
      'not supported by the bundled runtime (valid for target istio)',
    ],
    [
      'a CUSTOM authorization action',
      object('AuthorizationPolicy', { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] }),
      'spec.action',
      'CUSTOM is not supported by the bundled runtime; supported: ALLOW, DENY, AUDIT',
    ],
    [
      'requestPrincipals',
      object('AuthorizationPolicy', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }),
      'spec.rules[0].from[0].source.requestPrincipals',
      'not supported by the bundled runtime (valid for target istio); request authentication (JWT) is not implemented',
    ],
    [
      'a request.auth condition',
      object('AuthorizationPolicy', {
        rules: [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }],
      }),
      'spec.rules[0].when[0].key',
      '"request.auth.claims[iss]" is not supported by the bundled runtime; supported: request.headers[NAME], source.ip, remote.ip, source.namespace, source.principal, destination.port',
    ],
    [
      'a TCP gateway server',
      object('Gateway', {
        servers: [{ port: { number: 31400, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] }],
      }),
      'spec.servers[0].port.protocol',
      'TCP is not supported by the bundled runtime; supported: HTTP, HTTPS',
    ],
    [
      'DNS_ROUND_ROBIN resolution',
      object('ServiceEntry', {
        hosts: ['a.example.com'],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS_ROUND_ROBIN',
      }),
      'spec.resolution',
      'DNS_ROUND_ROBIN is not supported by the bundled runtime; supported: NONE, STATIC, DNS',
    ],
    [
      'Sidecar ingress listeners',
      object('Sidecar', { ingress: [{ port: { number: 80, protocol: 'HTTP' } }] }),
      'spec.ingress',
      'not supported by the bundled runtime (valid for target istio)',
    ],
  ];
  it.each(cases)('names %s as not supported by the bundled runtime', (_name, obj, path, message) => {
    expect(problems(obj)).toEqual([['TSM0001', path, message]]);
  });
  it.each(cases)('accepts %s for target istio', (_name, obj) => {
    expect(problems(obj, 'istio')).toEqual([]);
  });
});

describe('validateObjects: many problems at once', () => {
  it('reports every problem of every object, with the line of each field', () => {
    const { objects } = parseYaml(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: -1
    timeout: soon
    corsPolicy: {allowOrigin: ['*']}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: c}
    outlierDetection: {interval: 10}
`,
      'many.yaml',
    );
    const found = validateObjects(objects).map(
      (d) => `${d.code} ${d.object} ${d.source?.file}:${d.source?.line} ${d.path}`,
    );
    expect(found).toEqual([
      'IST0106 VirtualService default/reviews many.yaml:10 spec.http[0].route[0].weight',
      'IST0106 VirtualService default/reviews many.yaml:11 spec.http[0].timeout',
      'TSM0001 VirtualService default/reviews many.yaml:12 spec.http[0].corsPolicy.allowOrigin',
      'TSM0001 DestinationRule default/reviews many.yaml:20 spec.trafficPolicy.tls.mode',
      'TSM0001 DestinationRule default/reviews many.yaml:20 spec.trafficPolicy.tls.credentialName',
      'IST0106 DestinationRule default/reviews many.yaml:21 spec.trafficPolicy.outlierDetection.interval',
    ]);
  });

  it('accepts everything the bundled runtime implements', () => {
    const vs = object('VirtualService', {
      hosts: ['reviews'],
      gateways: ['mesh', 'istio-system/ingress'],
      exportTo: ['.'],
      http: [
        {
          name: 'jason',
          match: [
            {
              uri: { prefix: '/api' },
              method: { exact: 'GET' },
              authority: { regex: '(?i)reviews.*' },
              headers: { 'end-user': { exact: 'jason' }, 'x-present': {} },
              withoutHeaders: { 'x-skip': {} },
              queryParams: { q: { regex: '[0-9]+' } },
              port: 9080,
              sourceLabels: { app: 'productpage' },
              sourceNamespace: 'default',
              ignoreUriCase: true,
              gateways: ['mesh'],
            },
          ],
          route: [
            {
              destination: { host: 'reviews', subset: 'v2', port: { number: 9080 } },
              weight: 75,
              headers: { request: { set: { 'x-a': 'b' } } },
            },
            { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
          ],
          rewrite: { uri: '/v2', authority: 'reviews-v2' },
          timeout: '1.5s',
          retries: {
            attempts: 3,
            perTryTimeout: '500ms',
            retryOn: '5xx,connect-failure,503',
            backoff: '25ms',
          },
          fault: {
            delay: { fixedDelay: '7s', percentage: { value: 10 } },
            abort: { httpStatus: 503, percentage: { value: 1.5 } },
          },
          mirror: { host: 'reviews', subset: 'v3' },
          mirrorPercentage: { value: 50 },
          headers: { request: { add: { 'x-b': 'c' }, remove: ['x-c'] }, response: { set: { 'x-d': 'e' } } },
        },
        { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'a', redirectCode: 302 } },
        {
          match: [{ uri: { exact: '/teapot' } }],
          directResponse: { status: 418, body: { string: 'short and stout' } },
        },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ],
      tcp: [{ match: [{ port: 3306 }], route: [{ destination: { host: 'mysql', port: { number: 3306 } } }] }],
    });
    const dr = object('DestinationRule', {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } },
        connectionPool: {
          tcp: { maxConnections: 100, connectTimeout: '1s' },
          http: {
            http1MaxPendingRequests: 10,
            http2MaxRequests: 100,
            maxRequestsPerConnection: 1,
            idleTimeout: '30s',
          },
        },
        outlierDetection: {
          consecutive5xxErrors: 5,
          consecutiveGatewayErrors: 3,
          interval: '10s',
          baseEjectionTime: '30s',
          maxEjectionPercent: 50,
        },
        tls: { mode: 'ISTIO_MUTUAL' },
        portLevelSettings: [{ port: { number: 9080 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } },
      ],
      exportTo: ['*'],
    });
    const gw = object('Gateway', {
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] },
        {
          port: { number: 443, name: 'https', protocol: 'HTTPS' },
          hosts: ['bookinfo/*.example.com'],
          tls: { mode: 'SIMPLE', credentialName: 'bookinfo-cert' },
        },
      ],
    });
    const se = object('ServiceEntry', {
      hosts: ['api.example.com'],
      ports: [{ number: 443, name: 'https', protocol: 'TLS' }],
      location: 'MESH_EXTERNAL',
      resolution: 'STATIC',
      endpoints: [{ address: '127.0.0.2', ports: { https: 8443 }, labels: { zone: 'a' } }],
    });
    const sidecar = object('Sidecar', {
      workloadSelector: { labels: { app: 'reviews' } },
      egress: [{ hosts: ['./*', 'istio-system/*'] }],
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    });
    const pa = object('PeerAuthentication', {
      selector: { matchLabels: { app: 'reviews' } },
      mtls: { mode: 'STRICT' },
      portLevelMtls: { '9080': { mode: 'PERMISSIVE' } },
    });
    const ap = object('AuthorizationPolicy', {
      selector: { matchLabels: { app: 'reviews' } },
      action: 'DENY',
      rules: [
        {
          from: [
            {
              source: {
                principals: ['cluster.local/ns/default/sa/sleep'],
                notNamespaces: ['prod'],
                ipBlocks: ['10.0.0.0/8'],
                remoteIpBlocks: ['1.2.3.4'],
              },
            },
          ],
          to: [
            {
              operation: {
                methods: ['POST'],
                paths: ['/admin*'],
                ports: ['9080'],
                hosts: ['reviews'],
                notPaths: ['/admin/ok'],
              },
            },
          ],
          when: [
            { key: 'request.headers[x-token]', values: ['bad'] },
            { key: 'source.ip', notValues: ['127.0.0.1'] },
            { key: 'destination.port', values: ['9080'] },
          ],
        },
      ],
    });
    const mesh = {
      apiVersion: 'tsmesh.dev/v1alpha1',
      kind: 'MeshConfig',
      metadata: { name: 'mesh', namespace: 'tsmesh-system' },
      spec: {
        trustDomain: 'cluster.local',
        pathNormalization: 'MERGE_SLASHES',
        traceSampling: 1,
        defaultTimeout: '0s',
        outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
      },
    } as unknown as MeshObject;
    expect(validateObjects([vs, dr, gw, se, sidecar, pa, ap, mesh])).toEqual([]);
  });
});

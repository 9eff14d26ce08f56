import { describe, expect, it } from 'vitest';
import { analyze } from '../../lib/analyze.js';
import { parseObjects, parseYaml } from '../../lib/api/parse.js';

const svc = (name: string, ns = 'default', ports = [9080]) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns },
  spec: { selector: { app: name }, ports: ports.map((p, i) => ({ name: `http-${i}`, port: p })) },
});
const deploy = (app: string, version: string, ns = 'default') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: `${app}-${version}`, namespace: ns },
  spec: {
    selector: { matchLabels: { app, version } },
    template: { metadata: { labels: { app, version } }, spec: { containers: [{ name: app }] } },
  },
});
const dr = (host: string, subsets: string[], ns = 'default', name = host) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name, namespace: ns },
  spec: { host, subsets: subsets.map((s) => ({ name: s, labels: { version: s } })) },
});
const vs = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: 'default', ...metadata },
  spec,
});
const to = (host: string, subset?: string) => ({ destination: subset ? { host, subset } : { host } });

function run(objs: unknown[]) {
  const parsed = parseObjects(objs);
  expect(parsed.diagnostics).toEqual([]);
  return analyze(parsed.objects).map((d) => [d.severity, d.code, d.object ?? '', d.path ?? '', d.message]);
}

describe('analyze', () => {
  it('reports a destination host that no Service or ServiceEntry declares', () => {
    expect(
      run([svc('reviews'), vs('r', { hosts: ['reviews'], http: [{ route: [to('reveiws')] }] })]),
    ).toEqual([
      [
        'error',
        'IST0101',
        'VirtualService default/r',
        'spec.http[0].route[0].destination.host',
        'host "reveiws" (reveiws.default.svc.cluster.local) not found: no Service or ServiceEntry declares it',
      ],
    ]);
  });

  it('resolves short hosts in the namespace of the VirtualService', () => {
    const routes = vs('r', { hosts: ['reviews'], http: [{ route: [to('reviews')] }] }, { namespace: 'foo' });
    expect(run([svc('reviews', 'default'), routes])[0][4]).toBe(
      'host "reviews" (reviews.foo.svc.cluster.local) not found: no Service or ServiceEntry declares it',
    );
    expect(run([svc('reviews', 'foo'), routes])).toEqual([]);
  });

  it('accepts hosts declared by a ServiceEntry, wildcards included', () => {
    const se = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'ext' },
      spec: {
        hosts: ['*.example.com'],
        ports: [{ number: 443, name: 'tls', protocol: 'TLS' }],
        resolution: 'NONE',
      },
    };
    expect(
      run([se, vs('r', { hosts: ['api.example.com'], tcp: [{ route: [to('api.example.com')] }] })]),
    ).toEqual([]);
  });

  it('reports a subset that no DestinationRule for the host defines', () => {
    const found = run([
      svc('reviews'),
      dr('reviews', ['v1', 'v2']),
      vs('r', { hosts: ['reviews'], http: [{ route: [to('reviews', 'v3')] }] }),
    ]);
    expect(found).toEqual([
      [
        'error',
        'IST0101',
        'VirtualService default/r',
        'spec.http[0].route[0].destination.subset',
        'subset "v3" of host reviews.default.svc.cluster.local not found: DestinationRule default/reviews defines v1, v2',
      ],
    ]);
  });

  it('reports a gateway that does not exist', () => {
    const found = run([
      svc('reviews'),
      vs('r', {
        hosts: ['reviews.example.com'],
        gateways: ['bookinfo-gw'],
        http: [{ route: [to('reviews')] }],
      }),
    ]);
    expect(found).toEqual([
      [
        'error',
        'IST0101',
        'VirtualService default/r',
        'spec.gateways[0]',
        'gateway "bookinfo-gw" (default/bookinfo-gw) not found',
      ],
    ]);
  });

  it('asks a gateway route to a multi-port service to name the port', () => {
    const gw = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'gw' },
      spec: {
        selector: { istio: 'ingressgateway' },
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
      },
    };
    const found = run([
      svc('reviews', 'default', [9080, 9090]),
      gw,
      vs('r', { hosts: ['*'], gateways: ['gw'], http: [{ route: [to('reviews')] }] }),
    ]);
    expect(found.map((f) => f[1])).toEqual(['IST0112']);
  });

  it('reports two VirtualServices for one host, naming the deterministic winner', () => {
    const older = vs(
      'b-old',
      { hosts: ['reviews'], http: [{ route: [to('reviews')] }] },
      { creationTimestamp: '2024-01-01T00:00:00Z' },
    );
    const newer = vs(
      'a-new',
      { hosts: ['reviews.default.svc.cluster.local'], http: [{ route: [to('reviews')] }] },
      { creationTimestamp: '2025-01-01T00:00:00Z' },
    );
    expect(run([svc('reviews'), newer, older])).toEqual([
      [
        'error',
        'IST0109',
        'VirtualService default/a-new',
        'spec.hosts[0]',
        'host reviews.default.svc.cluster.local is also routed by VirtualService default/b-old, which wins (accepted first, then by namespace/name); this VirtualService is ignored for that host',
      ],
    ]);
    // Without timestamps, namespace/name decides.
    const a = vs('a', { hosts: ['reviews'], http: [{ route: [to('reviews')] }] });
    const b = vs('b', { hosts: ['reviews'], http: [{ route: [to('reviews')] }] });
    expect(run([svc('reviews'), b, a]).map((f) => f[2])).toEqual(['VirtualService default/b']);
  });

  it('warns about rules after a catch-all and notes repeated matches', () => {
    const found = run([
      svc('reviews'),
      vs('r', {
        hosts: ['reviews'],
        http: [
          { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [to('reviews')] },
          {
            match: [{ headers: { 'end-user': { exact: 'jason' } } }, { uri: { prefix: '/x' } }],
            route: [to('reviews')],
          },
          { match: [{ uri: { prefix: '/' } }], route: [to('reviews')] },
          { route: [to('reviews')] },
        ],
      }),
    ]);
    expect(found).toEqual([
      [
        'info',
        'IST0131',
        'VirtualService default/r',
        'spec.http[1].match[0]',
        'this match is never used: it repeats http[0].match[0]',
      ],
      [
        'warning',
        'IST0130',
        'VirtualService default/r',
        'spec.http[3]',
        'this rule is never used: rule http[2] before it matches every request',
      ],
    ]);
  });

  it('warns about a fault without a percentage', () => {
    const found = run([
      svc('ratings'),
      vs('r', {
        hosts: ['ratings'],
        http: [{ fault: { delay: { fixedDelay: '7s' } }, route: [to('ratings')] }],
      }),
    ]);
    expect(found).toEqual([
      [
        'warning',
        'TSM0003',
        'VirtualService default/r',
        'spec.http[0].fault.delay',
        'the delay has no percentage, so it affects no request; set percentage.value (0 to 100)',
      ],
    ]);
  });

  it('warns about a subset whose labels select none of the declared workloads', () => {
    const found = run([svc('reviews'), deploy('reviews', 'v1'), dr('reviews', ['v1', 'v4'])]);
    expect(found).toEqual([
      [
        'warning',
        'IST0173',
        'DestinationRule default/reviews',
        'spec.subsets[1]',
        'subset "v4" (version=v4) selects none of the 1 declared workloads of reviews.default.svc.cluster.local; requests to it get 503 UH',
      ],
    ]);
  });

  it('warns about two mesh-wide PeerAuthentications and about istio-system shadowed by the root namespace', () => {
    const pa = (name: string, ns: string, ts: string) => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name, namespace: ns, creationTimestamp: ts },
      spec: { mtls: { mode: 'STRICT' } },
    });
    const found = run([
      pa('b', 'tsmesh-system', '2024-01-01T00:00:00Z'),
      pa('a', 'tsmesh-system', '2024-06-01T00:00:00Z'),
      pa('c', 'istio-system', '2023-01-01T00:00:00Z'),
    ]);
    expect(found).toEqual([
      [
        'warning',
        'TSM0005',
        'PeerAuthentication tsmesh-system/a',
        '',
        'another mesh-wide PeerAuthentication exists: PeerAuthentication tsmesh-system/b wins (accepted first, then by name); this one is ignored',
      ],
      [
        'warning',
        'TSM0006',
        'PeerAuthentication istio-system/c',
        '',
        'the mesh-wide PeerAuthentication in tsmesh-system takes precedence over this one in istio-system',
      ],
    ]);
  });

  it('reports several Sidecars without a workloadSelector in one namespace', () => {
    const sc = (name: string) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Sidecar',
      metadata: { name, namespace: 'foo' },
      spec: { egress: [{ hosts: ['./*'] }] },
    });
    expect(run([sc('a'), sc('b')]).map((f) => `${f[1]} ${f[2]}`)).toEqual([
      'IST0111 Sidecar foo/a',
      'IST0111 Sidecar foo/b',
    ]);
  });

  it('warns about a principal written with the spiffe:// scheme', () => {
    const ap = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'p' },
      spec: {
        rules: [
          {
            from: [
              {
                source: {
                  principals: ['cluster.local/ns/a/sa/b', 'spiffe://cluster.local/ns/default/sa/sleep'],
                },
              },
            ],
          },
        ],
      },
    };
    expect(run([ap])).toEqual([
      [
        'warning',
        'TSM0009',
        'AuthorizationPolicy default/p',
        'spec.rules[0].from[0].source.principals[1]',
        '"spiffe://cluster.local/ns/default/sa/sleep" never matches: principals are written without the scheme, as "cluster.local/ns/default/sa/sleep"',
      ],
    ]);
  });

  it('warns about a second MeshConfig and names the one in use', () => {
    const mc = (name: string) => ({
      apiVersion: 'tsmesh.dev/v1alpha1',
      kind: 'MeshConfig',
      metadata: { name, namespace: 'tsmesh-system' },
      spec: {},
    });
    expect(run([mc('b'), mc('a')])).toEqual([
      [
        'warning',
        'TSM0010',
        'MeshConfig tsmesh-system/b',
        '',
        'MeshConfig tsmesh-system/a is used (accepted first, then by namespace/name); this one is ignored',
      ],
    ]);
  });

  it('notes a Service port whose name says no protocol', () => {
    const s = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db' },
      spec: {
        ports: [
          { name: 'http-web', port: 80 },
          { name: 'web', port: 81 },
          { name: 'x', port: 82, appProtocol: 'http' },
        ],
      },
    };
    expect(run([s])).toEqual([
      [
        'info',
        'IST0118',
        'Service default/db',
        'spec.ports[1]',
        'port "web" names no protocol; name it <protocol>[-<suffix>] (http, http2, grpc, tcp, ...) or set appProtocol, so the mesh knows its protocol',
      ],
    ]);
  });

  it('notes that hosts are not checked when the input declares no services', () => {
    const found = run([vs('r', { hosts: ['reviews'], http: [{ route: [to('reviews')] }] })]);
    expect(found).toEqual([
      [
        'info',
        'TSM0008',
        '',
        '',
        'the input declares no Service or ServiceEntry, so destination hosts were not checked',
      ],
    ]);
  });

  it('includes validation, with not-supported fields only for the bundled target', () => {
    const { objects } = parseYaml(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec:\n  host: x\n  trafficPolicy: {tls: {mode: SIMPLE}}\n',
      'dr.yaml',
    );
    expect(
      analyze(objects).map((d) => `${d.severity} ${d.code} ${d.source?.file}:${d.source?.line} ${d.path}`),
    ).toEqual(['warning TSM0001 dr.yaml:6 spec.trafficPolicy.tls.mode']);
    expect(analyze(objects, { unsupported: 'error' }).map((d) => d.severity)).toEqual(['error']);
    expect(analyze(objects, { target: 'istio' })).toEqual([]);
  });
});

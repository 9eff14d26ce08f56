import { describe, expect, it } from 'vitest';
import type { MeshObject } from '../../../lib/api/types.js';
import type { ProxyIdentity } from '../../../lib/model.js';
import { compileRoutes, route } from '../../../lib/routing/index.js';
import {
  bookinfo,
  destinationRule,
  meta,
  pod,
  proxy,
  REVIEWS_SUBSETS,
  request,
  service,
  virtualService,
} from './fixtures.js';

const toV = (subset: string) => [{ destination: { host: 'reviews.default.svc.cluster.local', subset } }];
const reviews = () => request('http://reviews.default:9080/reviews/0');

function compile(extra: MeshObject[], who: ProxyIdentity = proxy()) {
  const b = bookinfo();
  return compileRoutes(
    {
      objects: [...b.objects, destinationRule('reviews', REVIEWS_SUBSETS), ...extra],
      workloads: b.workloads,
    },
    who,
  );
}

const sleepInFoo = proxy('foo', { app: 'sleep' });

describe('visibility', () => {
  it('hides a VirtualService exported only to its own namespace from other namespaces', () => {
    const vs = virtualService('reviews', {
      hosts: ['reviews'],
      exportTo: ['.'],
      http: [{ route: toV('v2') }],
    });
    expect(route(compile([vs]), reviews()).virtualService).toBe('default/reviews');
    expect(route(compile([vs], sleepInFoo), reviews()).virtualService).toBeUndefined();
  });

  it('shows a VirtualService exported to a named namespace there', () => {
    const vs = virtualService('reviews', {
      hosts: ['reviews'],
      exportTo: ['foo'],
      http: [{ route: toV('v2') }],
    });
    expect(route(compile([vs], sleepInFoo), reviews()).virtualService).toBe('default/reviews');
  });

  it('hides a Service whose exportTo annotation excludes the caller', () => {
    const b = bookinfo();
    const hidden = service('secret');
    hidden.metadata.annotations = { 'networking.istio.io/exportTo': '.' };
    const t = compileRoutes(
      { objects: [...b.objects, hidden], workloads: [...b.workloads, pod('secret', 'v1')] },
      sleepInFoo,
    );
    expect(route(t, request('http://secret.default:9080/')).kind).toBe('passthrough');
    expect(t.services.has('secret.default.svc.cluster.local')).toBe(false);
  });

  it('ignores a DestinationRule not exported to the caller', () => {
    const dr = destinationRule('reviews-lb', {
      host: 'reviews',
      exportTo: ['.'],
      trafficPolicy: { loadBalancer: { simple: 'RANDOM' } },
    });
    const b = bookinfo();
    const t = compileRoutes({ objects: [...b.objects, dr], workloads: b.workloads }, sleepInFoo);
    expect(t.clusters.get('outbound|9080||reviews.default.svc.cluster.local')?.loadBalancer.kind).toBe(
      'LEAST_REQUEST',
    );
  });

  it('limits what a proxy sees to its Sidecar egress hosts', () => {
    const b = bookinfo();
    const sidecar: MeshObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Sidecar',
      metadata: meta('default', 'foo'),
      spec: {
        egress: [{ hosts: ['./*', 'default/ratings.default.svc.cluster.local'] }],
        outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
      },
    };
    const t = compileRoutes({ objects: [...b.objects, sidecar], workloads: b.workloads }, sleepInFoo);
    expect(t.sidecar).toBe('foo/default');
    expect(route(t, request('http://ratings.default:9080/')).kind).toBe('route');
    expect(route(t, reviews()).kind).toBe('blackhole');
  });

  it('uses the root namespace Sidecar when the namespace has none', () => {
    const b = bookinfo();
    const sidecar: MeshObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Sidecar',
      metadata: meta('default', 'tsmesh-system'),
      spec: { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } },
    };
    const t = compileRoutes({ objects: [...b.objects, sidecar], workloads: b.workloads }, sleepInFoo);
    expect(route(t, request('http://httpbin.org/')).kind).toBe('blackhole');
  });
});

describe('compile-time match conditions', () => {
  const vs = virtualService('reviews', {
    hosts: ['reviews'],
    http: [
      { match: [{ sourceLabels: { app: 'productpage' } }], route: toV('v2') },
      { match: [{ sourceNamespace: 'foo' }], route: toV('v3') },
      { route: toV('v1') },
    ],
  });
  it('applies sourceLabels to the proxy with those labels', () => {
    expect(route(compile([vs]), reviews()).chosen?.subset).toBe('v2');
  });
  it('applies sourceNamespace to proxies in that namespace', () => {
    expect(route(compile([vs], sleepInFoo), reviews()).chosen?.subset).toBe('v3');
  });
  it('skips rules whose source conditions do not hold for the proxy', () => {
    expect(route(compile([vs], proxy('bar', { app: 'other' })), reviews()).chosen?.subset).toBe('v1');
  });
});

describe('VirtualService conflicts', () => {
  const a = virtualService(
    'a',
    { hosts: ['reviews'], http: [{ route: toV('v1') }] },
    'default',
    '2024-01-02T00:00:00Z',
  );
  const b = virtualService(
    'b',
    { hosts: ['reviews'], http: [{ route: toV('v2') }] },
    'default',
    '2024-01-01T00:00:00Z',
  );
  it('lets the oldest VirtualService for a host win and reports the other', () => {
    const t = compile([a, b]);
    expect(route(t, reviews()).virtualService).toBe('default/b');
    expect(t.conflicts).toEqual([
      { host: 'reviews.default.svc.cluster.local', winner: 'default/b', ignored: ['default/a'] },
    ]);
  });
  it('breaks ties by namespace/name', () => {
    const x = virtualService('x', { hosts: ['reviews'], http: [{ route: toV('v1') }] });
    const y = virtualService('y', { hosts: ['reviews'], http: [{ route: toV('v2') }] });
    expect(route(compile([y, x]), reviews()).virtualService).toBe('default/x');
  });
});

describe('gateways', () => {
  const gateway: MeshObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: meta('bookinfo-gateway'),
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    },
  };
  const vs = virtualService('bookinfo', {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [
      {
        match: [{ uri: { exact: '/productpage' } }],
        route: [{ destination: { host: 'productpage', port: { number: 9080 } } }],
      },
    ],
  });
  const ingress: ProxyIdentity = {
    namespace: 'default',
    workload: 'ingress',
    serviceAccount: 'ingress',
    labels: { istio: 'ingressgateway' },
    mode: 'gateway',
  };

  it('routes a gateway proxy with the VirtualServices bound to its Gateway', () => {
    const d = route(compile([gateway, vs], ingress), request('http://bookinfo.example.com/productpage'));
    expect(d).toMatchObject({
      kind: 'route',
      clusterKey: 'outbound|9080||productpage.default.svc.cluster.local',
    });
  });
  it('answers 404 at the gateway for a path no bound rule serves', () => {
    expect(route(compile([gateway, vs], ingress), request('http://bookinfo.example.com/admin')).kind).toBe(
      'no-route',
    );
  });
  it('does not apply gateway-bound VirtualServices to sidecars', () => {
    expect(
      route(compile([gateway, vs]), request('http://productpage:9080/productpage')).virtualService,
    ).toBeUndefined();
  });
  it('does not route mesh services at a gateway without a bound VirtualService', () => {
    expect(route(compile([gateway], ingress), reviews()).kind).toBe('no-route');
  });
});

describe('gateway server hosts', () => {
  const gateway: MeshObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: meta('public'),
    spec: {
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.example.com'] }],
    },
  };
  const ingress: ProxyIdentity = {
    namespace: 'istio-system',
    workload: 'ingress',
    serviceAccount: 'ingress',
    labels: { istio: 'ingressgateway' },
    mode: 'gateway',
  };
  const vs = (hosts: string[]) =>
    virtualService('front', {
      hosts,
      gateways: ['default/public'],
      http: [{ route: [{ destination: { host: 'productpage', port: { number: 9080 } } }] }],
    });

  it('serves a VirtualService host the Gateway lists', () => {
    expect(
      route(compile([gateway, vs(['shop.example.com'])], ingress), request('http://shop.example.com/')).kind,
    ).toBe('route');
  });
  it('ignores a VirtualService host the Gateway does not list', () => {
    expect(
      route(compile([gateway, vs(['shop.other.org'])], ingress), request('http://shop.other.org/')).kind,
    ).toBe('no-route');
  });
  it('matches the request host against a wildcard VirtualService host', () => {
    expect(
      route(compile([gateway, vs(['*.example.com'])], ingress), request('http://a.example.com/')).kind,
    ).toBe('route');
  });
});

describe('wildcard VirtualService hosts on sidecars', () => {
  it('applies a wildcard VirtualService to services without a more specific one', () => {
    const wild = virtualService('all', {
      hosts: ['*.default.svc.cluster.local'],
      http: [{ timeout: '7s', route: [{ destination: { host: 'ratings' } }] }],
    });
    const exact = virtualService('reviews', { hosts: ['reviews'], http: [{ route: toV('v1') }] });
    const t = compile([wild, exact]);
    expect(route(t, request('http://details:9080/')).virtualService).toBe('default/all');
    expect(route(t, reviews()).virtualService).toBe('default/reviews');
  });
});

describe('mesh defaults from MeshConfig', () => {
  const meshConfig: MeshObject = {
    apiVersion: 'tsmesh.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: meta('mesh', 'tsmesh-system'),
    spec: { defaultHttpRetryPolicy: { attempts: 5, retryOn: 'gateway-error' }, defaultTimeout: '30s' },
  };
  it('uses the configured default retry policy and timeout', () => {
    const d = route(compile([meshConfig]), reviews());
    expect(d.retries).toMatchObject({ attempts: 5, source: 'mesh-default' });
    expect([...d.retries.retryOn]).toEqual(['gateway-error']);
    expect(d.timeoutMs).toBe(30000);
  });
  it('keeps a route timeout over the mesh default', () => {
    const vs = virtualService('reviews', { hosts: ['reviews'], http: [{ timeout: '1s', route: toV('v1') }] });
    expect(route(compile([meshConfig, vs]), reviews()).timeoutMs).toBe(1000);
  });
});

describe('ServiceEntry endpoints', () => {
  it('uses static endpoints with their named ports and service accounts', () => {
    const se: MeshObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: meta('vm'),
      spec: {
        hosts: ['legacy.internal'],
        location: 'MESH_INTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }],
        endpoints: [
          { address: '192.168.1.10', labels: { version: 'v1' }, serviceAccount: 'legacy' },
          { address: '192.168.1.11', ports: { http: 9000 } },
        ],
      },
    };
    const c = compile([se]).clusters.get('outbound|80||legacy.internal')!;
    expect(c.endpoints.map((e) => [e.address, e.port])).toEqual([
      ['192.168.1.10', 8080],
      ['192.168.1.11', 9000],
    ]);
    expect(c.serverIdentities).toEqual(['spiffe://cluster.local/ns/default/sa/legacy']);
  });
  it('selects workloads with a workloadSelector', () => {
    const se: MeshObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: meta('reviews-alias'),
      spec: {
        hosts: ['reviews.internal'],
        location: 'MESH_INTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }],
        workloadSelector: { labels: { app: 'reviews', version: 'v3' } } as never,
      },
    };
    const t = compile([se]);
    expect(t.clusters.get('outbound|9080||reviews.internal')!.endpoints.map((e) => e.pod)).toEqual([
      'default/reviews-v3-0',
    ]);
  });
});

describe('Sidecar selection', () => {
  const sidecar = (name: string, spec: Record<string, unknown>, ns = 'foo'): MeshObject =>
    ({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: meta(name, ns), spec }) as MeshObject;
  it('prefers the Sidecar whose workloadSelector labels match the proxy', () => {
    const b = bookinfo();
    const objects = [
      ...b.objects,
      sidecar('ns-wide', { outboundTrafficPolicy: { mode: 'ALLOW_ANY' } }),
      sidecar('sleep-only', {
        workloadSelector: { labels: { app: 'sleep' } },
        outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
      }),
    ];
    const t = compileRoutes({ objects, workloads: b.workloads }, sleepInFoo);
    expect(t.sidecar).toBe('foo/sleep-only');
    expect(route(t, request('http://example.com/')).kind).toBe('blackhole');
  });
});

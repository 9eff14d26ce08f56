import { describe, expect, it } from 'vitest';
import type { MeshObject } from '../../../lib/api/types.js';
import { compileRoutes } from '../../../lib/routing/index.js';
import { bookinfo, destinationRule, pod, proxy, service } from './fixtures.js';

const V2 = 'outbound|9080|v2|reviews.default.svc.cluster.local';
const BASE = 'outbound|9080||reviews.default.svc.cluster.local';

function clusters(extra: MeshObject[], caller = proxy()) {
  const b = bookinfo();
  return compileRoutes({ objects: [...b.objects, ...extra], workloads: b.workloads }, caller).clusters;
}

describe('cluster defaults', () => {
  const c = clusters([]).get(BASE)!;
  it('balances with LEAST_REQUEST', () => expect(c.loadBalancer).toEqual({ kind: 'LEAST_REQUEST' }));
  it('has unlimited connection pool limits', () => {
    expect(c.connectionPool).toMatchObject({
      maxConnections: 4294967295,
      http1MaxPendingRequests: 4294967295,
      http2MaxRequests: 4294967295,
    });
  });
  it('treats a limit of 0 as unset (unlimited), as Istio does', () => {
    const zero = clusters([
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: {
          connectionPool: {
            tcp: { maxConnections: 0 },
            http: { http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 },
          },
        },
      }),
    ]).get(BASE)!;
    expect(zero.connectionPool).toMatchObject({
      maxConnections: 4294967295,
      http1MaxPendingRequests: 4294967295,
      http2MaxRequests: 4294967295,
      maxRetries: 4294967295,
    });
    const three = clusters([
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: { connectionPool: { http: { maxRetries: 3 } } },
      }),
    ]);
    expect(three.get(BASE)!.connectionPool.maxRetries).toBe(3);
  });
  it('has no outlier detection', () => expect(c.outlierDetection).toBeUndefined());
  it('uses mTLS automatically to meshed endpoints', () => {
    expect(c.tls.mode).toBe('AUTO');
    expect(c.endpoints.every((e) => e.mtls)).toBe(true);
  });
  it('lists every endpoint of the service with its pod and identity', () => {
    expect(c.endpoints.map((e) => e.pod).sort()).toEqual([
      'default/reviews-v1-0',
      'default/reviews-v2-0',
      'default/reviews-v3-0',
    ]);
    expect(c.serverIdentities).toEqual(['spiffe://cluster.local/ns/default/sa/bookinfo-reviews']);
  });
});

describe('endpoints', () => {
  it('uses plaintext to an unmeshed endpoint', () => {
    const b = bookinfo();
    const legacy = pod('legacy', 'v1', 'default', { meshed: false, identity: undefined });
    const t = compileRoutes(
      { objects: [...b.objects, service('legacy')], workloads: [...b.workloads, legacy] },
      proxy(),
    );
    const c = t.clusters.get('outbound|9080||legacy.default.svc.cluster.local')!;
    expect(c.endpoints[0]).toMatchObject({ meshed: false, mtls: false });
    expect(c.serverIdentities).toEqual([]);
  });

  it('resolves a named targetPort through the container port name', () => {
    const b = bookinfo();
    const svc = service('web', 'default', [{ name: 'http', port: 80, targetPort: 'web-port' }]);
    const w = pod('web', 'v1', 'default', { ports: [{ name: 'web-port', containerPort: 8080 }] });
    const t = compileRoutes({ objects: [...b.objects, svc], workloads: [...b.workloads, w] }, proxy());
    expect(t.clusters.get('outbound|80||web.default.svc.cluster.local')!.endpoints[0].port).toBe(8080);
  });

  it('selects subset endpoints by labels', () => {
    const c = clusters([
      destinationRule('reviews', { host: 'reviews', subsets: [{ name: 'v2', labels: { version: 'v2' } }] }),
    ]);
    expect(c.get(V2)!.endpoints.map((e) => e.pod)).toEqual(['default/reviews-v2-0']);
  });
});

describe('DestinationRule policy', () => {
  it('merges a subset policy section by section over the top level', () => {
    const c = clusters([
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: {
          loadBalancer: { simple: 'ROUND_ROBIN' },
          connectionPool: { tcp: { maxConnections: 10 }, http: { http1MaxPendingRequests: 5 } },
        },
        subsets: [
          {
            name: 'v2',
            labels: { version: 'v2' },
            trafficPolicy: { connectionPool: { http: { http2MaxRequests: 7 } } },
          },
        ],
      }),
    ]);
    const v2 = c.get(V2)!;
    expect(v2.loadBalancer.kind).toBe('ROUND_ROBIN');
    // The subset's connectionPool replaces the top level's wholesale: maxConnections back to unlimited.
    expect(v2.connectionPool).toMatchObject({
      maxConnections: 4294967295,
      http1MaxPendingRequests: 4294967295,
      http2MaxRequests: 7,
    });
    expect(c.get(BASE)!.connectionPool).toMatchObject({ maxConnections: 10, http1MaxPendingRequests: 5 });
    expect(v2.destinationRule).toBe('default/reviews');
  });

  it('applies port-level settings to their port only', () => {
    const b = bookinfo();
    const objects = [
      ...b.objects.filter((o) => o.metadata.name !== 'reviews'),
      service('reviews', 'default', [
        { name: 'http', port: 9080 },
        { name: 'http-admin', port: 9090 },
      ]),
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: {
          loadBalancer: { simple: 'RANDOM' },
          portLevelSettings: [{ port: { number: 9090 }, loadBalancer: { simple: 'ROUND_ROBIN' } }],
        },
      }),
    ];
    const c = compileRoutes({ objects, workloads: b.workloads }, proxy()).clusters;
    expect(c.get(BASE)!.loadBalancer.kind).toBe('RANDOM');
    expect(c.get('outbound|9090||reviews.default.svc.cluster.local')!.loadBalancer.kind).toBe('ROUND_ROBIN');
  });

  it('resolves outlier detection with its defaults', () => {
    const c = clusters([
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } },
      }),
    ]);
    expect(c.get(BASE)!.outlierDetection).toEqual({
      consecutive5xxErrors: 3,
      consecutiveGatewayErrors: 0,
      intervalMs: 10000,
      baseEjectionTimeMs: 30000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
    });
  });

  it('reads consistent hashing on a header', () => {
    const c = clusters([
      destinationRule('reviews', {
        host: 'reviews',
        trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'X-User' } } },
      }),
    ]);
    expect(c.get(BASE)!.loadBalancer).toEqual({ kind: 'CONSISTENT_HASH', hash: { header: 'x-user' } });
  });

  it.each([
    ['DISABLE', false],
    ['ISTIO_MUTUAL', true],
  ] as const)('honours tls mode %s', (mode, mtls) => {
    const c = clusters([destinationRule('reviews', { host: 'reviews', trafficPolicy: { tls: { mode } } })]);
    expect(c.get(BASE)!.tls.mode).toBe(mode);
    expect(c.get(BASE)!.endpoints.every((e) => e.mtls === mtls)).toBe(true);
  });

  describe('lookup order', () => {
    const lb = (ns: string, simple: 'RANDOM' | 'ROUND_ROBIN' | 'PASSTHROUGH') =>
      destinationRule(
        `reviews-${ns}`,
        { host: 'reviews.default.svc.cluster.local', trafficPolicy: { loadBalancer: { simple } } },
        ns,
      );
    const caller = proxy('foo', { app: 'sleep' });
    it('prefers the client namespace', () => {
      expect(
        clusters(
          [lb('foo', 'RANDOM'), lb('default', 'ROUND_ROBIN'), lb('tsmesh-system', 'PASSTHROUGH')],
          caller,
        ).get(BASE)!.loadBalancer.kind,
      ).toBe('RANDOM');
    });
    it('then the service namespace', () => {
      expect(
        clusters([lb('default', 'ROUND_ROBIN'), lb('tsmesh-system', 'PASSTHROUGH')], caller).get(BASE)!
          .loadBalancer.kind,
      ).toBe('ROUND_ROBIN');
    });
    it('then the root namespace', () => {
      expect(clusters([lb('tsmesh-system', 'PASSTHROUGH')], caller).get(BASE)!.destinationRule).toBe(
        'tsmesh-system/reviews-tsmesh-system',
      );
    });
    it('treats istio-system as a root namespace too', () => {
      expect(clusters([lb('istio-system', 'RANDOM')], caller).get(BASE)!.destinationRule).toBe(
        'istio-system/reviews-istio-system',
      );
    });
    it('ignores DestinationRules in unrelated namespaces', () => {
      expect(clusters([lb('bar', 'RANDOM')], caller).get(BASE)!.destinationRule).toBeUndefined();
    });
  });
});

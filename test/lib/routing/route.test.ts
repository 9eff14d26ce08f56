import { describe, expect, it } from 'vitest';
import type { HTTPRoute, MeshObject } from '../../../lib/api/types.js';
import {
  compileRoutes,
  compileStringMatch,
  regexLiteralPrefix,
  route,
  testString,
} from '../../../lib/routing/index.js';
import type { RequestAttributes } from '../../../lib/routing/types.js';
import {
  bookinfo,
  destinationRule,
  proxy,
  REVIEWS_SUBSETS,
  request,
  seededRandom,
  service,
  virtualService,
} from './fixtures.js';

const SEED_VS = virtualService('reviews', {
  hosts: ['reviews'],
  http: [
    {
      name: 'jason',
      match: [{ headers: { 'end-user': { exact: 'jason' } } }],
      route: [{ destination: { host: 'reviews', subset: 'v2' } }],
    },
    {
      name: 'canary',
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
        { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
      ],
    },
  ],
});

function tableWith(...extra: MeshObject[]) {
  const b = bookinfo();
  return compileRoutes(
    {
      objects: [...b.objects, destinationRule('reviews', REVIEWS_SUBSETS), ...extra],
      workloads: b.workloads,
    },
    proxy(),
  );
}

/** A table whose reviews VirtualService has exactly these rules. */
function rules(...http: HTTPRoute[]) {
  return tableWith(virtualService('reviews', { hosts: ['reviews'], http }));
}

const toV = (subset: string): HTTPRoute['route'] => [{ destination: { host: 'reviews', subset } }];
const reviews = (overrides: Partial<RequestAttributes> = {}) =>
  request('http://reviews:9080/reviews/0', overrides);

describe('the seed 75/25 reviews example', () => {
  const table = tableWith(SEED_VS);

  it('routes end-user jason to v2', () => {
    const d = route(table, reviews({ headers: { 'end-user': 'jason' } }));
    expect(d).toMatchObject({
      kind: 'route',
      virtualService: 'default/reviews',
      ruleIndex: 0,
      ruleName: 'jason',
    });
    expect(d.chosen?.subset).toBe('v2');
    expect(d.clusterKey).toBe('outbound|9080|v2|reviews.default.svc.cluster.local');
  });

  it('does not route Jason (other case) to v2: header values are case-sensitive', () => {
    const d = route(table, reviews({ headers: { 'end-user': 'Jason' } }), () => 0);
    expect(d.ruleIndex).toBe(1);
    expect(d.chosen?.subset).toBe('v1');
  });

  it('splits 10 000 seeded requests 75/25 within 1.5 points', () => {
    const random = seededRandom(42);
    const counts: Record<string, number> = { v1: 0, v3: 0 };
    for (let i = 0; i < 10_000; i++) counts[route(table, reviews(), random).chosen!.subset!]++;
    expect(Math.abs(counts.v1 / 100 - 75)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(counts.v3 / 100 - 25)).toBeLessThanOrEqual(1.5);
  });

  it('reports every destination with its probability', () => {
    const d = route(table, reviews());
    expect(d.destinations.map((x) => [x.subset, x.probability])).toEqual([
      ['v1', 0.75],
      ['v3', 0.25],
    ]);
  });
});

describe('rule and match semantics', () => {
  it('takes the first matching rule', () => {
    const t = rules(
      { match: [{ uri: { prefix: '/' } }], route: toV('v1') },
      { match: [{ uri: { prefix: '/reviews' } }], route: toV('v2') },
    );
    expect(route(t, reviews()).chosen?.subset).toBe('v1');
  });

  it('answers 404 NR when a VirtualService exists but no rule matches', () => {
    const t = rules({ match: [{ uri: { exact: '/other' } }], route: toV('v1') });
    expect(route(t, reviews())).toMatchObject({
      kind: 'no-route',
      responseFlag: 'NR',
      virtualService: 'default/reviews',
    });
  });

  it('sends to all endpoints of the service when no VirtualService exists', () => {
    const d = route(tableWith(), reviews());
    expect(d).toMatchObject({
      kind: 'route',
      clusterKey: 'outbound|9080||reviews.default.svc.cluster.local',
    });
    expect(d.virtualService).toBeUndefined();
    expect(d.chosen?.subset).toBeUndefined();
  });

  it('requires every condition inside one match entry (AND)', () => {
    const t = rules(
      {
        match: [{ uri: { prefix: '/reviews' }, headers: { 'end-user': { exact: 'jason' } } }],
        route: toV('v2'),
      },
      { route: toV('v1') },
    );
    expect(route(t, reviews()).chosen?.subset).toBe('v1');
    expect(route(t, reviews({ headers: { 'end-user': 'jason' } })).chosen?.subset).toBe('v2');
  });

  it('accepts any match entry (OR) and reports which one matched', () => {
    const t = rules({ match: [{ uri: { exact: '/nope' } }, { method: { exact: 'GET' } }], route: toV('v2') });
    expect(route(t, reviews())).toMatchObject({ ruleIndex: 0, matchIndex: 1 });
  });

  const cases: [string, HTTPRoute['match'], Partial<RequestAttributes>, boolean][] = [
    ['exact uri', [{ uri: { exact: '/reviews/0' } }], {}, true],
    ['exact uri ignores the query string', [{ uri: { exact: '/reviews/0' } }], { query: 'x=1' }, true],
    ['prefix uri', [{ uri: { prefix: '/rev' } }], {}, true],
    ['regex uri must match the whole path', [{ uri: { regex: '/reviews' } }], {}, false],
    ['regex uri', [{ uri: { regex: '/reviews/[0-9]+' } }], {}, true],
    ['RE2 syntax (?i)', [{ uri: { regex: '(?i)/REVIEWS/0' } }], {}, true],
    ['ignoreUriCase with exact', [{ uri: { exact: '/REVIEWS/0' }, ignoreUriCase: true }], {}, true],
    ['ignoreUriCase with prefix', [{ uri: { prefix: '/REV' }, ignoreUriCase: true }], {}, true],
    [
      'ignoreUriCase does not apply to regex',
      [{ uri: { regex: '/REVIEWS/0' }, ignoreUriCase: true }],
      {},
      false,
    ],
    ['case-sensitive uri by default', [{ uri: { exact: '/REVIEWS/0' } }], {}, false],
    [
      'empty header match means present',
      [{ headers: { 'x-canary': {} } }],
      { headers: { 'x-canary': '' } },
      true,
    ],
    ['empty header match fails when absent', [{ headers: { 'x-canary': {} } }], {}, false],
    [
      'header names are lower-case',
      [{ headers: { 'End-User': { exact: 'jason' } } }],
      { headers: { 'end-user': 'jason' } },
      true,
    ],
    [
      'header prefix',
      [{ headers: { 'user-agent': { prefix: 'curl/' } } }],
      { headers: { 'user-agent': 'curl/8' } },
      true,
    ],
    [
      'header regex',
      [{ headers: { cookie: { regex: '.*user=jason.*' } } }],
      { headers: { cookie: 'a=1; user=jason' } },
      true,
    ],
    [
      'withoutHeaders negates',
      [{ withoutHeaders: { 'x-debug': {} } }],
      { headers: { 'x-debug': '1' } },
      false,
    ],
    ['withoutHeaders holds when absent', [{ withoutHeaders: { 'x-debug': {} } }], {}, true],
    ['method', [{ method: { exact: 'POST' } }], {}, false],
    ['authority', [{ authority: { prefix: 'reviews' } }], {}, true],
    ['scheme', [{ scheme: { exact: 'https' } }], {}, false],
    ['query parameter exact', [{ queryParams: { v: { exact: '2' } } }], { query: 'a=1&v=2' }, true],
    ['query parameter regex', [{ queryParams: { v: { regex: '[0-9]' } } }], { query: 'v=22' }, false],
    ['port', [{ port: 9080 }], {}, true],
    ['another port', [{ port: 9081 }], {}, false],
  ];
  it.each(cases)('%s: matched is %s', (_name, match, overrides, want) => {
    const t = rules({ match, route: toV('v2') });
    expect(route(t, reviews(overrides)).kind === 'route').toBe(want);
  });

  it('answers a catastrophic-backtracking regex (a+)+$ correctly', () => {
    const t = rules({ match: [{ headers: { 'x-a': { regex: '(a+)+$' } } }], route: toV('v2') });
    expect(route(t, reviews({ headers: { 'x-a': `${'a'.repeat(40)}!` } })).kind).toBe('no-route');
    expect(route(t, reviews({ headers: { 'x-a': 'a'.repeat(40) } })).kind).toBe('route');
  });
});

describe('weights', () => {
  it('treats weights as relative', () => {
    const t = rules({
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 1 },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 3 },
      ],
    });
    expect(route(t, reviews()).destinations.map((d) => d.probability)).toEqual([0.25, 0.75]);
    expect(route(t, reviews(), () => 0.2).chosen?.subset).toBe('v1');
    expect(route(t, reviews(), () => 0.3).chosen?.subset).toBe('v2');
  });

  it('drops weight-0 destinations', () => {
    const t = rules({
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 0 },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 100 },
      ],
    });
    const d = route(t, reviews(), () => 0);
    expect(d.destinations.map((x) => x.subset)).toEqual(['v2']);
    expect(d.chosen?.subset).toBe('v2');
  });

  it('gives a lone destination everything', () => {
    const d = route(
      rules({ route: [{ destination: { host: 'reviews', subset: 'v3' }, weight: 30 }] }),
      reviews(),
    );
    expect(d.destinations).toHaveLength(1);
    expect(d.chosen).toMatchObject({ subset: 'v3', probability: 1 });
  });
});

describe('request authority forms', () => {
  const t = tableWith();
  it.each([
    'reviews',
    'reviews:9080',
    'reviews.default',
    'reviews.default.svc',
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local.',
    'REVIEWS.Default.svc.cluster.local:9080',
  ])('resolves %s to the reviews service', (authority) => {
    expect(route(t, reviews({ authority })).service?.host).toBe('reviews.default.svc.cluster.local');
  });

  it('resolves a short name from the caller namespace, not the service namespace', () => {
    const b = bookinfo();
    const other = compileRoutes(b, proxy('foo', { app: 'sleep' }));
    expect(route(other, reviews({ authority: 'reviews' })).kind).toBe('passthrough');
    expect(route(other, reviews({ authority: 'reviews.default' })).service?.host).toBe(
      'reviews.default.svc.cluster.local',
    );
  });

  it('passes through a port the service does not expose under ALLOW_ANY', () => {
    expect(route(t, reviews({ port: 8080 })).kind).toBe('passthrough');
  });
});

describe('timeouts, retries and faults', () => {
  it('has no route timeout by default', () => {
    expect(route(rules({ route: toV('v1') }), reviews()).timeoutMs).toBeNull();
  });
  it('reads the route timeout', () => {
    expect(route(rules({ route: toV('v1'), timeout: '1.5s' }), reviews()).timeoutMs).toBe(1500);
  });
  it('treats a 0s timeout as none', () => {
    expect(route(rules({ route: toV('v1'), timeout: '0s' }), reviews()).timeoutMs).toBeNull();
  });

  it('applies the mesh default retry policy when the route sets none', () => {
    const r = route(rules({ route: toV('v1') }), reviews()).retries;
    expect(r.attempts).toBe(2);
    expect([...r.retryOn].sort()).toEqual(['cancelled', 'connect-failure', 'refused-stream', 'unavailable']);
    expect(r.retriableStatusCodes.has(503)).toBe(false);
    expect(r.backoffBaseMs).toBe(25);
  });
  it('applies the mesh default retry policy without a VirtualService too', () => {
    expect(route(tableWith(), reviews()).retries.attempts).toBe(2);
  });
  it('disables retries with attempts 0', () => {
    expect(route(rules({ route: toV('v1'), retries: { attempts: 0 } }), reviews()).retries.attempts).toBe(0);
  });
  it('disables retries with a retries block without attempts', () => {
    expect(route(rules({ route: toV('v1'), retries: { retryOn: '5xx' } }), reviews()).retries).toMatchObject({
      attempts: 0,
      source: 'disabled',
    });
  });
  it('parses retryOn tokens, bare status codes and retriable-4xx as 409', () => {
    const r = route(
      rules({
        route: toV('v1'),
        retries: {
          attempts: 3,
          perTryTimeout: '2s',
          retryOn: '5xx, retriable-4xx,503,gateway-error',
          backoff: '100ms',
        },
      }),
      reviews(),
    ).retries;
    expect(r).toMatchObject({ attempts: 3, perTryTimeoutMs: 2000, backoffBaseMs: 100, source: 'route' });
    expect([...r.retryOn].sort()).toEqual([
      '5xx',
      'gateway-error',
      'retriable-4xx',
      'retriable-status-codes',
    ]);
    expect([...r.retriableStatusCodes].sort()).toEqual([409, 503]);
  });

  it('affects no request with a fault that has no percentage', () => {
    const d = route(
      rules({ route: toV('v1'), fault: { abort: { httpStatus: 500 }, delay: { fixedDelay: '5s' } } }),
      reviews(),
    );
    expect(d.fault).toEqual({ abort: { status: 500, percent: 0 }, delay: { ms: 5000, percent: 0 } });
  });
  it('reads fault percentages', () => {
    const d = route(
      rules({
        route: toV('v1'),
        fault: {
          abort: { httpStatus: 503, percentage: { value: 12.5 } },
          delay: { fixedDelay: '100ms', percentage: { value: 100 } },
        },
      }),
      reviews(),
    );
    expect(d.fault).toEqual({ abort: { status: 503, percent: 12.5 }, delay: { ms: 100, percent: 100 } });
  });
});

describe('mirror, rewrite, redirect, direct response and header edits', () => {
  it('mirrors 100 % when no percentage is set', () => {
    const d = route(rules({ route: toV('v1'), mirror: { host: 'reviews', subset: 'v3' } }), reviews());
    expect(d.mirror).toEqual({
      host: 'reviews.default.svc.cluster.local',
      subset: 'v3',
      port: 9080,
      percent: 100,
      clusterKey: 'outbound|9080|v3|reviews.default.svc.cluster.local',
    });
  });
  it('reads mirrorPercentage', () => {
    const d = route(
      rules({ route: toV('v1'), mirror: { host: 'ratings' }, mirrorPercentage: { value: 10 } }),
      reviews(),
    );
    expect(d.mirror).toMatchObject({ host: 'ratings.default.svc.cluster.local', percent: 10 });
  });
  it('carries a prefix rewrite with the prefix it replaces', () => {
    const d = route(
      rules({ match: [{ uri: { prefix: '/reviews' } }], rewrite: { uri: '/v2/reviews' }, route: toV('v1') }),
      reviews(),
    );
    expect(d.rewrite).toEqual({ uri: '/v2/reviews', matchedPrefix: '/reviews' });
  });
  it('computes the redirect location from the request', () => {
    const d = route(rules({ redirect: { uri: '/new', redirectCode: 308 } }), reviews({ query: 'a=1' }));
    expect(d).toMatchObject({
      kind: 'redirect',
      redirect: { status: 308, location: 'http://reviews:9080/new?a=1' },
    });
  });
  it('redirects to another authority with the default 301', () => {
    const d = route(rules({ redirect: { authority: 'example.com', scheme: 'https' } }), reviews());
    expect(d.redirect).toMatchObject({ status: 301, location: 'https://example.com/reviews/0' });
  });
  it('answers with a direct response', () => {
    const d = route(rules({ directResponse: { status: 418, body: { string: 'teapot' } } }), reviews());
    expect(d).toMatchObject({ kind: 'direct-response', directResponse: { status: 418, body: 'teapot' } });
  });
  it('merges route-level and destination-level header edits', () => {
    const d = route(
      rules({
        headers: {
          request: { set: { 'X-Route': 'r' }, remove: ['x-a'] },
          response: { add: { 'x-resp': '1' } },
        },
        route: [
          {
            destination: { host: 'reviews', subset: 'v1' },
            headers: { request: { set: { 'x-dest': 'd', 'x-route': 'overridden' }, remove: ['x-b'] } },
          },
        ],
      }),
      reviews(),
    );
    expect(d.headers.request).toEqual({
      set: { 'x-route': 'overridden', 'x-dest': 'd' },
      add: {},
      remove: ['x-a', 'x-b'],
    });
    expect(d.headers.response.add).toEqual({ 'x-resp': '1' });
  });
});

describe('unknown hosts and outbound traffic policy', () => {
  it('passes unknown hosts through under ALLOW_ANY (the default)', () => {
    expect(route(tableWith(), request('http://httpbin.org/get')).kind).toBe('passthrough');
  });
  it('blackholes unknown hosts under REGISTRY_ONLY', () => {
    const mc: MeshObject = {
      apiVersion: 'tsmesh.dev/v1alpha1',
      kind: 'MeshConfig',
      metadata: { name: 'mesh', namespace: 'tsmesh-system' },
      spec: { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } },
    };
    expect(route(tableWith(mc), request('http://httpbin.org/get'))).toMatchObject({
      kind: 'blackhole',
      responseFlag: 'NR',
    });
  });
  it('routes a ServiceEntry host', () => {
    const se: MeshObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'httpbin', namespace: 'default' },
      spec: {
        hosts: ['httpbin.org'],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS',
        location: 'MESH_EXTERNAL',
      },
    };
    const t = tableWith(se);
    const d = route(t, request('http://httpbin.org/get'));
    expect(d).toMatchObject({ kind: 'route', clusterKey: 'outbound|80||httpbin.org' });
    expect(t.clusters.get('outbound|80||httpbin.org')?.endpoints[0]).toMatchObject({
      address: 'httpbin.org',
      port: 80,
      mtls: false,
    });
  });
  it('routes a VirtualService host that no service declares', () => {
    const t = tableWith(
      virtualService('alias', { hosts: ['reviews-alias.example.com'], http: [{ route: toV('v2') }] }),
    );
    expect(route(t, request('http://reviews-alias.example.com/')).chosen?.clusterKey).toBe(
      'outbound|9080|v2|reviews.default.svc.cluster.local',
    );
  });
});

describe('service-level edge cases', () => {
  it('picks the destination port from the request when the destination service has several ports', () => {
    const b = bookinfo();
    const objects = [
      ...b.objects.filter((o) => o.metadata.name !== 'reviews'),
      service('reviews', 'default', [
        { name: 'http', port: 9080 },
        { name: 'http-admin', port: 9090 },
      ]),
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [{ route: [{ destination: { host: 'reviews' } }] }],
      }),
    ];
    const t = compileRoutes({ objects, workloads: b.workloads }, proxy());
    expect(route(t, reviews({ port: 9090, authority: 'reviews:9090' })).clusterKey).toBe(
      'outbound|9090||reviews.default.svc.cluster.local',
    );
  });
});

describe('regex literal prefix pre-check', () => {
  it.each([
    ['/items/[0-9]+', '/items/'],
    ['abc', 'abc'],
    ['ab*c', 'a'],
    ['ab?c', 'a'],
    ['ab+c', 'a'],
    ['ab{2}', 'a'],
    ['a|b', ''],
    ['(?i)abc', ''],
    ['^abc', ''],
    ['\\d+', ''],
    ['.*', ''],
    ['x\u{1F600}*', 'x'],
  ])('takes %j as a safe literal prefix of %j', (pattern, prefix) => {
    expect(regexLiteralPrefix(pattern)).toBe(prefix);
  });
  it.each([
    ['ab*c', 'ac'],
    ['ab?c', 'ac'],
    ['/v[0-9]/x', '/v1/x'],
    ['foo|bar', 'bar'],
    ['\u{1F600}*', ''],
    ['\u{1F600}+', '\u{1F600}\u{1F600}'],
  ])('never rejects a value the regex %j accepts (%j)', (pattern, value) => {
    const m = compileStringMatch({ regex: pattern });
    expect(testString(m, value)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { parseYaml } from '../../lib/api/parse.js';
import { EXPLAIN_SCHEMA, explain, formatExplain, workloadsFromDeployments } from '../../lib/explain.js';

const YAML = `
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: default }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: legacy, namespace: default }
spec: { selector: { app: legacy }, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: legacy, namespace: default }
spec:
  selector: { matchLabels: { app: legacy } }
  template:
    metadata: { labels: { app: legacy }, annotations: { sidecar.istio.io/inject: "false" } }
    spec: { containers: [{ name: legacy, image: legacy, ports: [{ containerPort: 8080 }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: productpage-v1, namespace: default }
spec:
  selector: { matchLabels: { app: productpage, version: v1 } }
  template:
    metadata: { labels: { app: productpage, version: v1 } }
    spec: { serviceAccountName: bookinfo-productpage, containers: [{ name: app, image: productpage }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: sleep, namespace: foo }
spec:
  selector: { matchLabels: { app: sleep } }
  template:
    metadata: { labels: { app: sleep } }
    spec: { serviceAccountName: sleep, containers: [{ name: app, image: sleep }] }
${['v1', 'v2', 'v3']
  .map(
    (v) => `---
apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews-${v}, namespace: default }
spec:
  replicas: 2
  selector: { matchLabels: { app: reviews, version: ${v} } }
  template:
    metadata: { labels: { app: reviews, version: ${v} } }
    spec: { serviceAccountName: bookinfo-reviews, containers: [{ name: app, image: reviews, ports: [{ containerPort: 9080 }] }] }
`,
  )
  .join('')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }, { name: v3, labels: { version: v3 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
    fault: { delay: { fixedDelay: 1s, percentage: { value: 10 } } }
  - route:
    - { destination: { host: reviews, subset: v1 }, weight: 75 }
    - { destination: { host: reviews, subset: v3 }, weight: 25 }
    retries: { attempts: 3, retryOn: 5xx }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: tsmesh-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-viewer, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  rules:
  - from: [{ source: { principals: [cluster.local/ns/default/sa/bookinfo-productpage] } }]
    to: [{ operation: { methods: [GET] } }]
`;

const objects = parseYaml(YAML).objects.map((o) => o.object);
const input = { objects };

describe('workloads from Deployments', () => {
  it('derives one meshed instance per replica with its SPIFFE id', () => {
    const ws = workloadsFromDeployments(objects).filter((w) => w.workload === 'reviews-v2');
    expect(ws.map((w) => w.name)).toEqual(['reviews-v2-0', 'reviews-v2-1']);
    expect(ws[0]).toMatchObject({
      meshed: true,
      identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      labels: { version: 'v2' },
    });
  });
  it('marks a pod template with sidecar injection off as unmeshed', () => {
    const legacy = workloadsFromDeployments(objects).find((w) => w.workload === 'legacy');
    expect(legacy?.meshed).toBe(false);
    expect(legacy?.identity).toBeUndefined();
  });
});

describe('explain', () => {
  it('explains the jason route with subset, fault, mTLS mode and the allowing policy', () => {
    const r = explain(input, {
      from: 'default/productpage-v1',
      url: 'http://reviews:9080/reviews/0',
      headers: { 'End-User': 'jason' },
    });
    expect(r.schema).toBe(EXPLAIN_SCHEMA);
    expect(r.caller).toMatchObject({
      namespace: 'default',
      workload: 'productpage-v1',
      identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    });
    expect(r.route).toMatchObject({
      kind: 'route',
      virtualService: 'default/reviews',
      rule: { index: 0, name: 'jason', matchIndex: 0 },
      subsets: { v2: 1 },
      fault: { delay: { ms: 1000, percent: 10 } },
    });
    expect(r.route.destinations[0].endpoints.map((e) => e.pod)).toEqual([
      'default/reviews-v2-0',
      'default/reviews-v2-1',
    ]);
    expect(r.verdict).toMatchObject({
      outcome: 'allowed',
      status: null,
      mtls: { mode: 'STRICT', policy: 'tsmesh-system/default', level: 'mesh' },
      authorization: { allowed: true, policy: 'default/reviews-viewer', ruleIndex: 0 },
    });
  });

  it('shows the 75/25 split with its probabilities and retries as JSON-safe arrays', () => {
    const r = explain(input, { from: 'default/productpage-v1', url: 'reviews.default:9080/' });
    expect(r.route.subsets).toEqual({ v1: 0.75, v3: 0.25 });
    expect(r.route.retries).toEqual({
      attempts: 3,
      perTryTimeoutMs: null,
      retryOn: ['5xx'],
      retriableStatusCodes: [],
      backoffBaseMs: 25,
      source: 'route',
    });
    expect(JSON.parse(JSON.stringify(r))).toEqual(JSON.parse(JSON.stringify(r)));
  });

  it('uses the injected draw to pick the destination', () => {
    const r = explain(
      input,
      { from: 'default/productpage-v1', url: 'http://reviews:9080/' },
      { random: () => 0.9 },
    );
    expect(r.route.chosen?.subset).toBe('v3');
  });

  it('denies a caller the ALLOW policy does not name, naming why', () => {
    const r = explain(input, { from: 'foo/sleep', url: 'http://reviews.default:9080/reviews/0' });
    expect(r.verdict).toMatchObject({ outcome: 'denied', status: 403 });
    expect(r.verdict.authorization?.reason).toMatch(/default\/reviews-viewer/);
  });

  it('denies a method the ALLOW policy does not allow', () => {
    expect(
      explain(input, { from: 'default/productpage-v1', url: 'http://reviews:9080/', method: 'delete' })
        .verdict.outcome,
    ).toBe('denied');
  });

  it('shows the normalized path', () => {
    expect(
      explain(input, { from: 'default/productpage-v1', url: 'http://reviews:9080/a/../reviews/0#x' }).request
        .path,
    ).toBe('/reviews/0');
  });

  it('reaches an unmeshed endpoint over plaintext without policy', () => {
    const r = explain(input, { from: 'default/productpage-v1', url: 'http://legacy/' });
    expect(r.route.destinations[0].endpoints[0]).toMatchObject({
      pod: 'default/legacy-0',
      port: 8080,
      transport: 'plaintext',
      outcome: 'allowed',
    });
  });

  it('warns that an unmeshed caller bypasses mesh routing', () => {
    expect(explain(input, { from: 'default/legacy', url: 'http://reviews:9080/' }).warnings.join()).toMatch(
      /without a sidecar/,
    );
  });

  it('answers 404 NR when no rule matches and passes unknown hosts through', () => {
    const objs = objects.map((o) =>
      o.kind === 'VirtualService'
        ? {
            ...o,
            spec: {
              hosts: ['reviews'],
              http: [{ match: [{ uri: { prefix: '/x' } }], route: [{ destination: { host: 'reviews' } }] }],
            },
          }
        : o,
    );
    expect(
      explain({ objects: objs }, { from: 'default/productpage-v1', url: 'http://reviews:9080/' }).verdict,
    ).toMatchObject({
      outcome: 'no-route',
      status: 404,
      responseFlag: 'NR',
    });
    expect(
      explain(input, { from: 'default/productpage-v1', url: 'http://example.com/' }).verdict.outcome,
    ).toBe('passthrough');
  });

  it('refuses an unknown caller, listing the known ones', () => {
    expect(() => explain(input, { from: 'default/nope', url: 'http://reviews:9080/' })).toThrow(
      /unknown caller 'default\/nope'.*default\/productpage-v1/,
    );
  });

  it('refuses a URL with a control byte', () => {
    expect(() =>
      explain(input, { from: 'default/productpage-v1', url: 'http://reviews:9080/a\u0001' }),
    ).toThrow(/invalid URL/);
  });

  it('renders a readable text view', () => {
    const text = formatExplain(
      explain(input, { from: 'default/productpage-v1', url: 'http://reviews:9080/' }),
    );
    expect(text).toContain('VirtualService default/reviews, rule 1');
    expect(text).toMatch(/75 %\s+reviews\.default\.svc\.cluster\.local:9080 subset v1/);
    expect(text).toContain('server STRICT (tsmesh-system/default)');
  });
});

describe('explain from a gateway', () => {
  const gatewayYaml = `${YAML}
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ingressgateway, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: ingressgateway } }
  template:
    metadata: { labels: { istio: ingressgateway } }
    spec: { serviceAccountName: ingress, containers: [{ name: proxy, image: proxy }] }
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ['*'] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: front, namespace: default }
spec:
  hosts: ['*']
  gateways: [public]
  http: [{ match: [{ uri: { prefix: /reviews } }], route: [{ destination: { host: reviews, subset: v3, port: { number: 9080 } } }] }]
`;
  const gw = { objects: parseYaml(gatewayYaml).objects.map((o) => o.object) };

  it('routes with the VirtualServices bound to the Gateway that selects the caller', () => {
    const r = explain(gw, { from: 'istio-system/ingressgateway', url: 'http://shop.example.com/reviews/1' });
    expect(r.route).toMatchObject({ kind: 'route', virtualService: 'default/front', subsets: { v3: 1 } });
  });
  it('answers 404 at the gateway for paths no bound rule serves', () => {
    expect(
      explain(gw, { from: 'istio-system/ingressgateway', url: 'http://shop.example.com/admin' }).verdict
        .status,
    ).toBe(404);
  });
});

describe('explain failure paths', () => {
  const withExtra = (...extra: string[]) => ({
    objects: parseYaml([YAML, ...extra].join('\n---\n')).objects.map((o) => o.object),
  });

  it('reports a missing subset cluster and answers 503 UH', () => {
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: legacy, namespace: default }
spec: { hosts: [legacy], http: [{ route: [{ destination: { host: legacy, subset: v9 } }] }] }`;
    const r = explain(withExtra(vs), { from: 'default/productpage-v1', url: 'http://legacy/' });
    expect(r.warnings.join()).toMatch(
      /outbound\|80\|v9\|legacy\.default\.svc\.cluster\.local does not exist/,
    );
    expect(r.verdict).toMatchObject({ outcome: 'no-healthy-upstream', status: 503, responseFlag: 'UH' });
  });

  it('refuses plaintext to a STRICT server when a DestinationRule disables TLS', () => {
    const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews-plain, namespace: default }
spec: { host: reviews.default.svc.cluster.local, trafficPolicy: { tls: { mode: DISABLE } } }`;
    const objs = withExtra(dr).objects.filter((o) => o.metadata.name !== 'reviews' || o.kind === 'Service');
    const r = explain({ objects: objs }, { from: 'default/productpage-v1', url: 'http://reviews:9080/' });
    expect(r.route.destinations[0].endpoints[0]).toMatchObject({
      transport: 'plaintext',
      outcome: 'mtls-refused',
    });
    expect(r.verdict).toMatchObject({ outcome: 'mtls-refused', status: 503 });
  });
});

describe('explain on a TCP port', () => {
  const tcpYaml = `apiVersion: v1
kind: Service
metadata: { name: db, namespace: default }
spec: { selector: { app: db }, ports: [{ name: tcp-mysql, port: 3306 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: db, namespace: default }
spec:
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db, version: v1 } }
    spec: { serviceAccountName: db, containers: [{ name: db, image: mysql, ports: [{ containerPort: 3306 }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: app, namespace: default }
spec:
  selector: { matchLabels: { app: app } }
  template:
    metadata: { labels: { app: app } }
    spec: { serviceAccountName: app, containers: [{ name: app, image: app }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: db, namespace: default }
spec: { host: db, subsets: [{ name: v1, labels: { version: v1 } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: default }
spec: { hosts: [db], tcp: [{ route: [{ destination: { host: db, subset: v1 } }] }] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db-get-only, namespace: default }
spec:
  selector: { matchLabels: { app: db } }
  rules: [{ to: [{ operation: { methods: [GET] } }] }]
`;
  const tcp = { objects: parseYaml(tcpYaml).objects.map((o) => o.object) };

  it('routes with the tcp rules and no HTTP retries', () => {
    const r = explain(tcp, { from: 'default/app', url: 'db:3306' });
    expect(r.request.protocol).toBe('tcp');
    expect(r.route).toMatchObject({
      kind: 'route',
      virtualService: 'default/db',
      rule: { index: 0 },
      subsets: { v1: 1 },
    });
    expect(r.route.retries.attempts).toBe(0);
  });

  it('fails closed: an ALLOW rule with HTTP-only fields does not match a TCP connection', () => {
    const v = explain(tcp, { from: 'default/app', url: 'db:3306' }).verdict;
    expect(v).toMatchObject({ outcome: 'denied', status: null });
    expect(v.summary).toMatch(/^connection closed/);
  });
});

describe('explain with a Host header', () => {
  it('routes by the Host header on the URL port, as curl -H does', () => {
    const r = explain(input, {
      from: 'default/productpage-v1',
      url: 'http://10.0.0.1:9080/',
      headers: { Host: 'reviews' },
    });
    expect(r.request).toMatchObject({ authority: 'reviews', host: 'reviews', port: 9080 });
    expect(r.route.service?.host).toBe('reviews.default.svc.cluster.local');
  });
});

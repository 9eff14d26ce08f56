/**
 * Engine benchmark: routing decisions per second for a bookinfo-sized config and a generated
 * 1000-service config (5 rules each, mixed header/prefix/regex matches), plus compile time.
 * Run with `npm run bench engine`.
 */
import type { MeshObject } from '../lib/api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../lib/model.js';
import { type AuthzRequest, authorize, compileAuthorization } from '../lib/policy/authz.js';
import type { RequestAttributes, RouteTable } from '../lib/routing/index.js';
import { compileRoutes, route } from '../lib/routing/index.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CLIENT: ProxyIdentity = {
  namespace: 'default',
  workload: 'productpage-v1',
  serviceAccount: 'productpage',
  labels: { app: 'productpage', version: 'v1' },
};

function svc(name: string, ns: string): MeshObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 9080 }] },
  };
}

function pods(app: string, ns: string, versions: string[]): WorkloadInstance[] {
  return versions.map((v, i) => ({
    name: `${app}-${v}-0`,
    namespace: ns,
    workload: `${app}-${v}`,
    serviceAccount: app,
    labels: { app, version: v },
    address: `10.${i}.0.1`,
    ports: [{ name: 'http', containerPort: 9080 }],
    meshed: true,
    identity: `spiffe://cluster.local/ns/${ns}/sa/${app}`,
  }));
}

function subsets(host: string, ns: string, versions: string[]): MeshObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: host, namespace: ns },
    spec: { host, subsets: versions.map((v) => ({ name: v, labels: { version: v } })) },
  };
}

function bookinfo(): { objects: MeshObject[]; workloads: WorkloadInstance[] } {
  const objects: MeshObject[] = ['productpage', 'details', 'ratings', 'reviews'].map((s) =>
    svc(s, 'default'),
  );
  objects.push(subsets('reviews', 'default', ['v1', 'v2', 'v3']), {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: {
      hosts: ['reviews'],
      http: [
        {
          match: [{ headers: { 'end-user': { exact: 'jason' } } }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        {
          route: [
            { destination: { host: 'reviews', subset: 'v1' }, weight: 75 },
            { destination: { host: 'reviews', subset: 'v3' }, weight: 25 },
          ],
        },
      ],
    },
  });
  const workloads = [
    ...pods('productpage', 'default', ['v1']),
    ...pods('details', 'default', ['v1']),
    ...pods('ratings', 'default', ['v1']),
    ...pods('reviews', 'default', ['v1', 'v2', 'v3']),
  ];
  return { objects, workloads };
}

function generated(n: number): { objects: MeshObject[]; workloads: WorkloadInstance[] } {
  const objects: MeshObject[] = [];
  const workloads: WorkloadInstance[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `ns${i % 20}`;
    const name = `svc${i}`;
    objects.push(svc(name, ns), subsets(name, ns, ['v1', 'v2']), {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace: ns },
      spec: {
        hosts: [name],
        http: [
          {
            match: [{ headers: { 'x-user': { exact: `user-${i}` } } }],
            route: [{ destination: { host: name, subset: 'v2' } }],
          },
          {
            match: [{ uri: { prefix: `/api/v2/${i}/` } }],
            route: [{ destination: { host: name, subset: 'v2' } }],
            timeout: '2s',
          },
          {
            match: [{ uri: { regex: `/items/[0-9]+/${i}` } }],
            route: [{ destination: { host: name, subset: 'v1' } }],
          },
          {
            match: [
              { headers: { 'x-canary': { prefix: 'yes' } } },
              { queryParams: { canary: { exact: '1' } } },
            ],
            route: [{ destination: { host: name, subset: 'v2' } }],
          },
          {
            route: [
              { destination: { host: name, subset: 'v1' }, weight: 90 },
              { destination: { host: name, subset: 'v2' }, weight: 10 },
            ],
            retries: { attempts: 3, perTryTimeout: '1s', retryOn: '5xx,connect-failure' },
          },
        ],
      },
    });
    workloads.push(...pods(name, ns, ['v1', 'v2']));
  }
  return { objects, workloads };
}

function req(authority: string, path: string, headers: Record<string, string> = {}): RequestAttributes {
  return { authority, port: 9080, method: 'GET', path, query: '', headers };
}

/** CPU time of this process in ms: steadier than wall time on a shared 2-core machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function measure(table: RouteTable, requests: RequestAttributes[], ms = 1500): number {
  const random = rng(7);
  let sink = 0;
  for (let i = 0; i < 50_000; i++)
    sink += route(table, requests[i % requests.length], random).destinations.length;
  let n = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 10_000; i++, n++)
      sink += route(table, requests[n % requests.length], random).destinations.length;
    now = cpuMs();
  }
  if (sink === -1) console.log(sink);
  return n / ((now - start) / 1000);
}

/** The first (cold: regexes compiled, code not yet optimized) and later (warm) compile times. */
function timeCompile(
  input: { objects: MeshObject[]; workloads: WorkloadInstance[] },
  runs = 11,
): { cold: number; median: number; min: number; table: RouteTable } {
  let table!: RouteTable;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = cpuMs();
    table = compileRoutes(input, CLIENT);
    times.push(cpuMs() - t0);
  }
  const cold = times[0];
  const warm = times.slice(1).sort((a, b) => a - b);
  return { cold, median: warm[Math.floor(warm.length / 2)], min: warm[0], table };
}

const rows: [string, string, string][] = [];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const small = timeCompile(bookinfo(), 20);
const bookinfoRequests = [
  req('reviews:9080', '/reviews/0', { 'end-user': 'jason' }),
  req('reviews:9080', '/reviews/0'),
  req('reviews', '/reviews/1', { 'end-user': 'Jason' }),
  req('details:9080', '/details/0'),
  req('ratings.default.svc.cluster.local:9080', '/ratings/0'),
];
rows.push(['bookinfo: compile (ms, warm median)', small.median.toFixed(2), '-']);
rows.push(['bookinfo: decisions/s', fmt(measure(small.table, bookinfoRequests)), '>= 1,000,000']);

const big = generated(1000);
const large = timeCompile(big);
const r = rng(3);
const bigRequests: RequestAttributes[] = [];
for (let i = 0; i < 4096; i++) {
  const k = Math.floor(r() * 1000);
  const ns = `ns${k % 20}`;
  const authority = `svc${k}.${ns}:9080`;
  switch (i % 5) {
    case 0:
      bigRequests.push(req(authority, '/x', { 'x-user': `user-${k}` }));
      break;
    case 1:
      bigRequests.push(req(authority, `/api/v2/${k}/things`));
      break;
    case 2:
      bigRequests.push(req(authority, `/items/12345/${k}`));
      break;
    case 3:
      bigRequests.push(req(authority, '/y', { 'x-canary': 'yes-please' }));
      break;
    default:
      bigRequests.push(req(authority, '/plain/path', { 'user-agent': 'bench' }));
  }
}
rows.push(['1000 services: compile (ms, cold, first run)', large.cold.toFixed(1), '-']);
rows.push(['1000 services: compile (ms, warm median of 10)', large.median.toFixed(1), '<= 200']);
rows.push(['1000 services: compile (ms, warm best of 10)', large.min.toFixed(1), '-']);
rows.push(['1000 services: decisions/s', fmt(measure(large.table, bigRequests)), '>= 200,000']);

// Authorization: a workload with a DENY policy, two ALLOW policies and a root-namespace policy.
const policies: MeshObject[] = [
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-admin', namespace: 'default' },
    spec: { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'reviews-viewer', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'reviews' } },
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/bookinfo-productpage'] } }],
          to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/reviews/*'] } }],
        },
      ],
    },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'health', namespace: 'default' },
    spec: {
      rules: [
        {
          to: [{ operation: { paths: ['/health'] } }],
          when: [{ key: 'request.headers[x-probe]', values: ['1'] }],
        },
      ],
    },
  },
  {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-legacy', namespace: 'tsmesh-system' },
    spec: { action: 'DENY', rules: [{ from: [{ source: { namespaces: ['legacy'] } }] }] },
  },
];
const authz = compileAuthorization(policies, {
  namespace: 'default',
  labels: { app: 'reviews', version: 'v1' },
});
const authzRequests: AuthzRequest[] = [
  {
    principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    host: 'reviews:9080',
    port: 9080,
    method: 'GET',
    path: '/reviews/0',
    headers: {},
    protocol: 'http',
  },
  {
    principal: 'spiffe://cluster.local/ns/foo/sa/sleep',
    host: 'reviews:9080',
    port: 9080,
    method: 'GET',
    path: '/reviews/0',
    headers: {},
    protocol: 'http',
  },
  {
    principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    host: 'reviews:9080',
    port: 9080,
    method: 'GET',
    path: '/admin/x',
    headers: {},
    protocol: 'http',
  },
  {
    host: 'reviews:9080',
    port: 9080,
    method: 'GET',
    path: '/health',
    headers: { 'x-probe': '1' },
    protocol: 'http',
  },
];
{
  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += authorize(authz, authzRequests[i & 3]).allowed ? 1 : 0;
  let n = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < 1500) {
    for (let i = 0; i < 10_000; i++, n++) sink += authorize(authz, authzRequests[n & 3]).allowed ? 1 : 0;
    now = cpuMs();
  }
  if (sink === -1) console.log(sink);
  rows.push(['authorization: decisions/s (4 policies)', fmt(n / ((now - start) / 1000)), '-']);
}

const w = [Math.max(...rows.map((x) => x[0].length)), Math.max(...rows.map((x) => x[1].length)), 12];
console.log(`| ${'measure'.padEnd(w[0])} | ${'result'.padStart(w[1])} | goal |`);
console.log(`| ${'-'.repeat(w[0])} | ${'-'.repeat(w[1])} | --- |`);
for (const [a, b, c] of rows) console.log(`| ${a.padEnd(w[0])} | ${b.padStart(w[1])} | ${c} |`);
console.log('\nTimes are CPU time of the benchmark process (user + system).');
console.log(
  `node ${process.version}, ${big.objects.length} objects and ${big.workloads.length} workloads in the generated config`,
);

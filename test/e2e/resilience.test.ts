import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookinfoManifests, E2eMesh, objectYaml } from './helpers.js';

// Timeouts, circuit breaking and retries on bookinfo, configured at run time with tsmesh apply.
const mesh = new E2eMesh();
const REVIEWS = 'http://reviews:9080/reviews/0';
let originals: { reviewsVs: string; ratingsVs: string; reviewsDr: string };

const ratingsDelay = (seconds: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings, namespace: default }
spec:
  hosts: [ratings]
  http:
    - fault: { delay: { fixedDelay: ${seconds}s, percentage: { value: 100 } } }
      route: [{ destination: { host: ratings } }]
`;
const reviewsTo = (extra: string, subset = 'v2') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
    - route: [{ destination: { host: reviews${subset ? `, subset: ${subset}` : ''} } }]
${extra}`;

function applied(yaml: string): void {
  const res = mesh.apply(yaml);
  if (res.status !== 0) throw new Error(`apply failed: ${res.stderr}`);
}

describe('bookinfo resilience', () => {
  beforeAll(() => {
    const files = bookinfoManifests(mesh.dir);
    originals = {
      reviewsVs: objectYaml(files[0], 'VirtualService', 'reviews'),
      ratingsVs: objectYaml(files[0], 'VirtualService', 'ratings'),
      reviewsDr: objectYaml(files[0], 'DestinationRule', 'reviews'),
    };
    mesh.up(files);
  });
  afterAll(() => {
    const down = mesh.down();
    console.log(`e2e resilience.test.ts: ${mesh.elapsed()} (up, tests, down)`);
    expect(down.status).toBe(0);
  });

  it('answers 504 upstream request timeout when the route timeout expires', async () => {
    applied(ratingsDelay(2));
    applied(reviewsTo('      timeout: 0.5s\n'));
    const res = await mesh.load('sleep', { url: REVIEWS, requests: 4, concurrency: 2 });
    expect(res.statuses).toEqual({ 504: 4 });
    expect(res.bodies[0].body).toBe('upstream request timeout');
    applied(originals.reviewsVs);
    applied(originals.ratingsVs);
  });

  it('trips the circuit breaker: 503 with x-envoy-overloaded under concurrency', async () => {
    applied(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 1 }
      http: { http1MaxPendingRequests: 1, http2MaxRequests: 1, maxRequestsPerConnection: 1 }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
    - { name: v3, labels: { version: v3 } }
`);
    applied(ratingsDelay(1));
    applied(reviewsTo(''));
    const res = await mesh.load('sleep', {
      url: REVIEWS,
      requests: 20,
      concurrency: 10,
      countHeaders: ['x-envoy-overloaded'],
    });
    expect(res.statuses[503]).toBeGreaterThan(0);
    expect(res.statuses[200]).toBeGreaterThan(0);
    expect(res.headers['x-envoy-overloaded'].true).toBe(res.statuses[503]);
    applied(originals.reviewsDr);
    applied(originals.ratingsVs);
    applied(originals.reviewsVs);
  });

  it('retries hide a failing endpoint that is visible without retries', async () => {
    // reviews-v3's app dies; its sidecar still accepts connections and answers 503.
    const v3 = mesh.pod('reviews-v3');
    const app = v3.processes.find((p) => p.role === 'app')!;
    process.kill(-app.pid, 'SIGKILL');
    applied(reviewsTo('      retries: { attempts: 0 }\n', ''));
    const bare = await mesh.load('sleep', { url: REVIEWS, requests: 60, concurrency: 3 });
    expect(bare.statuses[503]).toBeGreaterThan(0);
    applied(reviewsTo('      retries: { attempts: 3, retryOn: "5xx,connect-failure,reset" }\n', ''));
    const retried = await mesh.load('sleep', { url: REVIEWS, requests: 60, concurrency: 3 });
    expect(retried.statuses).toEqual({ 200: 60 });
  });
});

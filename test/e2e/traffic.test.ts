import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall } from '../../runtime/local/admin-client.js';
import { requestTotals } from '../../runtime/local/metrics.js';
import { bookinfoManifests, E2eMesh, objectYaml, versions } from './helpers.js';

// Bookinfo through `tsmesh up`: the seed's 75/25 reviews canary and the jason rule, what the
// sidecars' metrics say about it, and a bad config that changes nothing.
const mesh = new E2eMesh();
const REVIEWS = 'http://reviews:9080/reviews/0';
const REVIEWS_V3 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v3 }
`;
/** The reviews VirtualService as synthesized (the 75/25 canary and the jason rule). */
let original: string;

/** istio_requests_total from sleep's sidecar (reporter=source) per reviews workload. */
async function sleepToReviews(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await requestTotals(mesh.state)) {
    if (
      s.pod !== 'sleep-0' ||
      s.labels.reporter !== 'source' ||
      s.labels.destination_service_name !== 'reviews'
    )
      continue;
    out[s.labels.destination_workload] = (out[s.labels.destination_workload] ?? 0) + s.value;
  }
  return out;
}

describe('bookinfo traffic', () => {
  beforeAll(() => {
    const files = bookinfoManifests(mesh.dir, { gateway: true });
    original = objectYaml(files[0], 'VirtualService', 'reviews');
    mesh.up(files);
  });
  afterAll(() => {
    const down = mesh.down();
    console.log(`e2e traffic.test.ts: ${mesh.elapsed()} (up, tests, down)`);
    expect(down.status).toBe(0);
  });

  it('splits reviews 75/25 between v1 and v2 over 1000 requests, and the metrics agree', async () => {
    const before = await sleepToReviews();
    const summary = await mesh.load('sleep', { url: REVIEWS, requests: 1000, concurrency: 8 });
    const seen = versions(summary);
    expect({ statuses: summary.statuses, errors: summary.errors }).toEqual({
      statuses: { 200: 1000 },
      errors: {},
    });
    expect(seen.v1 + seen.v2).toBe(1000);
    // 5 percentage points is more than 3.6 standard deviations of a fair 75/25 draw of 1000.
    expect(seen.v1 / 1000).toBeGreaterThan(0.7);
    expect(seen.v1 / 1000).toBeLessThan(0.8);
    const after = await sleepToReviews();
    const delta = (w: string) => (after[w] ?? 0) - (before[w] ?? 0);
    expect({ v1: delta('reviews-v1'), v2: delta('reviews-v2'), v3: delta('reviews-v3') }).toEqual({
      v1: seen.v1,
      v2: seen.v2,
      v3: 0,
    });
  });

  it('serves productpage through the ingress gateway at the URL up printed, on 127.0.0.1', async () => {
    const url = mesh.state.ingress!.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(mesh.state.ingress!.target).toMatch(
      /^tsmesh-system\/tsmesh-ingressgateway-0 10\.244\.\d+\.\d+:8080$/,
    );
    const page = await fetch(new URL('productpage?u=normal', url));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Reviewer1');
    expect((await fetch(new URL('nowhere', url))).status).toBe(404);
  });

  it('sends every request of end-user jason to v2', async () => {
    const summary = await mesh.load('sleep', {
      url: REVIEWS,
      requests: 100,
      concurrency: 4,
      headers: { 'end-user': 'jason' },
    });
    expect(versions(summary)).toEqual({ v2: 100 });
  });

  it('routes by a VirtualService applied at run time, and by the files one once re-applied', async () => {
    const applied = mesh.apply(REVIEWS_V3);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('VirtualService default/reviews configured');
    expect(applied.stdout).toMatch(/ACKed by \d+ sidecars/);
    expect(versions(await mesh.load('sleep', { url: REVIEWS, requests: 50 }))).toEqual({ v3: 50 });
    // explain and analyze see the running mesh, what was applied included.
    const explained = mesh.tsmesh('explain', '--mesh', '--from', 'default/sleep', REVIEWS);
    expect(explained.status).toBe(0);
    expect(explained.stdout).toMatch(/^verdict +served by default\/reviews-v3-0 \(mtls/m);
    const analyzed = mesh.tsmesh('analyze', '--mesh');
    expect(analyzed.status).toBe(0);
    expect(analyzed.stdout).toContain('No validation issues found');
    expect(mesh.apply(original).status).toBe(0);
    const back = versions(await mesh.load('sleep', { url: REVIEWS, requests: 100 }));
    expect(back.v3).toBeUndefined();
    expect(back.v1).toBeGreaterThan(50);
  });

  it('sends reviews to every version once its VirtualService is deleted', async () => {
    const deleted = mesh.remove(original);
    expect(deleted.stderr).toBe('');
    expect(deleted.stdout).toContain('VirtualService default/reviews deleted');
    const all = versions(await mesh.load('sleep', { url: REVIEWS, requests: 150 }));
    expect(Object.keys(all).sort()).toEqual(['v1', 'v2', 'v3']);
    expect(mesh.apply(original).status).toBe(0);
  });

  it('shows a sidecar live clusters, endpoints with their mTLS identities, and its 60 s certificate', () => {
    const clusters = mesh.tsmesh('proxy-config', 'clusters', 'sleep');
    expect(clusters.status).toBe(0);
    expect(clusters.stdout).toMatch(
      /^outbound\|9080\|v2\|reviews\.default\.svc\.cluster\.local +\S+ +9080 +v2 +http +1 /m,
    );
    const endpoints = mesh.tsmesh('proxy-config', 'endpoints', 'sleep');
    expect(endpoints.stdout).toMatch(
      /^10\.244\.\d+\.\d+:9080 +default\/reviews-v3-0 +HEALTHY +mTLS +spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-reviews /m,
    );
    const secret = JSON.parse(mesh.tsmesh('proxy-config', 'secret', 'sleep', '-o', 'json').stdout);
    expect(secret.certificate.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/sleep');
    const lifetime = Date.parse(secret.certificate.notAfter) - Date.parse(secret.certificate.notBefore);
    // 60 s TTL, NotBefore a minute in the past.
    expect(lifetime).toBeLessThanOrEqual(121_000);
    const memory = JSON.parse(mesh.tsmesh('proxy-config', 'memory', 'sleep', '-o', 'json').stdout);
    expect(memory.rssMb).toBeGreaterThan(memory.heapUsedMb);
    // The local runner starts the sidecar with the product's memory settings.
    expect(memory.settings).toMatchObject({
      MALLOC_ARENA_MAX: '2',
      GLIBC_TUNABLES: expect.stringContaining('glibc.malloc.mmap_threshold=32768'),
    });
    expect(memory.settings.NODE_OPTIONS).toContain('--max-semi-space-size=2');
    // `tsmesh proxy` keeps its old generation within 3 MB of what is live (heap-pacer.ts).
    expect(memory.heapPacer).toMatchObject({ slackMb: 3 });
    expect(mesh.tsmesh('proxy-config', 'memory', 'sleep').stdout).toMatch(/^heap pacer: slack 3 MB over /m);
    expect(mesh.tsmesh('proxy-config', 'memory', 'sleep').stdout).toMatch(/^RSS MB +PEAK RSS MB/m);
    expect(mesh.tsmesh('proxy-config', 'secret', '-n', 'legacy', 'sleep').status).toBe(4);
    expect(mesh.tsmesh('proxy-config', 'listeners', 'sleep').status).toBe(2);
  });

  it('refuses a bad config with its diagnostics and changes nothing', async () => {
    const status = async () =>
      (
        await adminCall<{ configVersion: number }>(mesh.state.controlPlane.adminSocket, {
          path: '/v1/status',
        })
      ).configVersion;
    const dumpVersion = async () =>
      (await adminCall<{ version: number }>(mesh.pod('sleep').adminSocket!, { path: '/config_dump' }))
        .version;
    const [cpBefore, sidecarBefore] = [await status(), await dumpVersion()];
    const bad = mesh.apply(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: v3 }
          weight: -5
`);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('VirtualService default/reviews');
    expect(bad.stderr).toContain('weight');
    expect(bad.stderr).toContain('nothing was changed');
    expect(await status()).toBe(cpBefore);
    expect(await dumpVersion()).toBe(sidecarBefore);
    const still = versions(await mesh.load('sleep', { url: REVIEWS, requests: 100 }));
    expect(still.v3).toBeUndefined();
    expect((still.v1 ?? 0) + (still.v2 ?? 0)).toBe(100);
  });
});

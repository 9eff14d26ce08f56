/**
 * What the example meshes do with requests, asked of the engine the sidecars run through the
 * public testing helper (tsmesh/testing).
 */
import { describe, expect, it } from 'vitest';
import { MeshTester } from '../../constructs/testing.js';
import { exampleChart } from './helpers.js';

const reviews = 'http://reviews:9080/reviews/0';

describe('bookinfo', () => {
  const mesh = MeshTester.fromChart(exampleChart('bookinfo'));

  it('routes jason to reviews v2', () => {
    expect(mesh.subset({ from: 'default/productpage', url: reviews, headers: { 'end-user': 'jason' } })).toBe(
      'v2',
    );
    const r = mesh.request({ from: 'default/productpage', url: reviews, headers: { 'end-user': 'jason' } });
    expect(r.route.rule).toMatchObject({ name: 'jason' });
  });

  it('matches the end-user header case-sensitively', () => {
    expect(
      mesh.splitOf({ from: 'default/productpage', url: reviews, headers: { 'end-user': 'Jason' } }),
    ).toEqual({ v1: 0.75, v2: 0.25 });
  });

  it('splits everyone else 75/25 between reviews v1 and v2', () => {
    expect(mesh.splitOf({ from: 'default/productpage', url: reviews })).toEqual({ v1: 0.75, v2: 0.25 });
    let v2 = 0;
    const n = 4000;
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < n; i++) {
      if (
        mesh.request({ from: 'default/productpage', url: reviews }, { random }).route.chosen?.subset === 'v2'
      )
        v2++;
    }
    expect(v2 / n).toBeGreaterThan(0.225);
    expect(v2 / n).toBeLessThan(0.275);
  });

  it('bounds calls to ratings with a timeout and retries on gateway errors', () => {
    const r = mesh.request({ from: 'default/reviews-v2', url: 'http://ratings:9080/ratings/0' });
    expect(r.route.timeoutMs).toBe(3000);
    expect(r.route.retries).toMatchObject({ attempts: 2, perTryTimeoutMs: 1000, source: 'route' });
    expect(r.route.retries.retryOn).toContain('gateway-error');
  });

  it('puts a circuit breaker on details', () => {
    const r = mesh.request({ from: 'default/productpage', url: 'http://details:9080/details/0' });
    const cluster = r.route.destinations[0].cluster;
    expect(cluster?.connectionPool).toMatchObject({ maxConnections: 10 });
    expect(cluster?.outlierDetection).toMatchObject({ consecutive5xxErrors: 5 });
  });

  it('requires mTLS everywhere', () => {
    const r = mesh.request({ from: 'default/productpage', url: 'http://details:9080/details/0' });
    expect(r.verdict.mtls?.mode).toBe('STRICT');
    expect(r.route.destinations[0].endpoints.every((e) => e.transport === 'mtls')).toBe(true);
  });

  it('lets each service call only what it needs', () => {
    const allowed = [
      ['default/productpage', 'http://details:9080/details/0'],
      ['default/productpage', reviews],
      ['default/reviews-v2', 'http://ratings:9080/ratings/0'],
      ['default/reviews-v3', 'http://ratings:9080/ratings/0'],
      ['default/sleep', 'http://productpage:9080/productpage'],
      ['default/sleep', reviews],
    ];
    for (const [from, url] of allowed)
      expect(mesh.outcome({ from, url }), `${from} → ${url}`).toBe('allowed');
    const denied = [
      ['default/details', reviews],
      ['default/ratings', 'http://details:9080/details/0'],
      ['default/sleep', 'http://ratings:9080/ratings/0'],
      ['default/sleep', 'http://details:9080/details/0'],
      ['default/reviews-v1', 'http://productpage:9080/productpage'],
    ];
    for (const [from, url] of denied) expect(mesh.outcome({ from, url }), `${from} → ${url}`).toBe('denied');
    const write = mesh.request({ from: 'default/productpage', url: reviews, method: 'DELETE' });
    expect(write.verdict).toMatchObject({ outcome: 'denied', status: 403 });
  });
});

describe('bookinfo-plain', () => {
  const mesh = MeshTester.fromChart(exampleChart('bookinfo-plain'));

  it('spreads reviews over every version and allows every caller', () => {
    const r = mesh.request({ from: 'default/sleep', url: reviews });
    expect(r.route.virtualService).toBeUndefined();
    const versions = r.route.destinations[0].endpoints.map((e) => e.labels.version).sort();
    expect(versions).toEqual(['v1', 'v2', 'v3']);
    expect(r.verdict.outcome).toBe('allowed');
    expect(r.verdict.mtls?.mode).toBe('PERMISSIVE');
  });
});

describe('httpbin', () => {
  const mesh = MeshTester.fromChart(exampleChart('httpbin'));

  it('reaches httpbin in foo from every namespace, with mTLS only from meshed callers', () => {
    const url = 'http://httpbin.foo:8000/headers';
    for (const from of ['foo/sleep', 'bar/sleep', 'legacy/sleep'])
      expect(mesh.outcome({ from, url }), from).toBe('allowed');
    const fromBar = mesh.request({ from: 'bar/sleep', url });
    expect(fromBar.route.destinations[0].endpoints[0]).toMatchObject({ transport: 'mtls', port: 8080 });
    expect(mesh.request({ from: 'legacy/sleep', url }).caller.meshed).toBe(false);
  });

  it('reaches httpbin in legacy in plaintext', () => {
    const r = mesh.request({ from: 'foo/sleep', url: 'http://httpbin.legacy:8000/ip' });
    expect(r.route.destinations[0].endpoints[0]).toMatchObject({ transport: 'plaintext', meshed: false });
  });
});

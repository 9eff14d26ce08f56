import { describe, expect, it } from 'vitest';
import type { WorkloadInstance } from '../../../lib/model.js';
import {
  serviceFacts,
  WorkloadFactsCache,
  workloadFacts,
  workloadFactsFromProxy,
} from '../../../runtime/proxy/telemetry/index.js';

describe('workload facts', () => {
  it('takes canonical service and revision from the app and version labels', () => {
    const f = workloadFacts('reviews-v2', 'default', { app: 'reviews', version: 'v2' });
    expect(f).toMatchObject({
      canonicalService: 'reviews',
      canonicalRevision: 'v2',
      app: 'reviews',
      version: 'v2',
    });
  });

  it('prefers the service.istio.io canonical labels', () => {
    const f = workloadFacts('reviews-v2', 'default', {
      app: 'reviews',
      version: 'v2',
      'service.istio.io/canonical-name': 'book-reviews',
      'service.istio.io/canonical-revision': '2.1',
    });
    expect(f).toMatchObject({ canonicalService: 'book-reviews', canonicalRevision: '2.1' });
  });

  it('falls back to the workload name and latest, and spells missing facts unknown', () => {
    const f = workloadFacts('worker', undefined, {});
    expect(f).toEqual({
      workload: 'worker',
      namespace: 'unknown',
      app: 'unknown',
      version: 'unknown',
      canonicalService: 'worker',
      canonicalRevision: 'latest',
      cluster: 'Kubernetes',
    });
  });

  it('builds the local facts from a snapshot proxy identity', () => {
    const f = workloadFactsFromProxy(
      {
        namespace: 'shop',
        workload: 'cart-v1',
        serviceAccount: 'cart',
        labels: { app: 'cart', version: 'v1' },
      },
      'east',
    );
    expect(f).toMatchObject({
      workload: 'cart-v1',
      namespace: 'shop',
      canonicalService: 'cart',
      cluster: 'east',
    });
  });

  it('returns the same object for the same endpoint instance', () => {
    const cache = new WorkloadFactsCache();
    const inst: WorkloadInstance = {
      name: 'reviews-v1-abc',
      namespace: 'default',
      workload: 'reviews-v1',
      serviceAccount: 'reviews',
      labels: { app: 'reviews', version: 'v1' },
      address: '127.0.0.1',
      ports: [{ containerPort: 9080 }],
      meshed: true,
    };
    expect(cache.of(inst)).toBe(cache.of(inst));
    expect(cache.of(inst).workload).toBe('reviews-v1');
  });

  it('splits a service FQDN into name and namespace', () => {
    expect(serviceFacts('reviews.default.svc.cluster.local')).toEqual({
      host: 'reviews.default.svc.cluster.local',
      name: 'reviews',
      namespace: 'default',
    });
    expect(serviceFacts('httpbin.org', 'egress')).toEqual({
      host: 'httpbin.org',
      name: 'httpbin.org',
      namespace: 'egress',
    });
  });
});

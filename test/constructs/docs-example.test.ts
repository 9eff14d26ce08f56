/** The composition example of docs/constructs.md, kept true. */
import { Chart, Duration, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  CanaryRoute,
  HeaderMatch,
  HttpRoute,
  Mesh,
  MeshService,
  MtlsMode,
  ServicePort,
} from '../../constructs/index.js';
import { MeshTester } from '../../constructs/testing.js';
import { TRUST_BUNDLE } from './helpers.js';

function shop() {
  const app = Testing.app();
  const chart = new Chart(app, 'shop', { disableResourceNameHashes: true });
  const mesh = new Mesh(chart, 'mesh', { trustBundle: TRUST_BUNDLE, mtls: MtlsMode.STRICT });
  const web = new MeshService(chart, 'web', {
    mesh,
    ports: [ServicePort.http(8080)],
    versions: { v1: { image: 'example/web:1', localCommand: ['node', 'build/web.js'] } },
  });
  const reviews = new MeshService(chart, 'reviews', {
    mesh,
    ports: [ServicePort.http(9080)],
    workload: { image: 'example/reviews:1', localCommand: ['node', 'build/reviews.js'] },
    versions: { v1: {}, v2: { env: { STARS: 'true' } } },
  });
  new HttpRoute(chart, 'testers', {
    service: reviews,
    match: [{ headers: [HeaderMatch.exact('end-user', 'jason')] }],
    to: [{ version: 'v2' }],
  });
  const rollout = { stable: 'v1', canary: 'v2', canaryPercent: 25, timeout: Duration.seconds(3) };
  new CanaryRoute(chart, 'rollout', { service: reviews, ...rollout });
  reviews.allowFrom(web, { methods: ['GET'] });
  return chart;
}

describe('the documented example', () => {
  const mesh = MeshTester.fromChart(shop());
  const url = 'http://reviews:9080/reviews/0';

  it('routes jason to v2 and splits everyone else 75/25 with a 3 s timeout', () => {
    expect(mesh.subset({ from: 'default/web', url, headers: { 'end-user': 'jason' } })).toBe('v2');
    expect(mesh.splitOf({ from: 'default/web', url })).toEqual({ v1: 0.75, v2: 0.25 });
    const r = mesh.request({ from: 'default/web', url });
    expect(r.route.timeoutMs).toBe(3000);
    expect(r.verdict.authorization?.policy).toBe('default/reviews');
  });

  it('denies reviews calling itself and non-GET methods', () => {
    expect(mesh.outcome({ from: 'default/reviews-v1', url })).toBe('denied');
    expect(mesh.outcome({ from: 'default/web', url, method: 'POST' })).toBe('denied');
  });
});

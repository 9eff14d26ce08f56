import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  CanaryRoute,
  HeaderMatch,
  HttpMethod,
  HttpRoute,
  MeshService,
  MtlsMode,
  ServicePort,
} from '../../constructs/index.js';
import { MeshTester } from '../../constructs/testing.js';
import { EXPLAIN_SCHEMA } from '../../lib/explain.js';
import { newMesh } from './helpers.js';

function meshChart() {
  const chart = Testing.chart();
  const mesh = newMesh(chart, { mtls: MtlsMode.STRICT });
  const port = [ServicePort.http(9080)];
  const productpage = new MeshService(chart, 'productpage', {
    mesh,
    ports: port,
    versions: { v1: { image: 'x' } },
  });
  const reviews = new MeshService(chart, 'reviews', {
    mesh,
    ports: port,
    workload: { image: 'x' },
    versions: { v1: {}, v2: {} },
  });
  new MeshService(chart, 'details', { mesh, ports: port, versions: { v1: { image: 'x' } } });
  new HttpRoute(chart, 'jason', {
    service: reviews,
    match: [{ headers: [HeaderMatch.exact('end-user', 'jason')] }],
    to: [{ version: 'v2' }],
  });
  new CanaryRoute(chart, 'canary', { service: reviews, stable: 'v1', canary: 'v2', canaryPercent: 25 });
  reviews.allowFrom(productpage, { methods: [HttpMethod.GET] });
  return chart;
}

describe('MeshTester', () => {
  const tester = MeshTester.fromChart(meshChart());
  const url = 'http://reviews:9080/reviews/0';

  it('answers with the tsmesh explain schema', () => {
    const r = tester.request({ from: 'default/productpage-v1', url, headers: { 'end-user': 'jason' } });
    expect(r.schema).toBe(EXPLAIN_SCHEMA);
    expect(r.route.rule).toMatchObject({ index: 0, name: 'jason' });
    expect(r.route.subsets).toEqual({ v2: 1 });
    expect(r.verdict).toMatchObject({ outcome: 'allowed', mtls: { mode: 'STRICT' } });
  });

  it('accepts the app name as the caller and reports the one subset', () => {
    expect(tester.subset({ from: 'default/productpage', url, headers: { 'end-user': 'jason' } })).toBe('v2');
  });

  it('reports the split of the canary', () => {
    expect(tester.splitOf({ from: 'default/productpage', url })).toEqual({ v1: 0.75, v2: 0.25 });
    expect(() => tester.subset({ from: 'default/productpage', url })).toThrow(
      /split over 2 subsets \(v1: 0.75, v2: 0.25\)/,
    );
  });

  it('follows the injected draw to pick a destination', () => {
    const low = tester.request({ from: 'default/productpage', url }, { random: () => 0.1 });
    const high = tester.request({ from: 'default/productpage', url }, { random: () => 0.9 });
    expect(low.route.chosen?.subset).toBe('v1');
    expect(high.route.chosen?.subset).toBe('v2');
  });

  it('gives the authorization verdict with the deciding policy', () => {
    const denied = tester.request({ from: 'default/details', url });
    expect(denied.verdict.outcome).toBe('denied');
    expect(denied.verdict.status).toBe(403);
    expect(tester.allows({ from: 'default/productpage', url, method: 'DELETE' })).toBe(false);
    expect(tester.allows({ from: 'default/productpage', url })).toBe(true);
  });

  it('reads the MeshConfig from the synthesized tsmesh-config', () => {
    expect(tester.objects.some((o) => o.kind === 'MeshConfig')).toBe(true);
  });

  it('fails on an unknown caller, naming the known workloads', () => {
    expect(() => tester.request({ from: 'default/nobody', url })).toThrow(/unknown caller 'default\/nobody'/);
  });
});

import { describe, expect, it } from 'vitest';
import type { MeshObject } from '../../../lib/api/types.js';
import { compileRoutes, route } from '../../../lib/routing/index.js';
import {
  bookinfo,
  destinationRule,
  proxy,
  REVIEWS_SUBSETS,
  seededRandom,
  virtualService,
} from './fixtures.js';

const b = bookinfo();
const objects: MeshObject[] = [
  ...b.objects,
  destinationRule('reviews', REVIEWS_SUBSETS),
  virtualService('reviews', {
    hosts: ['reviews'],
    http: [
      {
        match: [{ headers: { 'end-user': { exact: 'jason' } } }],
        route: [{ destination: { host: 'reviews', subset: 'v2' } }],
      },
      {
        match: [{ uri: { regex: '/r[a-z]+/[0-9]+' } }],
        route: [{ destination: { host: 'reviews', subset: 'v3' } }],
      },
      { match: [{ uri: { prefix: '/redirect' } }], redirect: { uri: '/elsewhere' } },
      {
        route: [
          { destination: { host: 'reviews', subset: 'v1' }, weight: 60 },
          { destination: { host: 'reviews', subset: 'v2' }, weight: 30 },
          { destination: { host: 'reviews', subset: 'v3' }, weight: 10 },
        ],
      },
    ],
  }),
];
const table = compileRoutes({ objects, workloads: b.workloads }, proxy());

const AUTHORITIES = [
  'reviews',
  'reviews:9080',
  'REVIEWS.default',
  'ratings.default.svc.cluster.local.',
  'x',
  '[::1]:9080',
  ':',
  '',
  'a:b:c',
  'reviews:99999',
];
const PATHS = ['/', '/reviews/1', '/redirect/x', '/rX/1', '/r/'];
const USERS = [undefined, 'jason', 'Jason', ''];

describe('routing invariants over generated requests', () => {
  it('always answers, with probabilities summing to one and the chosen destination among them', () => {
    const random = seededRandom(99);
    for (let i = 0; i < 3000; i++) {
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
      const d = route(
        table,
        {
          authority: pick(AUTHORITIES),
          port: pick([9080, 80, 0]),
          method: pick(['GET', 'POST']),
          path: pick(PATHS),
          headers: { 'end-user': pick(USERS) },
        },
        random,
      );
      expect(['route', 'redirect', 'direct-response', 'no-route', 'passthrough', 'blackhole']).toContain(
        d.kind,
      );
      if (d.kind === 'route') {
        const sum = d.destinations.reduce((s, x) => s + x.probability, 0);
        expect(sum).toBeCloseTo(1, 9);
        expect(d.destinations).toContain(d.chosen);
        expect(d.clusterKey).toBe(d.chosen?.clusterKey);
        expect(table.clusters.has(d.clusterKey!)).toBe(true);
      }
    }
  });

  it('gives the same decision for the same request and draw', () => {
    const req = { authority: 'reviews:9080', port: 9080, method: 'GET', path: '/', headers: {} };
    for (const draw of [0, 0.3, 0.65, 0.95])
      expect(route(table, req, () => draw)).toBe(route(table, req, () => draw));
  });

  it('does not change the shared decision objects it returns', () => {
    const req = {
      authority: 'reviews:9080',
      port: 9080,
      method: 'GET',
      path: '/redirect/a',
      headers: {},
      query: 'q=1',
    };
    const first = route(table, req);
    const again = route(table, { ...req, query: 'q=2' });
    expect(first.redirect?.location).toBe('http://reviews:9080/elsewhere?q=1');
    expect(again.redirect?.location).toBe('http://reviews:9080/elsewhere?q=2');
  });
});

import { describe, expect, it } from 'vitest';
import {
  AuthorizationAction,
  AuthorizationPolicy,
  MeshService,
  ServicePort,
} from '../../constructs/index.js';
import { find, reviewsChart, synth } from './helpers.js';

function withCallers() {
  const ctx = reviewsChart(['v1']);
  const productpage = new MeshService(ctx.chart, 'productpage', {
    mesh: ctx.mesh,
    serviceAccountName: 'bookinfo-productpage',
    ports: [ServicePort.http(9080)],
    versions: { v1: { image: 'x' } },
  });
  return { ...ctx, productpage };
}

describe('AuthorizationPolicy', () => {
  it('grants with allowFrom: one ALLOW policy per service, one rule per grant', () => {
    const { chart, reviews, productpage } = withCallers();
    reviews.allowFrom(productpage, { methods: ['GET'], paths: ['/reviews/*'] });
    reviews.allowFromNamespaces(['monitoring'], { ports: [9080] });
    const policy = find(synth(chart), 'AuthorizationPolicy', 'reviews', 'default');
    expect(policy.spec).toEqual({
      selector: { matchLabels: { app: 'reviews' } },
      action: 'ALLOW',
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/bookinfo-productpage'] } }],
          to: [{ operation: { methods: ['GET'], paths: ['/reviews/*'] } }],
        },
        {
          from: [{ source: { principals: ['cluster.local/ns/monitoring/sa/*'] } }],
          to: [{ operation: { ports: ['9080'] } }],
        },
      ],
    });
  });

  it('emits DENY, AUDIT and allow-nothing policies with sources, operations and conditions', () => {
    const { chart, mesh, reviews, productpage } = withCallers();
    new AuthorizationPolicy(chart, 'deny-delete', {
      mesh,
      service: reviews,
      action: AuthorizationAction.DENY,
      rules: [
        {
          from: [{ principals: [productpage], notNamespaces: ['kube-system'] }],
          to: [{ methods: ['DELETE'], notPaths: ['/health'] }],
          when: [{ key: 'request.headers[x-token]', notValues: ['admin'] }],
        },
      ],
    });
    AuthorizationPolicy.allowNothing(chart, 'lockdown', { mesh, namespace: 'default' });
    const out = synth(chart);
    expect(find(out, 'AuthorizationPolicy', 'deny-delete').spec).toEqual({
      action: 'DENY',
      selector: { matchLabels: { app: 'reviews' } },
      rules: [
        {
          from: [
            {
              source: {
                principals: ['cluster.local/ns/default/sa/bookinfo-productpage'],
                notNamespaces: ['kube-system'],
              },
            },
          ],
          to: [{ operation: { methods: ['DELETE'], notPaths: ['/health'] } }],
          when: [{ key: 'request.headers[x-token]', notValues: ['admin'] }],
        },
      ],
    });
    expect(find(out, 'AuthorizationPolicy', 'lockdown').spec).toMatchObject({ action: 'ALLOW' });
    expect(find(out, 'AuthorizationPolicy', 'lockdown').spec.rules ?? []).toEqual([]);
  });

  it('fails on a source or operation without any condition, which would match everything', () => {
    const { chart, mesh, reviews } = withCallers();
    expect(
      () =>
        new AuthorizationPolicy(chart, 'a', {
          mesh,
          service: reviews,
          rules: [{ from: [{ principals: [] }] }],
        }),
    ).toThrow(/rules\[0\]: from\[0\] sets no condition, so it would match every request/);
    expect(
      () =>
        new AuthorizationPolicy(chart, 'b', { mesh, service: reviews, rules: [{ to: [{ methods: [] }] }] }),
    ).toThrow(/rules\[0\]: to\[0\] sets no condition/);
  });

  it('fails on lower-case methods, bad paths, CUSTOM and empty grants', () => {
    const { chart, mesh, reviews, productpage } = withCallers();
    expect(() => reviews.allowFrom(productpage, { methods: ['get'] })).toThrow(
      /allowFrom methods must be upper-case HTTP methods/,
    );
    expect(() => reviews.allowFrom(productpage, { paths: ['/a*b'] })).toThrow(
      /paths must be exact, 'prefix\*', '\*suffix' or '\*', got "\/a\*b"/,
    );
    expect(() => reviews.allowFrom([])).toThrow(/allowFrom needs at least one principal/);
    expect(() => reviews.allowFrom(productpage, { methods: [] })).toThrow(
      /allowFrom methods is empty, which would allow every value/,
    );
    expect(
      () => new AuthorizationPolicy(chart, 'c', { mesh, action: 'CUSTOM' as AuthorizationAction }),
    ).toThrow(/CUSTOM is not supported/);
    expect(
      () => new AuthorizationPolicy(chart, 'd', { mesh, rules: [{ to: [{ methods: ['post'] }] }] }),
    ).toThrow(/methods are upper case, got "post"/);
  });
});

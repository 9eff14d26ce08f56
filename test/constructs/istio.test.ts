import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { istio } from '../../constructs/index.js';
import { find, synth } from './helpers.js';

describe('istio L1 classes', () => {
  it('emit each Istio kind with its group and version and the spec as given', () => {
    const chart = Testing.chart();
    new istio.VirtualService(chart, 'vs', {
      metadata: { name: 'reviews' },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] },
    });
    new istio.DestinationRule(chart, 'dr', {
      metadata: { name: 'reviews' },
      spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
    });
    new istio.Gateway(chart, 'gw', {
      metadata: { name: 'gw' },
      spec: { selector: { istio: 'ingressgateway' }, servers: [] },
    });
    new istio.ServiceEntry(chart, 'se', { metadata: { name: 'se' }, spec: { hosts: ['x.org'] } });
    new istio.Sidecar(chart, 'sc', { metadata: { name: 'default' }, spec: { egress: [{ hosts: ['./*'] }] } });
    new istio.PeerAuthentication(chart, 'pa', {
      metadata: { name: 'default' },
      spec: { mtls: { mode: 'STRICT' } },
    });
    new istio.AuthorizationPolicy(chart, 'ap', {
      metadata: { name: 'allow-all' },
      spec: { action: 'ALLOW', rules: [{}] },
    });
    const out = synth(chart);
    expect(out.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
      'networking.istio.io/v1 VirtualService',
      'networking.istio.io/v1 DestinationRule',
      'networking.istio.io/v1 Gateway',
      'networking.istio.io/v1 ServiceEntry',
      'networking.istio.io/v1 Sidecar',
      'security.istio.io/v1 PeerAuthentication',
      'security.istio.io/v1 AuthorizationPolicy',
    ]);
    expect(find(out, 'VirtualService', 'reviews').spec.http[0].route[0].destination.subset).toBe('v1');
    expect(find(out, 'AuthorizationPolicy', 'allow-all').spec.rules).toEqual([{}]);
    expect(istio.Sidecar.GVK).toEqual({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar' });
  });
});

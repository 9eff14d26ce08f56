import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { IngressGateway, MeshTarget, PathMatch } from '../../constructs/index.js';
import { all, find, newMesh, reviewsChart, synth } from './helpers.js';

describe('IngressGateway', () => {
  it('runs the proxy in gateway mode with a Service, a Gateway and a bound VirtualService', () => {
    const { chart, mesh, reviews } = reviewsChart(['v1']);
    const gateway = new IngressGateway(chart, 'ingress', { mesh });
    gateway.addRoute('reviews-public', {
      service: reviews,
      match: [{ path: PathMatch.prefix('/reviews') }],
      port: 9080,
    });
    reviews.allowFrom(gateway);
    const out = synth(chart);
    const d = find(out, 'Deployment', 'tsmesh-ingressgateway', 'tsmesh-system');
    const proxy = d.spec.template.spec.containers[0];
    expect(proxy).toMatchObject({ name: 'tsmesh-proxy', args: ['proxy', '--gateway'] });
    expect(proxy.ports[0]).toEqual({ name: 'http2', containerPort: 8080, protocol: 'TCP' });
    expect(d.spec.template.metadata.labels).toEqual({
      app: 'tsmesh-ingressgateway',
      istio: 'ingressgateway',
    });
    expect(d.spec.template.spec.initContainers).toBeUndefined();
    expect(find(out, 'Service', 'tsmesh-ingressgateway').spec).toMatchObject({
      type: 'LoadBalancer',
      ports: [{ port: 80, targetPort: 8080, name: 'http2' }],
    });
    expect(find(out, 'Gateway', 'tsmesh-ingressgateway').spec).toEqual({
      selector: { istio: 'ingressgateway' },
      servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    });
    expect(find(out, 'VirtualService', 'reviews-public', 'default').spec).toEqual({
      hosts: ['*'],
      gateways: ['tsmesh-system/tsmesh-ingressgateway'],
      http: [
        {
          name: 'reviews-public',
          match: [{ uri: { prefix: '/reviews' } }],
          route: [{ destination: { host: 'reviews.default.svc.cluster.local', port: { number: 9080 } } }],
        },
      ],
    });
    expect(find(out, 'AuthorizationPolicy', 'reviews').spec.rules[0].from[0].source.principals).toEqual([
      'cluster.local/ns/tsmesh-system/sa/tsmesh-ingressgateway',
    ]);
  });

  it('uses Istio’s own gateway with the istio target', () => {
    const { chart, mesh, reviews } = reviewsChart(['v1'], { target: MeshTarget.ISTIO });
    const gateway = new IngressGateway(chart, 'ingress', { mesh });
    gateway.addRoute('r', { service: reviews });
    const out = synth(chart);
    expect(all(out, 'Deployment').map((d) => d.metadata.name)).toEqual(['reviews-v1']);
    expect(find(out, 'Gateway', 'istio-ingressgateway', 'istio-system')).toBeDefined();
    expect(gateway.principals).toEqual([
      'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account',
    ]);
  });

  it('fails on a bad port', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    expect(
      () => new IngressGateway(chart, 'h', { mesh, serviceType: kplus.ServiceType.EXTERNAL_NAME }),
    ).toThrow(/serviceType must be one of ClusterIP, NodePort, LoadBalancer, got "ExternalName"/);
    expect(() => new IngressGateway(chart, 'g', { mesh, port: 0 })).toThrow(
      /port must be a port number between 1 and 65535, got 0/,
    );
  });
});

import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { HttpRoute, MeshService, ServicePort } from '../../constructs/index.js';
import { all, find, newMesh, reviewsChart, synth } from './helpers.js';

describe('MeshService', () => {
  it('emits a ServiceAccount, a Service with named ports and appProtocol, and one Deployment per version', () => {
    const { chart } = reviewsChart(['v1', 'v2']);
    const out = synth(chart);
    expect(find(out, 'ServiceAccount', 'bookinfo-reviews', 'default')).toMatchObject({
      automountServiceAccountToken: false,
    });
    expect(find(out, 'Service', 'reviews').spec).toEqual({
      selector: { app: 'reviews' },
      ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' }],
    });
    expect(all(out, 'Deployment').map((d) => d.metadata.name)).toEqual([
      'tsmesh-control-plane',
      'reviews-v1',
      'reviews-v2',
    ]);
    const v2 = find(out, 'Deployment', 'reviews-v2');
    expect(v2.metadata.labels).toEqual({ app: 'reviews', version: 'v2' });
    expect(v2.spec.selector).toEqual({ matchLabels: { app: 'reviews', version: 'v2' } });
    expect(v2.spec.template.metadata.labels).toEqual({ app: 'reviews', version: 'v2' });
    expect(v2.spec.template.metadata.annotations['tsmesh.dev/local-command']).toBe(
      '{"reviews":["node","reviews.js"]}',
    );
    const app = v2.spec.template.spec.containers.find((c: any) => c.name === 'reviews');
    expect(app).toMatchObject({
      image: 'example/reviews:1',
      env: [{ name: 'PORT', value: '9080' }],
      ports: [{ containerPort: 9080, name: 'http' }],
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
      securityContext: { runAsUser: 1000, runAsNonRoot: true, readOnlyRootFilesystem: true },
    });
    expect(v2.spec.template.spec.serviceAccountName).toBe('bookinfo-reviews');
  });

  it('names ports by protocol, maps target ports and merges version options over the service’s', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const svc = new MeshService(chart, 'api', {
      mesh,
      ports: [
        ServicePort.http(8000, { targetPort: 8080 }),
        ServicePort.grpc(9000),
        ServicePort.grpc(9001),
        ServicePort.tcp(5432),
      ],
      workload: { image: 'example/api:1', env: { A: '1', B: '1' }, replicas: 2 },
    });
    svc.addVersion('v1', { env: { B: '2' }, deploymentName: 'api' });
    const out = synth(chart);
    expect(find(out, 'Service', 'api').spec.ports).toEqual([
      { name: 'http', port: 8000, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
      { name: 'grpc-9000', port: 9000, targetPort: 9000, protocol: 'TCP', appProtocol: 'grpc' },
      { name: 'grpc-9001', port: 9001, targetPort: 9001, protocol: 'TCP', appProtocol: 'grpc' },
      { name: 'tcp', port: 5432, targetPort: 5432, protocol: 'TCP', appProtocol: 'tcp' },
    ]);
    const d = find(out, 'Deployment', 'api');
    expect(d.spec.replicas).toBe(2);
    const app = d.spec.template.spec.containers.find((c: any) => c.name === 'api');
    expect(app.env).toEqual([
      { name: 'PORT', value: '8080' },
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
  });

  it('marks unmeshed workloads with sidecar.istio.io/inject: "false" and injects nothing', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new MeshService(chart, 'legacy', {
      mesh,
      meshed: false,
      ports: [ServicePort.http(80)],
      versions: { v1: { image: 'x' } },
    });
    const d = find(synth(chart), 'Deployment', 'legacy-v1');
    expect(d.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    expect(d.spec.selector.matchLabels).toEqual({ app: 'legacy', version: 'v1' });
    expect(d.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['legacy']);
  });

  it('references a service by name and routes to it', () => {
    const chart = Testing.chart();
    newMesh(chart);
    const ratings = MeshService.fromName(chart, 'ratings', 'ratings', { versions: ['v1', 'v2'] });
    new HttpRoute(chart, 'to-v2', { service: ratings, to: [{ version: 'v2' }] });
    const out = synth(chart);
    expect(find(out, 'VirtualService', 'ratings').spec.http[0].route).toEqual([
      { destination: { host: 'ratings', subset: 'v2' } },
    ]);
    expect(ratings.host).toBe('ratings.default.svc.cluster.local');
    expect(ratings.principals).toEqual(['cluster.local/ns/default/sa/ratings']);
  });

  it('returns the cdk8s-plus Deployment of each version', () => {
    const { reviews } = reviewsChart(['v1']);
    expect(reviews.deployments.v1).toBeInstanceOf(kplus.Deployment);
  });

  it('fails when a version is declared twice', () => {
    const { reviews } = reviewsChart(['v1']);
    expect(() => reviews.addVersion('v1')).toThrow(/version 'v1' is already declared/);
  });

  it('fails when a version has no image', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const svc = new MeshService(chart, 'x', { mesh, ports: [ServicePort.http(80)] });
    expect(() => svc.addVersion('v1')).toThrow(/meshservice 'x': version 'v1' has no image/);
  });

  it('fails when two services share a service account', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new MeshService(chart, 'a', { mesh, serviceAccountName: 'shared', ports: [ServicePort.http(80)] });
    expect(
      () =>
        new MeshService(chart, 'b', { mesh, serviceAccountName: 'shared', ports: [ServicePort.http(80)] }),
    ).toThrow(/service account 'shared' in namespace 'default' is already the identity of meshservice 'a'/);
  });

  it('fails when the app would run as the sidecar’s uid 1337', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const svc = new MeshService(chart, 'x', {
      mesh,
      ports: [ServicePort.http(80)],
      workload: { image: 'x' },
    });
    expect(() => svc.addVersion('v1', { user: 1337 })).toThrow(/user must not be 1337/);
  });

  it('fails on bad names, ports and versions', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    expect(() => new MeshService(chart, 'Bad_Name', { mesh, ports: [ServicePort.http(80)] })).toThrow(
      /name must be a DNS label .* got "Bad_Name"/,
    );
    expect(() => new MeshService(chart, 'noports', { mesh, ports: [] })).toThrow(
      /ports must list at least one port/,
    );
    expect(() => ServicePort.http(70000)).toThrow(
      /port must be a port number between 1 and 65535, got 70000/,
    );
    expect(() => ServicePort.grpc(80, { name: 'http-x' })).toThrow(
      /name must be 'grpc' or start with 'grpc-'/,
    );
    const svc = new MeshService(chart, 'x', {
      mesh,
      ports: [ServicePort.http(80)],
      workload: { image: 'x' },
    });
    expect(() => svc.addVersion('V1')).toThrow(/version must be a DNS label/);
    expect(
      () => new MeshService(chart, 'dup', { mesh, ports: [ServicePort.http(80), ServicePort.tcp(80)] }),
    ).toThrow(/port 80 is declared twice/);
  });

  it('fails at synth when several versions have no default route', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new MeshService(chart, 'reviews', {
      mesh,
      ports: [ServicePort.http(9080)],
      versions: { v1: { image: 'x' }, v2: { image: 'x' } },
    });
    expect(() => synth(chart)).toThrow(/meshservice 'reviews': has versions v1, v2 and no default route/);
  });
});

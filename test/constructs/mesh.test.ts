import { Duration, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  HttpRetryEvent,
  HttpRoute,
  istio,
  Mesh,
  MeshService,
  MeshTarget,
  MtlsMode,
  MtlsPolicy,
  OutboundTrafficPolicy,
  PathNormalization,
  RetryPolicy,
  ServicePort,
} from '../../constructs/index.js';
import { CONFIG_MAP_LIMIT_BYTES, ConfigMaps } from '../../constructs/private/config-maps.js';
import { all, find, newMesh, reviewsChart, synth, TRUST_BUNDLE } from './helpers.js';

describe('Mesh', () => {
  it('emits the control plane with explicit resources, security context and only TokenReview RBAC', () => {
    const chart = Testing.chart();
    newMesh(chart);
    const out = synth(chart);
    const deployment = find(out, 'Deployment', 'tsmesh-control-plane', 'tsmesh-system');
    const container = deployment.spec.template.spec.containers[0];
    expect(container).toMatchObject({
      image: 'ghcr.io/tsmesh/tsmesh:0.1.0',
      args: [
        'control-plane',
        '--kubernetes',
        '--config',
        '/etc/tsmesh/config',
        '--ca-dir',
        '/etc/tsmesh/ca',
        '--state-dir',
        '/var/run/tsmesh',
        '--listen',
        '0.0.0.0:15012',
        '--monitoring',
        '0.0.0.0:15014',
        '--namespace',
        'tsmesh-system',
      ],
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1000m', memory: '512Mi' } },
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    });
    expect(deployment.spec.template.spec.serviceAccountName).toBe('tsmesh-control-plane');
    const role = all(out, 'ClusterRole');
    expect(role).toHaveLength(1);
    expect(role[0].rules).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    ]);
    expect(all(out, 'Role')).toHaveLength(0);
    expect(find(out, 'ClusterRoleBinding', 'tsmesh-control-plane-tsmesh-system').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'tsmesh-control-plane', namespace: 'tsmesh-system' },
    ]);
    expect(find(out, 'PodDisruptionBudget', 'tsmesh-control-plane').spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { app: 'tsmesh-control-plane' } },
    });
    expect(find(out, 'Service', 'tsmesh-control-plane').spec.ports.map((p: any) => p.port)).toEqual([
      15012, 15014,
    ]);
    expect(find(out, 'Namespace', 'tsmesh-system')).toBeDefined();
  });

  it('writes the MeshConfig document with the mesh-wide defaults under mesh.yaml', () => {
    const chart = Testing.chart();
    newMesh(chart, {
      trustDomain: 'example.org',
      outboundTrafficPolicy: OutboundTrafficPolicy.REGISTRY_ONLY,
      pathNormalization: PathNormalization.MERGE_SLASHES,
      accessLogging: false,
      traceSampling: 10,
      defaultTimeout: Duration.seconds(15),
      defaultRetryPolicy: RetryPolicy.http({
        attempts: 3,
        httpRetryEvents: [HttpRetryEvent.CONNECT_FAILURE],
      }),
    });
    const config = find(synth(chart), 'ConfigMap', 'tsmesh-config', 'tsmesh-system');
    expect(parse(config.data['mesh.yaml'])).toEqual({
      apiVersion: 'tsmesh.dev/v1alpha1',
      kind: 'MeshConfig',
      metadata: { name: 'mesh', namespace: 'tsmesh-system' },
      spec: {
        trustDomain: 'example.org',
        rootNamespace: 'tsmesh-system',
        outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
        pathNormalization: 'MERGE_SLASHES',
        accessLogging: false,
        traceSampling: 10,
        certificateTtl: '24h',
        drainDuration: '5s',
        defaultTimeout: '15s',
        defaultHttpRetryPolicy: { attempts: 3, retryOn: 'connect-failure,unavailable,cancelled' },
      },
    });
  });

  it('stores each namespace’s objects under <namespace>.yaml, Deployments trimmed and sorted', () => {
    const { chart } = reviewsChart(['v1', 'v2']);
    const config = find(synth(chart), 'ConfigMap', 'tsmesh-config');
    expect(Object.keys(config.data)).toEqual(['default.yaml', 'mesh.yaml']);
    const docs = parseAllDocuments(config.data['default.yaml']).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'ServiceAccount/bookinfo-reviews',
      'Service/reviews',
      'Deployment/reviews-v1',
      'Deployment/reviews-v2',
      'DestinationRule/reviews',
    ]);
    const deployment = docs[2];
    expect(deployment.spec.template.spec).toEqual({
      serviceAccountName: 'bookinfo-reviews',
      containers: [{ name: 'reviews', ports: [{ containerPort: 9080, name: 'http' }] }],
    });
    expect(deployment.spec.template.metadata.labels).toEqual({ app: 'reviews', version: 'v1' });
    expect(deployment.spec.selector).toEqual({ matchLabels: { app: 'reviews', version: 'v1' } });
  });

  it('emits the mesh-wide PeerAuthentication and the trust bundle in every meshed namespace', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart, { mtls: MtlsMode.STRICT });
    new MeshService(chart, 'a', {
      mesh,
      namespace: 'foo',
      ports: [ServicePort.http(80)],
      versions: { v1: { image: 'x' } },
    });
    new MeshService(chart, 'b', {
      mesh,
      namespace: 'legacy',
      meshed: false,
      ports: [ServicePort.http(80)],
      versions: { v1: { image: 'x' } },
    });
    const out = synth(chart);
    expect(find(out, 'PeerAuthentication', 'default', 'tsmesh-system').spec).toEqual({
      mtls: { mode: 'STRICT' },
    });
    const roots = all(out, 'ConfigMap').filter((c) => c.metadata.name === 'tsmesh-root-cert');
    expect(roots.map((c) => c.metadata.namespace).sort()).toEqual(['foo', 'tsmesh-system']);
    expect(roots[0].data['root-cert.pem']).toContain('-----BEGIN CERTIFICATE-----');
    expect(
      all(out, 'Namespace')
        .map((n) => n.metadata.name)
        .sort(),
    ).toEqual(['foo', 'legacy', 'tsmesh-system']);
  });

  it('synthesizes byte-identical output twice and never a private key', () => {
    const render = () => JSON.stringify(synth(reviewsChart().chart));
    const first = render();
    expect(render()).toBe(first);
    expect(first).not.toMatch(/PRIVATE KEY/);
  });

  it('shards the configuration into tsmesh-config-<n> when it outgrows one ConfigMap', () => {
    const chart = Testing.chart();
    const big = (ns: string) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'x', namespace: ns },
      spec: { ports: [{ port: 80, name: 'http-'.padEnd(400, 'a') }] },
    });
    const maps = new ConfigMaps(chart, 'cm', {
      namespace: 'tsmesh-system',
      meshConfig: () => ({ kind: 'MeshConfig' }),
      objects: () => ['a', 'b', 'c', 'd'].map(big),
      limitBytes: 1200,
    });
    const out = synth(chart);
    const names = all(out, 'ConfigMap').map((c) => c.metadata.name);
    expect(names).toEqual(maps.names());
    expect(names.length).toBeGreaterThan(1);
    expect(names[0]).toBe('tsmesh-config');
    expect(names[1]).toBe('tsmesh-config-1');
    const keys = all(out, 'ConfigMap').flatMap((c) => Object.keys(c.data));
    expect(keys.sort()).toEqual(['a.yaml', 'b.yaml', 'c.yaml', 'd.yaml', 'mesh.yaml']);
    for (const c of all(out, 'ConfigMap')) {
      const size = Object.entries(c.data as Record<string, string>).reduce(
        (n, [k, v]) => n + k.length + v.length,
        0,
      );
      expect(size).toBeLessThanOrEqual(1200);
    }
  });

  it('mounts every shard into the control plane’s config directory', () => {
    const { chart } = reviewsChart(['v1']);
    const d = find(synth(chart), 'Deployment', 'tsmesh-control-plane');
    const volume = d.spec.template.spec.volumes.find((v: any) => v.name === 'config');
    expect(volume.projected.sources).toEqual([{ configMap: { name: 'tsmesh-config' } }]);
  });

  it('fails when one namespace is larger than a ConfigMap can hold', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new istio.VirtualService(chart, 'huge', {
      metadata: { name: 'huge', namespace: 'default' },
      spec: {
        hosts: ['huge'],
        http: [
          {
            match: [{ headers: { 'x-big': { exact: 'x'.repeat(CONFIG_MAP_LIMIT_BYTES) } } }],
            route: [{ destination: { host: 'huge' } }],
          },
        ],
      },
    });
    mesh.addChart(chart);
    expect(() => synth(chart)).toThrow(/'default.yaml' holds \d+ KiB of mesh objects, more than the 900 KiB/);
  });

  it('emits no control plane and labels namespaces for injection with the istio target', () => {
    const { chart } = reviewsChart(['v1'], { target: MeshTarget.ISTIO, mtls: MtlsMode.STRICT });
    const out = synth(chart);
    expect(all(out, 'Deployment').map((d) => d.metadata.name)).toEqual(['reviews-v1']);
    expect(all(out, 'ConfigMap')).toHaveLength(0);
    expect(find(out, 'Namespace', 'default').metadata.labels).toEqual({ 'istio-injection': 'enabled' });
    expect(find(out, 'PeerAuthentication', 'default', 'istio-system').spec.mtls.mode).toBe('STRICT');
    const pod = find(out, 'Deployment', 'reviews-v1').spec.template.spec;
    expect(pod.containers.map((c: any) => c.name)).toEqual(['reviews']);
    expect(pod.initContainers).toBeUndefined();
  });

  it('carries the outbound traffic policy in a root-namespace Sidecar for the istio target', () => {
    const chart = Testing.chart();
    newMesh(chart, { target: MeshTarget.ISTIO, outboundTrafficPolicy: OutboundTrafficPolicy.REGISTRY_ONLY });
    expect(find(synth(chart), 'Sidecar', 'default', 'istio-system').spec).toEqual({
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    });
  });

  it('finds the mesh of a chart for references by name', () => {
    const { chart, mesh } = reviewsChart(['v1']);
    const other = new Mesh(new (chart.constructor as any)(Testing.app(), 'other'), 'mesh', {
      trustBundle: TRUST_BUNDLE,
    });
    expect(Mesh.of(chart)).toBe(mesh);
    expect(other).not.toBe(mesh);
  });

  it('fails at synth when a route names a subset no DestinationRule declares', () => {
    const { chart } = reviewsChart(['v1']);
    new istio.VirtualService(chart, 'ghost', {
      metadata: { name: 'ratings-ghost', namespace: 'default' },
      spec: {
        hosts: ['reviews.default.svc.cluster.local'],
        http: [{ route: [{ destination: { host: 'reviews', subset: 'v9' } }] }],
      },
    });
    expect(() => synth(chart)).toThrow(/IST0101.*v9/s);
  });

  it('fails at synth when two VirtualServices claim one host, naming the construct', () => {
    const { chart, reviews } = reviewsChart(['v1']);
    new HttpRoute(chart, 'all', { service: reviews });
    new istio.VirtualService(chart, 'rogue', {
      metadata: { name: 'reviews-rogue', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] },
    });
    expect(() => synth(chart)).toThrow(/IST0109.*\(construct test\/(rogue|reviews\/VirtualService)\)/s);
  });

  it('fails at synth when the bundled target has no trust bundle', () => {
    const chart = Testing.chart();
    new Mesh(chart, 'mesh');
    expect(() => synth(chart)).toThrow(/trustBundle is required for the bundled target/);
  });

  it('fails when the istio target is given settings of the bundled runtime', () => {
    expect(() =>
      newMesh(Testing.chart(), {
        target: MeshTarget.ISTIO,
        defaultTimeout: Duration.seconds(1),
        traceSampling: 5,
      }),
    ).toThrow(
      /defaultTimeout, traceSampling are settings of the bundled runtime; with the istio target set them in Istio's installation/,
    );
  });

  it('fails when the trust bundle holds a private key', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
    expect(() => new Mesh(Testing.chart(), 'mesh', { trustBundle: TRUST_BUNDLE + key })).toThrow(
      /trustBundle contains a private key/,
    );
  });

  it('fails when the trust bundle holds no certificate', () => {
    expect(() => new Mesh(Testing.chart(), 'mesh', { trustBundle: 'hello' })).toThrow(
      /trustBundle must hold at least one PEM certificate/,
    );
  });

  it('fails on a bad root namespace, trace sampling or target', () => {
    expect(() => newMesh(Testing.chart(), { rootNamespace: 'Tsmesh_System' })).toThrow(
      /rootNamespace must be a DNS label .* got "Tsmesh_System"/,
    );
    expect(() => newMesh(Testing.chart(), { traceSampling: 120 })).toThrow(
      /traceSampling must be between 0 and 100, got 120/,
    );
    expect(() => newMesh(Testing.chart(), { target: 'k8s' as MeshTarget })).toThrow(
      /target must be one of bundled, istio/,
    );
  });

  it('fails when two mesh-wide mTLS modes are declared', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart, { mtls: MtlsMode.STRICT });
    expect(() => new MtlsPolicy(chart, 'again', { mesh, mode: MtlsMode.PERMISSIVE })).toThrow(
      /a mesh-wide mTLS mode is already set/,
    );
  });

  it('reports analysis errors of the synthesized objects, naming object and field', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new istio.DestinationRule(chart, 'dr', {
      metadata: { name: 'x', namespace: 'default' },
      spec: { host: 'x', trafficPolicy: { tls: { mode: 'SIMPLE' } } },
    });
    mesh.addChart(chart);
    expect(() => synth(chart)).toThrow(/DestinationRule default\/x.*spec\.trafficPolicy\.tls/s);
  });
});

import { ApiObject, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { MeshService, MeshTarget, MtlsMode, ServicePort, Sidecar } from '../../constructs/index.js';
import { captureScript } from '../../lib/capture.js';
import { find, newMesh, reviewsChart, synth } from './helpers.js';

const podOf = (out: any[], name: string) => find(out, 'Deployment', name).spec.template;

describe('Sidecar', () => {
  it('adds tsmesh-init with the capture script, NET_ADMIN and NET_RAW, as root with everything else dropped', () => {
    const out = synth(reviewsChart(['v1']).chart);
    const init = podOf(out, 'reviews-v1').spec.initContainers;
    expect(init.map((c: any) => c.name)).toEqual(['tsmesh-init']);
    expect(init[0].command).toEqual([
      'sh',
      '-c',
      captureScript({
        excludeInboundPorts: ['15000-15021'],
        excludeOutboundPorts: [15006, 15012],
        excludeOutboundCidrs: [],
      }),
    ]);
    expect(init[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    });
  });

  it('puts tsmesh-proxy first with uid/gid 1337, resources, readiness on 15021, a postStart wait and identity env', () => {
    const pod = podOf(synth(reviewsChart(['v1']).chart), 'reviews-v1');
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['tsmesh-proxy', 'reviews']);
    const proxy = pod.spec.containers[0];
    expect(proxy).toMatchObject({
      args: ['proxy'],
      image: 'ghcr.io/tsmesh/tsmesh:0.1.0',
      securityContext: {
        runAsUser: 1337,
        runAsGroup: 1337,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      },
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2000m', memory: '1024Mi' } },
      readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' } },
      lifecycle: { postStart: { exec: { command: ['tsmesh', 'wait-ready', '--timeout', '60'] } } },
    });
    const env = Object.fromEntries(proxy.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      TSMESH_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      TSMESH_POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      TSMESH_POD_IP: { fieldRef: { fieldPath: 'status.podIP' } },
      TSMESH_SERVICE_ACCOUNT: { fieldRef: { fieldPath: 'spec.serviceAccountName' } },
      TSMESH_WORKLOAD: 'reviews-v1',
      TSMESH_CONTROL_PLANE: 'tsmesh-control-plane.tsmesh-system.svc:15012',
      TSMESH_TRUST_DOMAIN: 'cluster.local',
      TSMESH_TRUST_BUNDLE: { configMapKeyRef: { name: 'tsmesh-root-cert', key: 'root-cert.pem' } },
      TSMESH_TOKEN_FILE: '/var/run/secrets/tsmesh/tokens/tsmesh-token',
      TSMESH_POD_LABELS: '{"app":"reviews","version":"v1"}',
      TSMESH_POD_PORTS: '[{"name":"http","containerPort":9080,"protocol":"TCP"}]',
      NODE_OPTIONS: '--max-semi-space-size=2',
      MALLOC_ARENA_MAX: '2',
      GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=32768',
    });
    const token = pod.spec.volumes.find((v: any) => v.name === 'tsmesh-token');
    expect(token.projected.sources[0].serviceAccountToken).toEqual({
      audience: 'tsmesh-ca',
      expirationSeconds: 3600,
      path: 'tsmesh-token',
    });
    expect(pod.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '15020',
      'prometheus.io/path': '/stats/prometheus',
    });
  });

  it('rewrites the app’s probes through port 15020 under STRICT mTLS and records the originals', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart, { mtls: MtlsMode.STRICT });
    new MeshService(chart, 'details', {
      mesh,
      ports: [ServicePort.http(9080)],
      versions: {
        v1: {
          image: 'x',
          readiness: kplus.Probe.fromHttpGet('/health', { port: 9080 }),
          liveness: kplus.Probe.fromTcpSocket({ port: 9080 }),
        },
      },
    });
    const pod = podOf(synth(chart), 'details-v1');
    const app = pod.spec.containers.find((c: any) => c.name === 'details');
    expect(app.readinessProbe.httpGet).toEqual({
      path: '/app-health/details/readyz',
      port: 15020,
      scheme: 'HTTP',
    });
    expect(app.livenessProbe.httpGet).toEqual({
      path: '/app-health/details/livez',
      port: 15020,
      scheme: 'HTTP',
    });
    const probers = JSON.parse(pod.metadata.annotations['tsmesh.dev/app-probers']);
    expect(probers).toEqual({
      '/app-health/details/readyz': {
        httpGet: { path: '/health', port: 9080, scheme: 'HTTP' },
        timeoutSeconds: 1,
      },
      '/app-health/details/livez': { tcpSocket: { port: 9080 }, timeoutSeconds: 1 },
    });
    const proxy = pod.spec.containers[0];
    expect(proxy.env.find((e: any) => e.name === 'TSMESH_APP_PROBERS').value).toBe(JSON.stringify(probers));
  });

  it('leaves probes alone without STRICT mTLS', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new MeshService(chart, 'details', {
      mesh,
      ports: [ServicePort.http(9080)],
      versions: { v1: { image: 'x', readiness: kplus.Probe.fromHttpGet('/health', { port: 9080 }) } },
    });
    const pod = podOf(synth(chart), 'details-v1');
    expect(pod.spec.containers[1].readinessProbe.httpGet.path).toBe('/health');
    expect(pod.metadata.annotations['tsmesh.dev/app-probers']).toBeUndefined();
  });

  it('runs the proxy as a native sidecar when asked', () => {
    const { chart } = reviewsChart(['v1'], { sidecarDefaults: { nativeSidecar: true } });
    const pod = podOf(synth(chart), 'reviews-v1');
    expect(pod.spec.initContainers.map((c: any) => c.name)).toEqual(['tsmesh-init', 'tsmesh-proxy']);
    expect(pod.spec.initContainers[1]).toMatchObject({
      restartPolicy: 'Always',
      startupProbe: { httpGet: { path: '/healthz/ready', port: 15021 } },
    });
    expect(pod.spec.initContainers[1].lifecycle).toBeUndefined();
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['reviews']);
  });

  it('injects into any cdk8s-plus Deployment, with capture exclusions', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const worker = new kplus.Deployment(chart, 'worker', {
      metadata: { name: 'worker', namespace: 'jobs' },
      containers: [{ name: 'worker', image: 'example/worker:1', portNumber: 8080 }],
    });
    new Sidecar(chart, 'inject', {
      mesh,
      workload: worker,
      excludeOutboundCidrs: ['10.0.0.0/8'],
      excludeInboundPorts: [9090],
      holdApplicationUntilProxyStarts: false,
    });
    const out = synth(chart);
    const pod = podOf(out, 'worker');
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['tsmesh-proxy', 'worker']);
    expect(pod.spec.containers[0].lifecycle).toBeUndefined();
    expect(pod.spec.initContainers[0].command[2]).toContain('-d 10.0.0.0/8 -j RETURN');
    expect(pod.spec.initContainers[0].command[2]).toContain('--dport 9090 -j RETURN');
    expect(pod.metadata.annotations['traffic.tsmesh.dev/excludeOutboundIPRanges']).toBe('10.0.0.0/8');
    expect(find(out, 'ConfigMap', 'tsmesh-root-cert', 'jobs')).toBeDefined();
  });

  it('passes the sidecar options to Istio as injection annotations with the istio target', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart, { target: MeshTarget.ISTIO });
    const worker = new kplus.Deployment(chart, 'worker', {
      metadata: { name: 'worker' },
      containers: [{ name: 'worker', image: 'example/worker:1' }],
    });
    new Sidecar(chart, 'inject', {
      mesh,
      workload: worker,
      nativeSidecar: true,
      excludeOutboundCidrs: ['10.0.0.0/8'],
      resources: { cpu: { request: kplus.Cpu.millis(200) } },
    });
    const pod = podOf(synth(chart), 'worker');
    expect(pod.spec.containers.map((c: any) => c.name)).toEqual(['worker']);
    expect(pod.metadata.annotations).toMatchObject({
      'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts":true}',
      'sidecar.istio.io/nativeSidecar': 'true',
      'sidecar.istio.io/proxyCPU': '200m',
      'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.0.0.0/8',
    });
  });

  it('fails when a Deployment is injected twice', () => {
    const { chart, mesh, reviews } = reviewsChart(['v1']);
    expect(() => new Sidecar(chart, 'again', { mesh, workload: reviews.deployments.v1 })).toThrow(
      /already has a sidecar; inject once/,
    );
  });

  it('fails when the workload is not a Deployment', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const cm = new ApiObject(chart, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
    expect(() => new Sidecar(chart, 's', { mesh, workload: cm })).toThrow(
      /workload must be a Deployment, got ConfigMap/,
    );
  });

  it('fails on an excluded port out of range', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const d = new kplus.Deployment(chart, 'd', { containers: [{ image: 'x' }] });
    expect(() => new Sidecar(chart, 's', { mesh, workload: d, excludeOutboundPorts: [0] })).toThrow(
      /excludeOutboundPorts must be a port number between 1 and 65535, got 0/,
    );
  });
});

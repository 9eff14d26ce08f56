import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { MeshService, MtlsMode, MtlsPolicy, ServicePort } from '../../constructs/index.js';
import { find, newMesh, reviewsChart, synth } from './helpers.js';

describe('MtlsPolicy', () => {
  it('emits mesh-wide, namespace, workload and port-level PeerAuthentications', () => {
    const { chart, mesh, reviews } = reviewsChart(['v1', 'v2']);
    new MtlsPolicy(chart, 'mesh-wide', { mesh, mode: MtlsMode.PERMISSIVE });
    new MtlsPolicy(chart, 'foo', { mesh, namespace: 'foo', mode: MtlsMode.STRICT });
    new MtlsPolicy(chart, 'reviews-strict', {
      mesh,
      service: reviews,
      version: 'v2',
      mode: MtlsMode.STRICT,
      portLevel: { 9080: MtlsMode.DISABLE },
    });
    const out = synth(chart);
    expect(find(out, 'PeerAuthentication', 'default', 'tsmesh-system').spec).toEqual({
      mtls: { mode: 'PERMISSIVE' },
    });
    expect(find(out, 'PeerAuthentication', 'default', 'foo').spec).toEqual({ mtls: { mode: 'STRICT' } });
    expect(find(out, 'PeerAuthentication', 'reviews', 'default').spec).toEqual({
      selector: { matchLabels: { app: 'reviews', version: 'v2' } },
      mtls: { mode: 'STRICT' },
      portLevelMtls: { '9080': { mode: 'DISABLE' } },
    });
  });

  it('makes the sidecar rewrite probes of the workloads it makes STRICT', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new MtlsPolicy(chart, 'ns', { mesh, namespace: 'default', mode: MtlsMode.STRICT });
    new MeshService(chart, 'api', {
      mesh,
      ports: [ServicePort.http(80)],
      versions: { v1: { image: 'x', readiness: kplus.Probe.fromHttpGet('/ready', { port: 80 }) } },
    });
    const pod = find(synth(chart), 'Deployment', 'api-v1').spec.template;
    expect(pod.metadata.annotations['tsmesh.dev/app-probers']).toContain('/app-health/api/readyz');
    expect(mesh.mtlsModeFor('default', { app: 'api' })).toBe(MtlsMode.STRICT);
    expect(mesh.mtlsModeFor('other', { app: 'api' })).toBe(MtlsMode.PERMISSIVE);
  });

  it('treats a policy in the root namespace as the mesh-wide one', () => {
    const { chart, mesh } = reviewsChart(['v1']);
    new MtlsPolicy(chart, 'root', { mesh, namespace: 'tsmesh-system', mode: MtlsMode.STRICT });
    expect(mesh.mtlsModeFor('default', { app: 'reviews' })).toBe(MtlsMode.STRICT);
    expect(() => new MtlsPolicy(chart, 'again', { mesh, mode: MtlsMode.DISABLE })).toThrow(
      /a mesh-wide mTLS mode is already set/,
    );
  });

  it('fails on port-level modes without a workload, a bad mode or an unknown version', () => {
    const { chart, mesh, reviews } = reviewsChart(['v1']);
    expect(
      () =>
        new MtlsPolicy(chart, 'a', {
          mesh,
          namespace: 'x',
          mode: MtlsMode.STRICT,
          portLevel: { 80: MtlsMode.DISABLE },
        }),
    ).toThrow(/portLevel applies only with a workload selector/);
    expect(() => new MtlsPolicy(chart, 'b', { mesh, namespace: 'x', mode: 'ON' as MtlsMode })).toThrow(
      /mode must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "ON"/,
    );
    expect(
      () => new MtlsPolicy(chart, 'c', { mesh, service: reviews, version: 'v4', mode: MtlsMode.STRICT }),
    ).toThrow(/version must be a version of reviews \(v1\), got "v4"/);
    expect(
      () => new MtlsPolicy(chart, 'd', { mesh, service: reviews, namespace: 'other', mode: MtlsMode.STRICT }),
    ).toThrow(/namespace 'other' differs from the service's namespace 'default'/);
  });
});

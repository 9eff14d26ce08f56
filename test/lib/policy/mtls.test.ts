import { describe, expect, it } from 'vitest';
import type { MeshObject, PeerAuthenticationSpec } from '../../../lib/api/types.js';
import { compilePeerAuthentication, mtlsModeFor } from '../../../lib/policy/mtls.js';

function pa(name: string, namespace: string, spec: PeerAuthenticationSpec, created?: string): MeshObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace, ...(created ? { creationTimestamp: created } : {}) },
    spec,
  };
}

const reviews = { namespace: 'default', labels: { app: 'reviews', version: 'v1' } };
const mode = (
  objects: MeshObject[],
  port = 9080,
  workload: { namespace: string; labels: Record<string, string> } = reviews,
) => mtlsModeFor(objects, workload, port);

describe('PeerAuthentication precedence', () => {
  it('is PERMISSIVE without any policy', () => {
    expect(mode([])).toEqual({ mode: 'PERMISSIVE', level: 'default' });
  });

  it('takes the mesh policy from the root namespace', () => {
    expect(mode([pa('default', 'tsmesh-system', { mtls: { mode: 'STRICT' } })])).toEqual({
      mode: 'STRICT',
      policy: 'tsmesh-system/default',
      level: 'mesh',
    });
  });

  it('treats istio-system as a root namespace', () => {
    expect(mode([pa('default', 'istio-system', { mtls: { mode: 'STRICT' } })]).mode).toBe('STRICT');
  });

  it("lets the control plane's namespace win over istio-system", () => {
    const objects = [
      pa('default', 'istio-system', { mtls: { mode: 'STRICT' } }),
      pa('default', 'tsmesh-system', { mtls: { mode: 'DISABLE' } }),
    ];
    expect(mode(objects)).toMatchObject({ mode: 'DISABLE', policy: 'tsmesh-system/default' });
  });

  it('ignores a root-namespace policy with a selector for workloads elsewhere', () => {
    expect(
      mode([
        pa('sel', 'tsmesh-system', {
          selector: { matchLabels: { app: 'reviews' } },
          mtls: { mode: 'STRICT' },
        }),
      ]).mode,
    ).toBe('PERMISSIVE');
  });

  it('ignores a root-namespace policy with a selector even for workloads in the root namespace', () => {
    const gateway = { namespace: 'tsmesh-system', labels: { app: 'ingress' } };
    const objects = [
      pa('default', 'tsmesh-system', { mtls: { mode: 'STRICT' } }),
      pa('ingress', 'tsmesh-system', {
        selector: { matchLabels: { app: 'ingress' } },
        mtls: { mode: 'DISABLE' },
      }),
    ];
    expect(mode(objects, 8080, gateway)).toMatchObject({
      mode: 'STRICT',
      policy: 'tsmesh-system/default',
      level: 'mesh',
    });
  });

  it('prefers the namespace policy over the mesh policy', () => {
    const objects = [
      pa('default', 'tsmesh-system', { mtls: { mode: 'STRICT' } }),
      pa('ns', 'default', { mtls: { mode: 'PERMISSIVE' } }),
    ];
    expect(mode(objects)).toEqual({ mode: 'PERMISSIVE', policy: 'default/ns', level: 'namespace' });
  });

  it('prefers the workload policy over the namespace policy', () => {
    const objects = [
      pa('ns', 'default', { mtls: { mode: 'STRICT' } }),
      pa('reviews', 'default', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'DISABLE' } }),
    ];
    expect(mode(objects)).toEqual({ mode: 'DISABLE', policy: 'default/reviews', level: 'workload' });
  });

  it('lets a workload policy apply only to workloads its selector matches', () => {
    const objects = [
      pa('ratings', 'default', { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'STRICT' } }),
    ];
    expect(mode(objects).mode).toBe('PERMISSIVE');
  });

  it('makes UNSET inherit from the namespace, and the namespace UNSET inherit from the mesh', () => {
    const objects = [
      pa('default', 'tsmesh-system', { mtls: { mode: 'STRICT' } }),
      pa('ns', 'default', { mtls: { mode: 'UNSET' } }),
      pa('reviews', 'default', { selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'UNSET' } }),
    ];
    expect(mode(objects)).toMatchObject({ mode: 'STRICT', level: 'mesh' });
  });

  it('applies portLevelMtls by container port with a selector', () => {
    const objects = [
      pa('reviews', 'default', {
        selector: { matchLabels: { app: 'reviews' } },
        mtls: { mode: 'STRICT' },
        portLevelMtls: { '9080': { mode: 'DISABLE' } },
      }),
    ];
    expect(mode(objects, 9080)).toEqual({ mode: 'DISABLE', policy: 'default/reviews', level: 'port' });
    expect(mode(objects, 9090)).toMatchObject({ mode: 'STRICT', level: 'workload' });
  });

  it('ignores portLevelMtls without a selector', () => {
    const objects = [
      pa('ns', 'default', { mtls: { mode: 'STRICT' }, portLevelMtls: { '9080': { mode: 'DISABLE' } } }),
    ];
    expect(mode(objects, 9080).mode).toBe('STRICT');
  });

  it('lets the oldest of several matching workload policies win', () => {
    const sel = { matchLabels: { app: 'reviews' } };
    const objects = [
      pa('newer', 'default', { selector: sel, mtls: { mode: 'DISABLE' } }, '2024-02-01T00:00:00Z'),
      pa('older', 'default', { selector: sel, mtls: { mode: 'STRICT' } }, '2024-01-01T00:00:00Z'),
    ];
    expect(mode(objects)).toMatchObject({ mode: 'STRICT', policy: 'default/older' });
  });

  it('lets the oldest of duplicate namespace policies win', () => {
    const objects = [
      pa('b', 'default', { mtls: { mode: 'DISABLE' } }, '2024-02-01T00:00:00Z'),
      pa('a', 'default', { mtls: { mode: 'STRICT' } }, '2024-03-01T00:00:00Z'),
      pa('c', 'default', { mtls: { mode: 'PERMISSIVE' } }, '2024-01-01T00:00:00Z'),
    ];
    expect(mode(objects)).toMatchObject({ mode: 'PERMISSIVE', policy: 'default/c' });
  });

  it('answers the same from a compiled index', () => {
    const objects = [pa('ns', 'default', { mtls: { mode: 'STRICT' } })];
    expect(mtlsModeFor(compilePeerAuthentication(objects), reviews, 9080)).toEqual(mode(objects));
  });

  it('honours a custom root namespace', () => {
    const objects = [pa('default', 'mesh-root', { mtls: { mode: 'STRICT' } })];
    expect(mtlsModeFor(objects, reviews, 9080, ['mesh-root']).mode).toBe('STRICT');
  });
});

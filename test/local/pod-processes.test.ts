import { afterEach, describe, expect, it } from 'vitest';
import type { PlannedContainer, PlannedPod } from '../../runtime/local/plan.js';
import { type PodContext, processSpec } from '../../runtime/local/pod-processes.js';

function ctx(containers: PlannedContainer[]): PodContext {
  const pod: PlannedPod = {
    name: 'reviews-0',
    namespace: 'default',
    workload: 'reviews',
    serviceAccount: 'reviews',
    labels: { app: 'reviews' },
    annotations: {},
    containers,
    meshed: true,
    gateway: false,
    ports: [],
    file: 'dist/app.k8s.yaml',
  };
  return {
    pod,
    address: '127.0.10.2',
    tsmesh: ['node', 'build/runtime/cli/main.js'],
    cwd: '/tmp',
    controlPlane: '127.0.0.1:15012',
    trustBundleFile: '/tmp/root-cert.pem',
    explicitProxy: true,
  };
}

const sidecar = (env: PlannedContainer['env'] = []): PlannedContainer => ({
  name: 'tsmesh-proxy',
  role: 'sidecar',
  argv: ['proxy'],
  tsmesh: true,
  env,
  ports: [],
});
const app: PlannedContainer = {
  name: 'app',
  role: 'app',
  argv: ['node', 'app.js'],
  tsmesh: false,
  env: [],
  ports: [],
};

describe('local proxy processes', () => {
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES };
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('start the sidecar with the memory settings of the injected container, also when the manifest lacks them', () => {
    delete process.env.NODE_OPTIONS;
    delete process.env.GLIBC_TUNABLES;
    const spec = processSpec(ctx([sidecar(), app]), sidecar());
    expect(spec.env.NODE_OPTIONS).toBe('--max-semi-space-size=2');
    expect(spec.env.MALLOC_ARENA_MAX).toBe('2');
    expect(spec.env.GLIBC_TUNABLES).toBe('glibc.malloc.mmap_threshold=32768');
    expect(spec.argv.slice(0, 3)).toEqual(['node', 'build/runtime/cli/main.js', 'proxy']);
  });

  it("keep the host's node options and let the manifest's own values win", () => {
    process.env.NODE_OPTIONS = '--enable-source-maps';
    process.env.GLIBC_TUNABLES = 'glibc.malloc.tcache_count=0';
    const declared = sidecar([
      { name: 'NODE_OPTIONS', value: '--max-semi-space-size=8' },
      { name: 'MALLOC_ARENA_MAX', value: '4' },
      { name: 'GLIBC_TUNABLES', value: 'glibc.malloc.mmap_threshold=65536' },
    ]);
    const spec = processSpec(ctx([declared, app]), declared);
    expect(spec.env.NODE_OPTIONS).toBe('--enable-source-maps --max-semi-space-size=8');
    expect(spec.env.MALLOC_ARENA_MAX).toBe('4');
    expect(spec.env.GLIBC_TUNABLES).toBe('glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=65536');
  });

  it('leave app containers alone', () => {
    delete process.env.NODE_OPTIONS;
    const spec = processSpec(ctx([sidecar(), app]), app);
    expect(spec.env.NODE_OPTIONS).toBeUndefined();
    expect(spec.env.MALLOC_ARENA_MAX).toBeUndefined();
    expect(spec.env.GLIBC_TUNABLES).toBeUndefined();
  });
});

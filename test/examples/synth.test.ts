import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MeshTarget } from '../../constructs/index.js';
import { EXAMPLES, synthObjects, synthYaml } from './helpers.js';

const run = promisify(execFile);
const names = Object.keys(EXAMPLES);

describe('example meshes', () => {
  for (const name of names) {
    it(`synthesizes ${name} as in its golden snapshot`, async () => {
      await expect(synthYaml(name)).toMatchFileSnapshot(`./__snapshots__/${name}.k8s.yaml`);
    });

    it(`synthesizes ${name} for the istio target as in its golden snapshot`, async () => {
      await expect(synthYaml(name, MeshTarget.ISTIO)).toMatchFileSnapshot(
        `./__snapshots__/${name}.istio.k8s.yaml`,
      );
    });

    it(`synthesizes ${name} byte-identically twice`, () => {
      expect(synthYaml(name)).toBe(synthYaml(name));
    });

    it(`never puts a private key into ${name}`, () => {
      const yaml = synthYaml(name);
      expect(yaml).not.toMatch(/PRIVATE KEY/);
      expect(yaml).toContain('BEGIN CERTIFICATE');
      const secrets = synthObjects(name).filter((o) => o.kind === 'Secret');
      expect(secrets).toEqual([]);
    });

    it(`gives ${name} its own control plane and trust bundle`, () => {
      const objects = synthObjects(name);
      const kinds = (k: string) =>
        objects.filter((o) => o.kind === k).map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
      expect(kinds('Deployment')).toContain('tsmesh-system/tsmesh-control-plane');
      expect(kinds('ConfigMap')).toContain('tsmesh-system/tsmesh-config');
      expect(kinds('ConfigMap')).toContain('tsmesh-system/tsmesh-root-cert');
    });
  }

  it('bookinfo has the four services on port 9080 named http, Deployments <name>-<version>, accounts bookinfo-<name>', () => {
    const objects = synthObjects('bookinfo');
    for (const name of ['productpage', 'details', 'reviews', 'ratings']) {
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
      expect(svc.metadata.namespace).toBe('default');
      expect(svc.spec.ports).toEqual([
        { name: 'http', port: 9080, targetPort: 9080, protocol: 'TCP', appProtocol: 'http' },
      ]);
      expect(objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === `bookinfo-${name}`)).toBe(
        true,
      );
    }
    const deployments = objects.filter((o) => o.kind === 'Deployment' && o.metadata.namespace === 'default');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'details-v1',
      'productpage-v1',
      'ratings-v1',
      'reviews-v1',
      'reviews-v2',
      'reviews-v3',
      'sleep',
    ]);
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      expect(labels.app).toBeDefined();
      expect(labels.version).toBeDefined();
      expect(JSON.parse(d.spec.template.metadata.annotations['tsmesh.dev/local-command'])).toEqual({
        [labels.app]: [
          'node',
          `build/examples/${labels.app === 'sleep' ? 'shared/sleep' : `bookinfo/apps/${labels.app}`}.js`,
        ],
      });
    }
  });

  it('bookinfo-plain has DestinationRules with subsets and no routing or security objects', () => {
    const objects = synthObjects('bookinfo-plain');
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of ['VirtualService', 'Gateway', 'PeerAuthentication', 'AuthorizationPolicy'])
      expect(kinds.has(k)).toBe(false);
    const reviews = objects.find((o) => o.kind === 'DestinationRule' && o.metadata.name === 'reviews');
    expect(reviews.spec.subsets.map((s: any) => s.name)).toEqual(['v1', 'v2', 'v3']);
    expect(
      objects
        .filter((o) => o.kind === 'DestinationRule')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['details', 'productpage', 'ratings', 'reviews']);
  });

  it('httpbin runs in foo and bar with sidecars and in legacy without, port 8000 to 8080', () => {
    const objects = synthObjects('httpbin');
    for (const ns of ['foo', 'bar', 'legacy']) {
      const svc = objects.find(
        (o) => o.kind === 'Service' && o.metadata.name === 'httpbin' && o.metadata.namespace === ns,
      );
      expect(svc.spec.ports).toEqual([
        { name: 'http', port: 8000, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
      ]);
      for (const app of ['httpbin', 'sleep']) {
        const d = objects.find(
          (o) => o.kind === 'Deployment' && o.metadata.name === app && o.metadata.namespace === ns,
        );
        const containers = d.spec.template.spec.containers.map((c: any) => c.name);
        expect(d.spec.template.spec.serviceAccountName).toBe(app);
        if (ns === 'legacy') expect(containers).toEqual([app]);
        else expect(containers).toEqual(['tsmesh-proxy', app]);
      }
    }
    const namespaces = objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name);
    expect(namespaces.sort()).toEqual(['bar', 'foo', 'legacy', 'tsmesh-system']);
  });

  it('`npx cdk8s synth` writes one file per example into the output folder, equal to the snapshots', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tsmesh-synth-'));
    try {
      await run('npx', ['cdk8s', 'synth', '--check-upgrade=false', '--output', out], {
        cwd: join(import.meta.dirname, '../..'),
        timeout: 120_000,
      });
      expect(readdirSync(out).sort()).toEqual(names.map((n) => `${n}.k8s.yaml`).sort());
      for (const name of names) {
        const written = readFileSync(join(out, `${name}.k8s.yaml`), 'utf8');
        expect(written).toBe(synthYaml(name));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});

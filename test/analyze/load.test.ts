import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfigPaths } from '../../runtime/config/load.js';

const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
const sa = (name: string) => `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n`;

describe('loadConfigPaths', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsmesh-load-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads folders recursively in sorted order, only .yaml, .yml and .json files', async () => {
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'b', 'z.yml'), ns('z'));
    await writeFile(join(dir, 'a.yaml'), ns('a'));
    await writeFile(
      join(dir, 'c.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'c' } }),
    );
    await writeFile(join(dir, 'notes.txt'), 'not config');
    const r = await loadConfigPaths([dir], { cwd: dir });
    expect(r.files).toEqual(['a.yaml', join('b', 'z.yml'), 'c.json']);
    expect(r.objects.map((o) => o.object.metadata.name)).toEqual(['a', 'z', 'c']);
    expect(r.diagnostics).toEqual([]);
  });

  it('refuses the same kind, namespace and name in two files, naming both', async () => {
    await writeFile(join(dir, 'one.yaml'), `${sa('reviews')}---\n${sa('ratings')}`);
    await writeFile(join(dir, 'two.yaml'), `# again\n${sa('reviews')}`);
    const r = await loadConfigPaths([join(dir, 'one.yaml'), join(dir, 'two.yaml')], { cwd: dir });
    expect(r.objects.map((o) => o.object.metadata.name)).toEqual(['reviews', 'ratings']);
    expect(r.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'TSM0002',
        object: 'ServiceAccount default/reviews',
        message:
          'defined twice: in one.yaml:1 and in two.yaml:2; each kind, namespace and name may appear once',
        source: { file: 'two.yaml', index: 0, line: 2 },
      },
    ]);
  });

  it('treats a missing namespace as default when comparing objects', async () => {
    await writeFile(join(dir, 'a.yaml'), sa('x'));
    await writeFile(
      join(dir, 'b.yaml'),
      `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, namespace: default}\n`,
    );
    const r = await loadConfigPaths([dir], { cwd: dir });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['TSM0002']);
  });

  const vsYaml = (weight: number) =>
    `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: ${weight}\n`;
  const configMap = (data: Record<string, string>) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'tsmesh-config', namespace: 'tsmesh-system' },
      data,
    });

  it('takes an object and its copy in the tsmesh-config ConfigMap as one object', async () => {
    const deployment =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  template:\n    metadata: {labels: {app: reviews}}\n    spec: {containers: [{name: reviews, image: reviews:1}]}\n';
    const summary =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec:\n  selector: {matchLabels: {app: reviews}}\n  template:\n    metadata: {labels: {app: reviews}}\n    spec: {containers: [{name: reviews}]}\n';
    await writeFile(
      join(dir, 'synth.yaml'),
      `${configMap({ 'default.yaml': `${vsYaml(100)}---\n${summary}` })}\n---\n${vsYaml(100)}---\n${deployment}`,
    );
    const r = await loadConfigPaths([dir], { cwd: dir });
    expect(r.diagnostics).toEqual([]);
    expect(r.objects.map((o) => `${o.object.kind} ${o.source?.file}`)).toEqual([
      'VirtualService synth.yaml',
      'Deployment synth.yaml',
    ]);
  });

  it('reports a stale ConfigMap copy of an Istio object', async () => {
    await writeFile(
      join(dir, 'synth.yaml'),
      `${configMap({ 'default.yaml': vsYaml(50) })}\n---\n${vsYaml(100)}`,
    );
    const r = await loadConfigPaths([dir], { cwd: dir });
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      'the copy in ConfigMap tsmesh-system/tsmesh-config differs from the object itself (synth.yaml[default.yaml]:1 and synth.yaml:3); synthesize again so they agree',
    ]);
  });

  it('refuses the same object in the ConfigMaps of two files', async () => {
    await writeFile(join(dir, 'a.yaml'), configMap({ 'default.yaml': vsYaml(1) }));
    await writeFile(join(dir, 'b.yaml'), configMap({ 'default.yaml': vsYaml(1) }));
    const r = await loadConfigPaths([dir], { cwd: dir });
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      'defined twice: in a.yaml[default.yaml]:1 and in b.yaml[default.yaml]:1; each kind, namespace and name may appear once',
    ]);
  });

  it('reports a path that does not exist', async () => {
    const r = await loadConfigPaths([join(dir, 'missing.yaml')], { cwd: dir });
    expect(r.diagnostics).toEqual([
      { severity: 'error', code: 'TSM0004', message: `no such file or folder: ${join(dir, 'missing.yaml')}` },
    ]);
  });
});

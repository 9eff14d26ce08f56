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

  it('reports a path that does not exist', async () => {
    const r = await loadConfigPaths([join(dir, 'missing.yaml')], { cwd: dir });
    expect(r.diagnostics).toEqual([
      { severity: 'error', code: 'TSM0004', message: `no such file or folder: ${join(dir, 'missing.yaml')}` },
    ]);
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnalyzeReport, runAnalyze } from '../../runtime/config/analyze-command.js';

const SAMPLES = resolve('test/fixtures/istio-samples');
const sample = (f: string) => join(SAMPLES, f);

async function capture(paths: string[], options: Record<string, string | boolean> = {}) {
  let out = '';
  let err = '';
  const code = await runAnalyze(paths, options, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

describe('tsmesh analyze', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsmesh-analyze-'));
    await writeFile(
      join(dir, 'bad.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: -1\n',
    );
    await writeFile(
      join(dir, 'warn.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings}\nspec:\n  hosts: [ratings]\n  http:\n  - fault: {abort: {httpStatus: 500}}\n    route:\n    - destination: {host: ratings}\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const accepted: string[][] = [
    ['virtual-service-all-v1.yaml', 'destination-rule-all.yaml'],
    ['virtual-service-all-v1.yaml', 'destination-rule-all-mtls.yaml'],
    ['virtual-service-reviews-v2-v3.yaml', 'destination-rule-all.yaml'],
    ['virtual-service-reviews-test-v2.yaml', 'destination-rule-all.yaml'],
    ['virtual-service-ratings-test-delay.yaml', 'destination-rule-all.yaml'],
    ['virtual-service-ratings-test-abort.yaml', 'destination-rule-all-mtls.yaml'],
    ['virtual-service-reviews-jason-v2-v3.yaml', 'destination-rule-reviews.yaml'],
    ['bookinfo-gateway.yaml', 'destination-rule-all.yaml'],
  ];
  it.each(accepted)(
    "accepts Istio's bookinfo sample %s with %s (warnings allowed)",
    async (routes, rules) => {
      const r = await capture([sample('bookinfo.yaml'), sample(rules), sample(routes)], { output: 'json' });
      const report = JSON.parse(r.out) as AnalyzeReport;
      expect(report.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(r.code).toBe(0);
      expect(report.summary.files).toHaveLength(3);
    },
  );

  it('exits 1 on errors and prints them istioctl-style with a summary', async () => {
    const r = await capture([join(dir, 'bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')).toEqual([
      expect.stringMatching(
        /^Error \[IST0106\] \(VirtualService default\/reviews .*bad\.yaml:9\) spec\.http\[0\]\.route\[0\]\.weight: -1 is out of range; expected an integer from 0 to 2147483647$/,
      ),
      'Info [TSM0008] the input declares no Service or ServiceEntry, so destination hosts were not checked',
      '✘ 1 error, 0 warnings, 1 info in 1 file, 1 object.',
      '',
    ]);
  });

  it('exits 0 when there are only warnings', async () => {
    const r = await capture([join(dir, 'warn.yaml')]);
    expect(r.out).toContain('Warning [TSM0003]');
    expect(r.code).toBe(0);
  });

  it('prints one JSON document with -o json', async () => {
    const r = await capture([join(dir, 'bad.yaml'), join(dir, 'warn.yaml')], { output: 'json' });
    const report = JSON.parse(r.out) as AnalyzeReport;
    expect(report.summary).toMatchObject({ errors: 1, warnings: 1, info: 1, objects: 2, skipped: {} });
    expect(report.diagnostics[0]).toMatchObject({
      severity: 'error',
      code: 'IST0106',
      object: 'VirtualService default/reviews',
      path: 'spec.http[0].route[0].weight',
    });
  });

  it('warns about config the bundled runtime does not implement, refuses it with --strict, accepts it for istio', async () => {
    const file = join(dir, 'tls.yaml');
    await writeFile(
      file,
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec:\n  host: x\n  trafficPolicy: {tls: {mode: SIMPLE}}\n',
    );
    const plain = await capture([file]);
    expect(plain.out).toMatch(
      /^Warning \[TSM0001\] \(DestinationRule default\/x .*tls\.yaml:6\) spec\.trafficPolicy\.tls\.mode: SIMPLE is not supported by the bundled runtime; supported: DISABLE, ISTIO_MUTUAL$/m,
    );
    expect(plain.code).toBe(0);
    const strict = await capture([file], { strict: true });
    expect(strict.out).toContain('Error [TSM0001]');
    expect(strict.code).toBe(1);
    const istio = await capture([file], { target: 'istio' });
    expect(istio.out).not.toContain('TSM0001');
    expect(istio.code).toBe(0);
  });

  it('exits 2 on bad usage', async () => {
    expect((await capture([SAMPLES], { output: 'yaml' })).code).toBe(2);
    expect((await capture([SAMPLES], { target: 'linkerd' })).code).toBe(2);
    expect((await capture([])).code).toBe(2);
  });

  it('runs as the compiled command with its exit code', async () => {
    const run = promisify(execFile);
    const cli = resolve('build/runtime/cli/main.js');
    const ok = await run(process.execPath, [
      cli,
      'analyze',
      sample('bookinfo.yaml'),
      sample('destination-rule-all.yaml'),
      sample('virtual-service-reviews-v2-v3.yaml'),
    ]);
    expect(ok.stdout).toContain('✔ 0 errors, 4 warnings, 0 info in 3 files, 19 objects.');
    const failed = await run(process.execPath, [cli, 'analyze', join(dir, 'bad.yaml')]).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect('code' in failed ? failed.code : 0).toBe(1);
    const help = await run(process.execPath, [cli, 'analyze', '--help']);
    expect(help.stdout).toContain('tsmesh analyze dist/');
  });
});

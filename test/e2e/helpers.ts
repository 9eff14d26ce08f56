/**
 * End-to-end helpers: bookinfo synthesized from examples/, one `tsmesh up --detach` per test
 * file (real control plane, real sidecars, real apps), apply/delete through the CLI, and load
 * sent from inside a pod.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App } from 'cdk8s';
import { afterAll } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { BookinfoChart } from '../../examples/bookinfo/bookinfo.js';
import type { LoadSummary } from '../../runtime/local/load.js';
import { findPod } from '../../runtime/local/mesh-ref.js';
import { type ExecResult, execInPod, type LoadRequest, loadFromPod } from '../../runtime/local/pod-exec.js';
import { type MeshState, readState } from '../../runtime/local/state.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'build/runtime/cli/main.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], input?: string): CliResult {
  try {
    const stdout = execFileSync(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      input,
      timeout: 180_000,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/**
 * Bookinfo as `npm run synth` writes it, plus an unmeshed `legacy/sleep`; without the ingress
 * gateway Deployment unless asked (most scenarios are sidecar to sidecar; one process less on a
 * 2-core machine).
 */
export function bookinfoManifests(dir: string, options: { gateway?: boolean } = {}): string[] {
  const app = new App({ outdir: dir });
  new BookinfoChart(app, 'bookinfo');
  const docs = parseAllDocuments(app.synthYaml())
    .map((d) => d.toJS())
    .filter(
      (o) =>
        o && (options.gateway || !(o.kind === 'Deployment' && o.metadata.name === 'tsmesh-ingressgateway')),
    );
  const file = join(dir, 'bookinfo.k8s.yaml');
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return [file, join(ROOT, 'test/e2e/fixtures/legacy-sleep.yaml')];
}

/** One object of a manifest file, as YAML (to re-apply what the files declared). */
export function objectYaml(file: string, kind: string, name: string, namespace = 'default'): string {
  const obj = parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS())
    .find(
      (o) =>
        o?.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? 'default') === namespace,
    );
  if (!obj) throw new Error(`no ${kind} ${namespace}/${name} in ${file}`);
  return stringify(obj);
}

/** Working directories of the meshes of this test file, removed after its last hook (after `down`). */
const meshDirs: string[] = [];
afterAll(() => {
  for (const dir of meshDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export class E2eMesh {
  readonly dir = meshDirs[meshDirs.push(mkdtempSync(join(tmpdir(), 'tsmesh-e2e-'))) - 1];
  readonly stateDir = join(this.dir, '.tsmesh');
  readonly started = Date.now();
  state!: MeshState;

  up(files: string[]): void {
    const res = cli([
      'up',
      ...files,
      '--detach',
      '--state-dir',
      this.stateDir,
      '--cert-ttl',
      '60s',
      '--timeout',
      '90',
    ]);
    if (res.status !== 0) throw new Error(`tsmesh up failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
    this.state = readState(this.stateDir)!;
  }

  down(): CliResult {
    return cli(['down', '--state-dir', this.stateDir]);
  }

  /** Runs a CLI command against this mesh (`--state-dir` added after the command name). */
  tsmesh(command: string, ...args: string[]): CliResult {
    return cli([command, '--state-dir', this.stateDir, ...args]);
  }

  /** `tsmesh apply -f` of a YAML text; throws with the CLI output when refused. */
  apply(yaml: string): CliResult {
    const file = join(this.dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return this.tsmesh('apply', '-f', file);
  }

  remove(yaml: string): CliResult {
    const file = join(this.dir, `delete-${Date.now()}.yaml`);
    writeFileSync(file, yaml);
    return this.tsmesh('delete', '-f', file);
  }

  pod(name: string, namespace = 'default') {
    return findPod(this.state, name, namespace);
  }

  load(from: string, r: LoadRequest, namespace = 'default'): Promise<LoadSummary> {
    return loadFromPod(this.state, this.pod(from, namespace), r);
  }

  exec(from: string, argv: string[], namespace = 'default'): Promise<ExecResult> {
    return execInPod(this.pod(from, namespace), argv);
  }

  elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)} s`;
  }
}

/** Counts of each reviews version in a load summary (v1 no stars, v2 black, v3 red). */
export function versions(summary: LoadSummary): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of summary.bodies) {
    let key = `HTTP ${b.status}`;
    if (b.status === 200) {
      const rating = (JSON.parse(b.body) as { reviews: { rating?: { color?: string; error?: string } }[] })
        .reviews[0].rating;
      key = !rating ? 'v1' : rating.error ? 'ratings-error' : rating.color === 'red' ? 'v3' : 'v2';
    }
    out[key] = (out[key] ?? 0) + b.count;
  }
  for (const [code, n] of Object.entries(summary.errors)) out[`error ${code}`] = n;
  return out;
}

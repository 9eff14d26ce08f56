import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MeshState, readState } from '../../runtime/local/state.js';
import { CLI, ROOT } from './helpers.js';

// The no-root fallback, run as an unprivileged user (nobody) with the real control plane and
// sidecars: loopback addresses per pod, apps reaching services through their sidecar as an
// explicit HTTP proxy (http_proxy / HTTP_PROXY).
const NOBODY = 65534;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-fallback-'));
chmodSync(dir, 0o755);
chownSync(dir, NOBODY, NOBODY);
const stateDir = join(dir, '.tsmesh');
const MESH = join(ROOT, 'test/local/fixtures/mesh.yaml');
const started = Date.now();

function asNobody(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH, HOME: dir, TMPDIR: dir, NO_COLOR: '1' },
      },
    );
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('tsmesh up without root (loopback fallback)', () => {
  let state: MeshState;
  beforeAll(() => {
    const up = asNobody([
      'up',
      MESH,
      '--detach',
      '--state-dir',
      stateDir,
      '--cert-ttl',
      '60s',
      '--timeout',
      '60',
    ]);
    if (up.status !== 0) throw new Error(`up as nobody failed:\n${up.stdout}\n${up.stderr}`);
    state = readState(stateDir)!;
  });
  afterAll(() => {
    const down = asNobody(['down', '--state-dir', stateDir]);
    console.log(`e2e fallback.test.ts: ${((Date.now() - started) / 1000).toFixed(1)} s (up, tests, down)`);
    expect(down.status).toBe(0);
    expect(readState(stateDir)).toBeUndefined();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every pod on its own loopback address, with sidecars SYNCED', () => {
    expect(state.mode).toBe('loopback');
    expect(state.pods.every((p) => /^127\.42\.\d+\.\d+$/.test(p.address))).toBe(true);
    const status = asNobody(['status', '--state-dir', stateDir]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/^default +web-0 +1\/1 +READY +sidecar +SYNCED/m);
  });

  it('routes an app call through its sidecar (explicit proxy) to a service by name', () => {
    const out = asNobody([
      'exec',
      '--state-dir',
      stateDir,
      'web-0',
      '--',
      'curl',
      '-s',
      '-D',
      '-',
      'http://web.default:8080/through-the-mesh',
    ]);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^HTTP\/1\.1 200/);
    const body = JSON.parse(out.stdout.slice(out.stdout.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ app: 'web', url: '/through-the-mesh' });
    expect(['web-0', 'web-1']).toContain(body.pod);
  });
});

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeCertificate } from '../../lib/pki/index.js';
import { type ControlPlaneProcess, type Fixture, fixture, freePort, spawnControlPlane } from './helpers.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const tsmesh = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'runtime/cli/main.ts', ...args], { cwd: ROOT }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

let f: Fixture | undefined;
let cp: ControlPlaneProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  await cp?.kill('SIGKILL');
  cp = undefined;
  await f?.cleanup();
  f = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('tsmesh ca, token and control-plane commands', () => {
  it('ca init writes a private root and prints its Secret; a second run refuses to overwrite', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsmesh-ca-'));
    const out = join(dir, 'ca');
    const first = await tsmesh(['ca', 'init', '--out', out, '--trust-domain', 'example.org']);
    expect(first.code).toBe(0);
    const secret = parse(first.stdout);
    expect(secret).toMatchObject({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tsmesh-ca', namespace: 'tsmesh-system' },
    });
    expect(Object.keys(secret.data).sort()).toEqual([
      'ca-cert.pem',
      'ca-key.pem',
      'root-cert.pem',
      'trust-bundle.pem',
    ]);
    const root = Buffer.from(secret.data['root-cert.pem'], 'base64').toString();
    expect(root).toBe(await readFile(join(out, 'root-cert.pem'), 'utf8'));
    const info = describeCertificate(root);
    expect(info.isCa).toBe(true);
    expect(info.notAfter.getTime() - info.notBefore.getTime()).toBeGreaterThan(9.9 * 365 * 24 * 3600_000);
    expect(info.subject).toContain('example.org');
    expect((await stat(join(out, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    const again = await tsmesh(['ca', 'init', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('refusing to overwrite a CA key');
  });

  it('token and control-plane status talk to a running control plane through its socket', async () => {
    f = await fixture();
    cp = await spawnControlPlane(f, await freePort());
    const token = await tsmesh([
      'token',
      '-n',
      'default',
      '--service-account',
      'reviews',
      '--state-dir',
      f.stateDir,
      '-o',
      'json',
    ]);
    expect(token.code).toBe(0);
    expect(JSON.parse(token.stdout)).toMatchObject({
      token: expect.stringMatching(/^tsm1\./),
      expiresAt: expect.any(String),
    });
    const status = await tsmesh(['control-plane', 'status', '--state-dir', f.stateDir]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('protocol versions 2, 3');
    expect(status.stdout).toMatch(/config version: +1 \(6 objects/);
    const missing = await tsmesh(['control-plane', 'status', '--state-dir', join(f.dir, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is it running?');
    const bad = await tsmesh(['control-plane', '--config', f.configDir, '--listen', 'nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--listen: expected HOST:PORT');
  });
});

import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCertificate, generateRsaKeyPair } from '../../lib/pki/index.js';
import { PORT_PROBE_ADDRESS } from '../../runtime/local/commands/check.js';
import { readState } from '../../runtime/local/state.js';
import { CLI, FAKE_TSMESH, FIXTURES, sh, tempDir, tryRun } from './helpers.js';

const env = { ...process.env, TSMESH_LOCAL_COMMAND: JSON.stringify(FAKE_TSMESH) };
const check = (stateDir: string, names: string[], extraEnv: NodeJS.ProcessEnv = env) =>
  tryRun(process.execPath, [CLI, 'check', '--state-dir', stateDir, ...names], extraEnv);
const line = (out: string, name: string) =>
  out.split('\n').find((l) => l.slice(2).startsWith(`${name} `)) ?? '';

async function writeRoot(stateDir: string, now: Date, validityMs: number): Promise<void> {
  const keys = await generateRsaKeyPair(2048);
  const pem = await createRootCertificate({ ...keys, trustDomain: 'cluster.local', now, validityMs });
  mkdirSync(join(stateDir, 'ca'), { recursive: true });
  writeFileSync(join(stateDir, 'ca', 'trust-bundle.pem'), pem);
}

describe('tsmesh check on a fresh machine (as root)', () => {
  it('passes privileges, iptables, trust-bundle, clock and ports, and fails the mesh checks with a hint', () => {
    const out = check(join(tempDir('tsmesh-check-'), '.tsmesh'), []);
    expect(out.status).toBe(1);
    for (const name of ['privileges', 'iptables', 'trust-bundle', 'clock', 'ports']) {
      expect(line(out.stdout, name)).toMatch(/^✔ /);
    }
    expect(line(out.stdout, 'control-plane')).toMatch(/^✖ control-plane +no running mesh/);
    expect(out.stdout).toContain('hint: start one with: tsmesh up --detach');
  });

  it('exits 2 for an unknown check', () => {
    const out = check('.tsmesh', ['nope']);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('unknown check nope; checks: privileges, iptables,');
  });
});

describe('each check fails when its condition does not hold', () => {
  it('privileges: not root', () => {
    const out = tryRun('setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      process.execPath,
      CLI,
      'check',
      'privileges',
      '--state-dir',
      '/tmp/none',
    ]);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^✖ privileges +running as uid 65534: tsmesh up uses the loopback fallback/m);
    expect(out.stdout).toContain('hint: run as root');
  });

  it('iptables: no iptables command', () => {
    const bin = tempDir('tsmesh-nobin-');
    for (const tool of ['ip', 'sh'])
      symlinkSync(sh('sh', ['-c', `command -v ${tool}`]).trim(), join(bin, tool));
    const out = check('/tmp/none', ['iptables'], { ...env, PATH: bin });
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^✖ iptables +cannot install the capture rules: .*iptables.*not found/m);
    expect(out.stdout).toContain('hint: install iptables');
    expect(sh('ip', ['netns', 'list'])).not.toContain('tsm-check-');
  });

  it('trust-bundle: a root that expires within 30 days', async () => {
    const stateDir = join(tempDir('tsmesh-check-'), '.tsmesh');
    await writeRoot(stateDir, new Date(), 5 * 86_400_000);
    const out = check(stateDir, ['trust-bundle']);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^✖ trust-bundle +the mesh root expires in 4 days/m);
  });

  it('clock: a certificate that is valid only from tomorrow', async () => {
    const stateDir = join(tempDir('tsmesh-check-'), '.tsmesh');
    await writeRoot(stateDir, new Date(Date.now() + 86_400_000), 365 * 86_400_000);
    const out = check(stateDir, ['clock']);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^✖ clock +the clock is behind: the mesh root is valid only from /m);
  });

  describe('ports', () => {
    let server: Server;
    beforeAll(async () => {
      server = createServer();
      // On the probe address itself, so no other test's listener can interfere.
      await new Promise<void>((r) => server.listen(15020, PORT_PROBE_ADDRESS, () => r()));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('fails when another process holds 15020', () => {
      const out = check('/tmp/none', ['ports']);
      expect(out.status).toBe(1);
      expect(out.stdout).toMatch(
        /^✖ ports +port 15020 cannot be bound on a fallback address \(in use by another process\)/m,
      );
    });
  });

  describe('with a running mesh', () => {
    const stateDir = join(tempDir('tsmesh-check-'), '.tsmesh');
    beforeAll(() => {
      const up = tryRun(
        process.execPath,
        [CLI, 'up', join(FIXTURES, 'mesh.yaml'), '--detach', '--state-dir', stateDir],
        env,
      );
      expect(up.status).toBe(0);
    });
    afterAll(() => {
      tryRun(process.execPath, [CLI, 'down', '--state-dir', stateDir], env);
    });

    it('control-plane and sidecars-synced pass, then sidecars-synced fails when a proxy NACKed', () => {
      const ok = check(stateDir, ['control-plane', 'sidecars-synced']);
      expect(ok.stdout).toMatch(/^✔ control-plane +reachable at 10\.244\.\d+\.2:15012/m);
      expect(ok.stdout).toMatch(/^✔ sidecars-synced +all 2 proxies SYNCED/m);
      expect(ok.status).toBe(0);
      writeFileSync(join(stateDir, 'control-plane', 'sync-state'), 'NACKED');
      const bad = check(stateDir, ['sidecars-synced']);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/^✖ sidecars-synced +default\/web-0 NACKED; default\/web-1 NACKED/m);
    });

    it('control-plane fails when the control plane is gone', () => {
      const pid = readState(stateDir)!.controlPlane.processes[0].pid;
      process.kill(pid, 'SIGKILL');
      const out = check(stateDir, ['control-plane']);
      expect(out.status).toBe(1);
      expect(out.stdout).toMatch(/^✖ control-plane +cannot reach .*control-plane\.sock/m);
    });
  });
});

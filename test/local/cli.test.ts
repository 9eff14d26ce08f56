import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStart } from '../../runtime/local/leases.js';
import type { MeshState } from '../../runtime/local/state.js';
import { readState } from '../../runtime/local/state.js';
import { CLI, FAKE_TSMESH, FIXTURES, hostSnapshot, processesMatching, tempDir, tryRun } from './helpers.js';

// The operator commands against a detached mesh run with the stand-in control plane and proxy.
const dir = tempDir('tsmesh-cli-');
const stateDir = join(dir, '.tsmesh');
const env = { ...process.env, TSMESH_LOCAL_COMMAND: JSON.stringify(FAKE_TSMESH), NO_COLOR: '1' };
const tsmesh = (...args: string[]) => tryRun(process.execPath, [CLI, ...args], env);
const inMesh = (command: string, ...args: string[]) => tsmesh(command, '--state-dir', stateDir, ...args);

describe('tsmesh up --detach and the operator commands', () => {
  let state: MeshState;
  let before: ReturnType<typeof hostSnapshot>;

  beforeAll(() => {
    before = hostSnapshot();
    const up = tsmesh(
      'up',
      join(FIXTURES, 'mesh.yaml'),
      '--detach',
      '--state-dir',
      stateDir,
      '--timeout',
      '20',
    );
    expect(up.stderr).toBe('');
    expect(up.status).toBe(0);
    state = readState(stateDir)!;
    before.netns = before.netns.filter((n) => n.startsWith(`tsm-${state.index}-`));
  });
  afterAll(() => {
    tsmesh('down', '--state-dir', stateDir);
  });

  it('returns once ready and prints the pods table', () => {
    expect(state.phase).toBe('ready');
    const status = inMesh('status');
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(
      /^NAMESPACE +POD +READY +STATUS +PROXY +SYNC +VERSION +CERT EXPIRES +ADDRESS$/m,
    );
    expect(status.stdout).toMatch(
      /^default +web-0 +1\/1 +READY +sidecar +SYNCED +v1 +\d+m +10\.244\.\d+\.10$/m,
    );
    expect(status.stdout).toMatch(/^foo +client-0 +1\/1 +READY +none +- +- +- +10\.244\.\d+\.12$/m);
  });

  it('prints status as JSON', () => {
    const json = JSON.parse(inMesh('status', '-o', 'json').stdout);
    expect(json.controlPlane).toMatchObject({ reachable: true, configVersion: 1 });
    expect(json.pods.map((p: { pod: string }) => p.pod)).toEqual(['web-0', 'web-1', 'client-0']);
  });

  it('runs a command inside a pod, resolving service names, and passes its exit code', () => {
    const out = inMesh('exec', '-n', 'foo', 'client', '--', 'curl', '-s', 'http://web.default:8080/e');
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ host: 'web.default:8080', url: '/e' });
    expect(inMesh('exec', 'web', '--', 'sh', '-c', 'exit 7').status).toBe(7);
    const missing = inMesh('exec', 'nope', '--', 'true');
    expect(missing.status).toBe(4);
    expect(missing.stderr).toContain("no pod or workload 'nope' in namespace default (workloads there: web)");
  });

  it('applies valid objects and reports what the sidecars ACKed', () => {
    const file = join(dir, 'vs.yaml');
    writeFileSync(
      file,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: web }\nspec: { hosts: [web] }\n',
    );
    const out = inMesh('apply', '-f', file);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('VirtualService default/web configured');
    expect(out.stdout).toContain('ACKed by 2 sidecars (web-0, web-1)');
  });

  it('refuses invalid objects with the diagnostics and exit code 1', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: bad }\nspec: { invalid: 1 }\n',
    );
    const out = inMesh('apply', '-f', file);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('error: VirtualService default/bad: spec.invalid: unknown field');
    expect(out.stderr).toContain('nothing was changed');
    const unparsable = join(dir, 'broken.yaml');
    writeFileSync(unparsable, 'kind: [unclosed\n');
    const broken = inMesh('apply', '-f', unparsable);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('broken.yaml: document 1');
  });

  it('waits for a ready sidecar and fails after its timeout otherwise', () => {
    const web0 = state.pods.find((p) => p.name === 'web-0')!;
    const ok = inMesh('exec', 'web-0', '--', process.execPath, CLI, 'wait-ready', '--address', web0.address);
    expect(ok.status).toBe(0);
    const bad = inMesh(
      'exec',
      'web-0',
      '--',
      process.execPath,
      CLI,
      'wait-ready',
      '--address',
      web0.address,
      '--port',
      '15999',
      '--timeout',
      '1',
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('not ready after 1 s');
  });

  it('reports a pod whose app exited, with exit code 1', async () => {
    const app = state.pods.find((p) => p.name === 'web-1')!.processes.find((p) => p.role === 'app')!;
    process.kill(app.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const out = inMesh('status');
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^default +web-1 +0\/1 +EXITED/m);
  });

  it('after kill -9 of the runner, down leaves namespaces, links, rules and processes as before up', () => {
    process.kill(state.pid, 'SIGKILL');
    const down = tsmesh('down', '--state-dir', stateDir);
    expect(down.status).toBe(0);
    expect(down.stdout).toContain('is gone; cleaning up what it left');
    expect(hostSnapshot(`tsm-${state.index}-`)).toEqual(before);
    expect(processesMatching(stateDir)).toEqual([]);
    // Gone, or a zombie nobody has collected yet (the runner, their parent, was killed).
    for (const p of state.pods.flatMap((x) => x.processes)) expect(processStart(p.pid)).toBeUndefined();
  });

  it('says so when no mesh is running (exit code 3), and down is then a no-op', () => {
    const out = inMesh('status');
    expect(out.status).toBe(3);
    expect(out.stderr).toContain('no running mesh found');
    const down = tsmesh('down', '--state-dir', stateDir);
    expect(down.status).toBe(0);
    expect(down.stdout).toContain('nothing to stop');
  });
});

describe('tsmesh up in the foreground', () => {
  const started: string[] = [];
  // A failed assertion must not leave a mesh behind.
  afterAll(() => {
    for (const stateDir of started) tsmesh('down', '--state-dir', stateDir);
  });

  /** Starts `up` in the foreground and resolves once it printed the pods table. */
  function foreground(stateDir: string) {
    started.push(stateDir);
    const child = spawn(process.execPath, [CLI, 'up', join(FIXTURES, 'mesh.yaml'), '--state-dir', stateDir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (/^foo +client-0 +READY/m.test(stdout)) resolve();
      });
      child.on('exit', () => reject(new Error(`up exited early:\n${stdout}\n${stderr}`)));
    });
    return { child, ready, exited, out: () => stdout, err: () => stderr };
  }

  it('streams prefixed logs, prints the pods table, and stops gracefully on Ctrl-C', async () => {
    const stateDir = join(tempDir('tsmesh-fg-'), '.tsmesh');
    const run = foreground(stateDir);
    await run.ready;
    expect(run.out()).toMatch(/^web-0\/web +\| listening on 9080$/m);
    expect(run.out()).toMatch(/^NAMESPACE +POD +STATUS +PROXY +VERSION +ADDRESS$/m);
    const index = readState(stateDir)!.index;
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.err()).toContain('Gracefully stopping... (press Ctrl+C again to force)');
    expect(run.out()).toContain('tsmesh: stopped');
    expect(readState(stateDir)).toBeUndefined();
    expect(hostSnapshot(`tsm-${index}-`).netns).toEqual([]);
  });

  it('forces the stop on a second Ctrl-C', async () => {
    const stateDir = join(tempDir('tsmesh-fg-'), '.tsmesh');
    const run = foreground(stateDir);
    await run.ready;
    const index = readState(stateDir)!.index;
    run.child.kill('SIGINT');
    // Signals sent back to back can merge into one: send the second once the first was seen.
    while (!run.err().includes('Gracefully stopping')) await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.err()).toContain('forcing stop');
    expect(readState(stateDir)).toBeUndefined();
    expect(hostSnapshot(`tsm-${index}-`).netns).toEqual([]);
  });
});

describe('tsmesh up input checks', () => {
  it('refuses two objects with the same kind, namespace and name, naming both files', () => {
    const d = tempDir('tsmesh-dup-');
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }\n';
    writeFileSync(join(d, 'a.yaml'), svc);
    writeFileSync(join(d, 'b.yaml'), svc.replace('name: web', 'name: web, namespace: default'));
    const out = tsmesh('up', join(d, 'a.yaml'), join(d, 'b.yaml'), '--state-dir', join(d, '.tsmesh'));
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/duplicate Service default\/web: defined in \S*a\.yaml and in \S*b\.yaml/);
  });

  it('refuses invalid mesh config with every diagnostic, starting nothing', () => {
    const d = tempDir('tsmesh-invalid-');
    writeFileSync(
      join(d, 'bad.yaml'),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews }, weight: -5 }] }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: x }
spec: { host: reviews, trafficPolicy: { tls: { mode: SIMPLE } } }
`,
    );
    const out = tsmesh(
      'up',
      join(FIXTURES, 'mesh.yaml'),
      join(d, 'bad.yaml'),
      '--state-dir',
      join(d, '.tsmesh'),
    );
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('the mesh configuration has 2 errors; nothing was started');
    expect(out.stderr).toContain('VirtualService default/reviews');
    expect(out.stderr).toContain('spec.http[0].route[0].weight: -5 is out of range');
    expect(out.stderr).toContain('SIMPLE is not supported by the bundled runtime');
    expect(readState(join(d, '.tsmesh'))).toBeUndefined();
  });

  it('refuses a container without a local command, naming the annotation to add', () => {
    const d = tempDir('tsmesh-nocmd-');
    writeFileSync(
      join(d, 'd.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec:\n  selector: { matchLabels: { app: x } }\n  template:\n    metadata: { labels: { app: x } }\n    spec: { containers: [{ name: main, image: nginx }] }\n',
    );
    const out = tsmesh('up', join(d, 'd.yaml'), '--state-dir', join(d, '.tsmesh'));
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('Deployment default/x');
    expect(out.stderr).toContain('container main (image nginx) has no local command');
    expect(out.stderr).toContain('tsmesh.dev/local-command');
  });
});

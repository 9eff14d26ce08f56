import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMesh } from '../../runtime/local/runner.js';
import type { MeshState } from '../../runtime/local/state.js';
import { FAKE_TSMESH, FIXTURES, hostSnapshot, processesMatching, ROOT, sh, tempDir } from './helpers.js';

/** Runs the fixture mesh with the stand-in control plane and proxy. */
function fixtureMesh(stateDir: string, mode: 'netns' | 'loopback') {
  const out: string[] = [];
  const mesh = new LocalMesh({
    paths: [join(FIXTURES, 'mesh.yaml')],
    stateDir,
    cwd: ROOT,
    mode,
    tsmesh: FAKE_TSMESH,
    readyTimeoutMs: 20_000,
    out: { write: (s: string) => out.push(s) } as any,
  });
  return { mesh, out };
}

function journal(stateDir: string): { url: string; body: any }[] {
  return readFileSync(join(stateDir, 'control-plane', 'journal.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('tsmesh up as root: network namespaces', () => {
  const stateDir = join(tempDir('tsmesh-runner-'), '.tsmesh');
  let before: ReturnType<typeof hostSnapshot>;
  let state: MeshState;
  let run: ReturnType<typeof fixtureMesh>;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  beforeAll(async () => {
    run = fixtureMesh(stateDir, 'netns');
    before = hostSnapshot();
    state = await run.mesh.start();
    // Other tests may run meshes meanwhile: watch this instance's namespaces only.
    before.netns = before.netns.filter((n) => n.startsWith(`tsm-${state.index}-`));
  });
  afterAll(async () => {
    await run.mesh.stop(true);
  });

  it('starts every replica with a pod name and its own address', () => {
    expect(state.mode).toBe('netns');
    expect(state.pods.map((p) => [p.name, p.namespace, p.phase])).toEqual([
      ['web-0', 'default', 'ready'],
      ['web-1', 'default', 'ready'],
      ['client-0', 'foo', 'ready'],
    ]);
    expect(new Set(state.pods.map((p) => p.address)).size).toBe(3);
    const names = sh('ip', ['netns', 'list']);
    for (const p of state.pods) expect(names).toContain(p.netns!);
  });

  it('mints a bootstrap token per sidecar and registers unmeshed pods with the control plane', () => {
    const calls = journal(join(stateDir));
    const tokens = calls.filter((c) => c.url === '/v1/tokens').map((c) => c.body);
    expect(tokens).toEqual([
      { namespace: 'default', serviceAccount: 'web' },
      { namespace: 'default', serviceAccount: 'web' },
    ]);
    const workloads = calls.filter((c) => c.url === '/v1/workloads').map((c) => c.body);
    expect(workloads).toEqual([
      expect.objectContaining({
        name: 'client-0',
        namespace: 'foo',
        meshed: false,
        address: pod('client-0').address,
      }),
    ]);
    const tokenFile = readFileSync(join(stateDir, 'tokens', 'default.web-0.token'), 'utf8');
    expect(tokenFile).toBe('token-for-default-web');
  });

  it('writes a hosts file with every name form of every service', () => {
    const hosts = readFileSync(`/etc/netns/${pod('client-0').netns}/hosts`, 'utf8');
    expect(hosts).toMatch(
      /^10\.96\.\d+\.\d+ web\.default web\.default\.svc web\.default\.svc\.cluster\.local$/m,
    );
    expect(hosts).toMatch(
      /^10\.96\.\d+\.\d+ client client\.foo client\.foo\.svc client\.foo\.svc\.cluster\.local$/m,
    );
  });

  it('lets an unmeshed pod reach a service by name, landing on the meshed pod inbound capture', () => {
    const answer = JSON.parse(
      sh('ip', ['netns', 'exec', pod('client-0').netns!, 'curl', '-s', 'http://web.default:8080/x']),
    );
    expect(answer).toMatchObject({ host: 'web.default:8080', url: '/x' });
    expect(['web-0', 'web-1']).toContain(answer.inbound);
  });

  it('captures a meshed app outbound call into its own sidecar, which runs with gid 1337', () => {
    const answer = JSON.parse(
      sh('ip', ['netns', 'exec', pod('web-0').netns!, 'curl', '-s', 'http://client.foo/y']),
    );
    expect(answer).toEqual({ sidecar: 'web-0', host: 'client.foo', url: '/y', gid: 1337 });
  });

  it('gives apps their declared env, PORT and TSMESH_POD_IP', () => {
    const web1 = pod('web-1');
    const answer = JSON.parse(
      sh('ip', ['netns', 'exec', web1.netns!, 'curl', '-s', `http://${web1.address}:9080/`]),
    );
    expect(answer).toEqual({ app: 'web', pod: 'web-1', url: '/', proxy: null });
  });

  it('stops everything and leaves the host as it was', async () => {
    await run.mesh.stop();
    expect(hostSnapshot(`tsm-${state.index}-`)).toEqual(before);
    expect(processesMatching(stateDir)).toEqual([]);
    for (const p of state.pods) expect(() => readFileSync(`/etc/netns/${p.netns}/hosts`)).toThrow();
  });
});

describe('tsmesh up fallback: loopback addresses and an explicit proxy', () => {
  const stateDir = join(tempDir('tsmesh-runner-'), '.tsmesh');
  let run: ReturnType<typeof fixtureMesh>;
  let state: MeshState;
  beforeAll(async () => {
    run = fixtureMesh(stateDir, 'loopback');
    state = await run.mesh.start();
  });
  afterAll(async () => {
    await run.mesh.stop(true);
  });

  it('binds apps to their pod loopback address with HTTP_PROXY pointing at their sidecar', async () => {
    const web0 = state.pods.find((p) => p.name === 'web-0')!;
    expect(web0.address).toMatch(/^127\.42\.\d+\.\d+$/);
    const res = await fetch(`http://${web0.address}:9080/hello`);
    expect(await res.json()).toEqual({
      app: 'web',
      pod: 'web-0',
      url: '/hello',
      proxy: `http://${web0.address}:15001`,
    });
    expect(web0.execEnv.http_proxy).toBe(`http://${web0.address}:15001`);
  });

  it('prefixes every log line with its pod', () => {
    const lines = run.out.join('').split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^web-0\/web +\| listening on 9080$/));
    expect(lines).toContainEqual(expect.stringMatching(/^client-0 +\| listening on 7000$/));
  });
});

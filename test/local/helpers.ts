/** Shared helpers of the local runner tests: the stand-in tsmesh, host snapshots, shell calls. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'test/local/fixtures');
/** The stand-in control plane and proxy (speaks the same flags and admin calls). */
export const FAKE_TSMESH = [process.execPath, join(FIXTURES, 'fake-tsmesh.mjs')];
export const CLI = join(ROOT, 'build/runtime/cli/main.js');

export function sh(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    timeout: 60_000,
    cwd: ROOT,
    env: options.env ?? process.env,
    input: options.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs a command and returns its exit status and output instead of throwing. */
export function tryRun(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: sh(cmd, args, { env }), stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Directories made by `tempDir` in this test file, removed after its last test. */
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system's temp folder, removed when the test file ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * What must be the same before `up` and after `down`: the runner's namespaces (every `tsm-`
 * namespace, or those of one instance when other tests run meshes at the same time), the host's
 * links and the host's rules.
 */
export function hostSnapshot(netnsPrefix = 'tsm-'): { netns: string[]; links: string; iptables: string } {
  return {
    netns: sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith(netnsPrefix))
      .sort(),
    links: sh('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => l.replace(/^\d+: /, '').split(':')[0])
      .sort()
      .join('\n'),
    iptables: sh('iptables-save', [])
      .split('\n')
      .filter((l) => !l.startsWith('#') && !/^:\S+ \S+ \[/.test(l))
      .join('\n'),
  };
}

/** Live (not zombie) processes whose command line mentions `needle`, read from /proc. */
export function processesMatching(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmdline.includes(needle) && Number(pid) !== process.pid)
        out.push(`${pid} ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * What the machine allows (root and network namespaces, or the loopback fallback), where
 * leases live, and the cleanup of whatever a mesh left behind (used by `tsmesh down` and when
 * a crashed run's lease is reclaimed).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ownerAlive, readLeases, releaseLeaseFile } from './leases.js';
import { destroyInstance } from './netns.js';
import { type MeshState, removeState } from './state.js';
import { type LocalMode, topology } from './topology.js';

const run = promisify(execFile);

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** `netns` when running as root with working `ip netns` and `iptables`, else `loopback`. */
export async function detectMode(): Promise<LocalMode> {
  if (!isRoot()) return 'loopback';
  try {
    await run('ip', ['netns', 'list'], { timeout: 5_000 });
    await run('iptables', ['--version'], { timeout: 5_000 });
    return 'netns';
  } catch {
    return 'loopback';
  }
}

export function defaultLeaseDir(mode: LocalMode): string {
  return mode === 'netns' ? '/run/tsmesh/leases' : '/tmp/tsmesh-leases';
}

/** True when the recorded process is still the one that was started. */
function alive(p: { pid: number; pidStart: string }): boolean {
  return p.pid > 0 && ownerAlive(p);
}

/**
 * Kills every process the state records (process groups, verified by start time), removes the
 * instance's namespaces and hosts files, its lease and the state file.
 */
export async function cleanupLeftovers(state: MeshState): Promise<void> {
  const procs = [...state.controlPlane.processes, ...state.pods.flatMap((p) => p.processes)].filter(alive);
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    for (const p of procs) {
      try {
        process.kill(-p.pid, sig);
      } catch {
        try {
          process.kill(p.pid, sig);
        } catch {}
      }
    }
    const deadline = Date.now() + (sig === 'SIGTERM' ? 3_000 : 5_000);
    while (procs.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!procs.some(alive)) break;
  }
  if (state.mode === 'netns') await destroyInstance(topology(state.index, 'netns').prefix);
  const lease = readLeases(state.leaseDir).find((l) => l.index === state.index);
  if (lease && (lease.stateDir === state.stateDir || !ownerAlive(lease))) {
    releaseLeaseFile(state.leaseDir, state.index);
  }
  removeState(state.stateDir);
}

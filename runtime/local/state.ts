/**
 * The state of a running local mesh, kept in `<state-dir>/run.json` (default `.tsmesh/`): how
 * the CLI finds the running mesh without flags, and what `tsmesh down` cleans up, also after
 * the runner was killed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalMode } from './topology.js';

export const DEFAULT_STATE_DIR = '.tsmesh';
export const STATE_FILE = 'run.json';

export interface ProcessRecord {
  container: string;
  role: 'control-plane' | 'sidecar' | 'gateway' | 'app';
  pid: number;
  pidStart: string;
}

export interface PodRecord {
  name: string;
  namespace: string;
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  address: string;
  meshed: boolean;
  gateway: boolean;
  netns?: string;
  adminSocket?: string;
  /** Environment `tsmesh exec` adds in the fallback mode (the explicit proxy). */
  execEnv: Record<string, string>;
  ports: { name?: string; containerPort: number }[];
  processes: ProcessRecord[];
  phase: 'starting' | 'ready' | 'failed' | 'exited';
  message?: string;
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  address?: string;
  ports: { name?: string; port: number; targetPort: number | string }[];
}

export interface MeshState {
  version: 1;
  /** The runner process (the daemon after --detach). */
  pid: number;
  pidStart: string;
  mode: LocalMode;
  index: number;
  leaseDir: string;
  stateDir: string;
  root: string;
  startedAt: string;
  phase: 'starting' | 'ready' | 'stopping' | 'failed';
  message?: string;
  files: string[];
  socketDir: string;
  controlPlane: {
    address: string;
    namespace: string;
    netns?: string;
    adminSocket: string;
    caDir: string;
    processes: ProcessRecord[];
  };
  pods: PodRecord[];
  services: ServiceRecord[];
  /** The ingress gateway: the URL to use from this machine and the pod address behind it. */
  ingress?: { url: string; target?: string };
}

export function statePath(stateDir: string): string {
  return join(resolve(stateDir), STATE_FILE);
}

export function readState(stateDir: string): MeshState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(stateDir), 'utf8')) as MeshState;
  } catch {
    return undefined;
  }
}

/** Atomic write (rename), readable by the owner only. */
export function writeState(state: MeshState): void {
  const file = statePath(state.stateDir);
  mkdirSync(state.stateDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function removeState(stateDir: string): void {
  rmSync(statePath(stateDir), { force: true });
}

/**
 * Where admin sockets go: `<state-dir>/sock`, unless that path is too long for a Unix socket
 * (108 bytes), then a directory under /tmp named after the state dir.
 */
export function socketDir(stateDir: string): string {
  const preferred = join(resolve(stateDir), 'sock');
  if (preferred.length + 40 < 100) return preferred;
  const hash = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 12);
  return join('/tmp', `tsmesh-${hash}`);
}

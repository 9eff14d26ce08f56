/**
 * How operator commands find the running mesh: `<state-dir>/run.json` (default `.tsmesh/`),
 * and the pod of a workload (`tsmesh exec reviews-v1`, `-n` for another namespace).
 */
import { ownerAlive } from './leases.js';
import { DEFAULT_STATE_DIR, type MeshState, type PodRecord, readState } from './state.js';

/** Exit codes shared by the operator commands. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notRunning: 3,
  notFound: 4,
} as const;

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export function findMesh(stateDir = DEFAULT_STATE_DIR): MeshState {
  const state = readState(stateDir);
  if (!state) {
    throw new CliError(
      `no running mesh found in ${stateDir}/ (start one with: tsmesh up --detach)`,
      EXIT.notRunning,
    );
  }
  if (!ownerAlive(state)) {
    throw new CliError(
      `the mesh in ${stateDir}/ is not running (its runner, pid ${state.pid}, is gone); clean up with: tsmesh down`,
      EXIT.notRunning,
    );
  }
  return state;
}

/**
 * The pod for a name: a pod name (`reviews-v1-0`), a workload (`reviews-v1`, first ready pod),
 * or an `app` label (`reviews`, first ready pod), in `namespace` (default `default`).
 */
export function findPod(state: MeshState, name: string, namespace = 'default'): PodRecord {
  const inNs = state.pods.filter((p) => p.namespace === namespace);
  const ready = (pods: PodRecord[]) => pods.find((p) => p.phase === 'ready') ?? pods[0];
  const pod =
    inNs.find((p) => p.name === name) ??
    ready(inNs.filter((p) => p.workload === name)) ??
    ready(inNs.filter((p) => p.labels.app === name));
  if (!pod) {
    const known = [...new Set(inNs.map((p) => p.workload))].sort().join(', ') || 'none';
    throw new CliError(
      `no pod or workload '${name}' in namespace ${namespace} (workloads there: ${known})`,
      EXIT.notFound,
    );
  }
  return pod;
}

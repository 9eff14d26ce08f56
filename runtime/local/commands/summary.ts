/** What `tsmesh up` prints once the mesh is ready: the pods table and the ingress URL. */
import type { Writable } from 'node:stream';
import type { MeshState } from '../state.js';
import { table } from '../table.js';

export function podRows(state: MeshState): string[][] {
  return state.pods.map((p) => [
    p.namespace,
    p.name,
    p.phase.toUpperCase(),
    p.meshed ? 'sidecar' : p.gateway ? 'gateway' : 'none',
    p.labels.version ?? '',
    p.address,
  ]);
}

export function printSummary(state: MeshState, out: Writable, color: boolean): void {
  const bold = (s: string) => (color ? `\u001b[1m${s}\u001b[0m` : s);
  out.write(
    `\n${bold(`tsmesh: ${state.pods.length} pods ready`)} (${state.mode === 'netns' ? 'network namespaces, transparent capture' : 'loopback fallback, explicit proxy'})\n\n`,
  );
  out.write(table(['namespace', 'pod', 'status', 'proxy', 'version', 'address'], podRows(state)));
  if (state.ingress) {
    out.write(
      `\ningress: ${state.ingress.url}${state.ingress.target ? `  (${state.ingress.target})` : ''}\n`,
    );
  }
  out.write('\n');
}

/**
 * Reads the sidecars' Istio-standard metrics through their admin sockets: the request counts
 * per source and destination that the demo and the end-to-end tests report.
 */
import { adminRequest } from './admin-client.js';
import type { MeshState } from './state.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the samples only). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 ? line.slice(0, brace) : line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const value = Number(line.slice(space + 1));
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

/** `istio_requests_total` of every sidecar in the mesh, each sample tagged with its pod. */
export async function requestTotals(state: MeshState): Promise<(Sample & { pod: string })[]> {
  const pods = state.pods.filter((p) => p.adminSocket);
  const all = await Promise.all(
    pods.map(async (p) => {
      try {
        const res = await adminRequest<string>(p.adminSocket!, {
          path: '/stats/prometheus',
          timeoutMs: 5_000,
        });
        return parsePrometheus(String(res.text))
          .filter((s) => s.name === 'istio_requests_total')
          .map((s) => ({ ...s, pod: p.name }));
      } catch {
        return [];
      }
    }),
  );
  return all.flat();
}

/**
 * The SNI a client sidecar sends to a server sidecar: `outbound_.<port>_.<subset>_.<host>`, as
 * Istio names its clusters. The server learns the app port from it, so no original-destination
 * lookup is needed for sidecar-to-sidecar traffic.
 */

const PREFIX = 'outbound_.';

export function formatMeshSni(port: number, subset: string | undefined, host: string): string {
  return `${PREFIX}${port}_.${subset ?? ''}_.${host}`;
}

export interface MeshSni {
  port: number;
  subset?: string;
  host: string;
}

export function parseMeshSni(sni: string | undefined | null | false): MeshSni | undefined {
  if (typeof sni !== 'string' || !sni.startsWith(PREFIX)) return undefined;
  const rest = sni.slice(PREFIX.length);
  const a = rest.indexOf('_.');
  if (a < 0) return undefined;
  const b = rest.indexOf('_.', a + 2);
  if (b < 0) return undefined;
  const port = Number(rest.slice(0, a));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const subset = rest.slice(a + 2, b);
  const host = rest.slice(b + 2);
  if (!host) return undefined;
  return subset ? { port, subset, host } : { port, host };
}

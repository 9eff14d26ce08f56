/**
 * Field paths as messages print them: `spec.http[1].route[0].weight`, with keys that are not
 * plain identifiers quoted (`metadata.labels["app.kubernetes.io/name"]`, `headers["end-user"]`).
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export type PathSegment = string | number;

/** Joins segments into a path string. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const seg of segments) out = joinPath(out, seg);
  return out;
}

/** Appends one segment to a path string. */
export function joinPath(path: string, seg: PathSegment): string {
  if (typeof seg === 'number') return `${path}[${seg}]`;
  if (IDENTIFIER.test(seg)) return path === '' ? seg : `${path}.${seg}`;
  return `${path}[${JSON.stringify(seg)}]`;
}

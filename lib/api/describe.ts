/** How messages show a bad value. */

/** A short description of a value for messages: its JSON (shortened) or its type. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'object') return `a mapping (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'string') return JSON.stringify(truncate(value));
  return String(value);
}

function truncate(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

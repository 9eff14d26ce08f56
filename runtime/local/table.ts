/**
 * kubectl-style output: borderless, left-aligned columns with upper-case headers, or the same
 * data as JSON or YAML (`-o json|yaml`).
 */
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml' | 'wide';

export function parseOutput(value: string | undefined): OutputFormat {
  const v = value ?? 'table';
  if (v === 'table' || v === 'json' || v === 'yaml' || v === 'wide') return v;
  throw new Error(`unknown output format '${v}'; use json, yaml or wide`);
}

export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [
    headers.map((h) => h.toUpperCase()),
    ...rows.map((r) => r.map((c) => (c === undefined || c === null || c === '' ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => stripAnsi(r[i] ?? '').length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - stripAnsi(c).length)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export function render(format: OutputFormat, data: unknown, asTable: () => string): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return stringify(data);
  return asTable();
}

function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}

/** `3m`, `2h`, `5d` from now until `iso` (negative: `expired`). */
export function until(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = Date.parse(iso) - now;
  if (Number.isNaN(ms)) return '-';
  if (ms <= 0) return 'expired';
  return age(ms);
}

export function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * Minimal Prometheus primitives for the hot path: a counter cell and a histogram cell that
 * only add numbers, and the text exposition format (version 0.0.4) rendered on scrape.
 * Histograms keep per-bucket (non-cumulative) counts so an observation touches one slot;
 * cumulation happens at scrape time. docs/telemetry.md has the measurement behind hand-writing
 * this instead of using prom-client.
 */

/** Istio's request duration buckets, in milliseconds (SEMANTICS.md). */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
]);

/** Istio's request/response size buckets, in bytes (powers of ten from 1 to 1e8). */
export const SIZE_BUCKETS_BYTES: readonly number[] = Object.freeze([
  1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
]);

export class CounterCell {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramCell {
  /** counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is (last bound, +Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** Escapes a label value for the text format (backslash, double quote, line feed). */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value)
    ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    : value;
}

/** `a="1",b="2"` for the given names and values (no braces). */
export function labelPairs(names: readonly string[], values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += `${names[i]}="${escapeLabelValue(values[i])}"`;
  }
  return out;
}

/** Formats a sample value: integers without exponent, +Inf/-Inf/NaN spelled as Prometheus does. */
export function formatValue(v: number): string {
  if (Number.isInteger(v)) return Number.isSafeInteger(v) ? String(v) : v.toExponential();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

export function header(
  out: string[],
  name: string,
  type: 'counter' | 'histogram' | 'gauge',
  help: string,
): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
  out.push(`# TYPE ${name} ${type}`);
}

export function counterLine(out: string[], name: string, labels: string, cell: CounterCell): void {
  out.push(labels ? `${name}{${labels}} ${formatValue(cell.value)}` : `${name} ${formatValue(cell.value)}`);
}

export function histogramLines(out: string[], name: string, labels: string, cell: HistogramCell): void {
  const sep = labels ? ',' : '';
  let cumulative = 0;
  for (let i = 0; i < cell.bounds.length; i++) {
    cumulative += cell.counts[i];
    out.push(`${name}_bucket{${labels}${sep}le="${formatValue(cell.bounds[i])}"} ${formatValue(cumulative)}`);
  }
  cumulative += cell.counts[cell.bounds.length];
  out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${formatValue(cumulative)}`);
  const braces = labels ? `{${labels}}` : '';
  out.push(`${name}_sum${braces} ${formatValue(cell.sum)}`);
  out.push(`${name}_count${braces} ${formatValue(cell.count)}`);
}

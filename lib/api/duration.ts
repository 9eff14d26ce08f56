/**
 * Durations as Istio reads them from YAML: a sequence of decimal numbers, each with a unit
 * (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`), such as `1.5s`, `500ms`, `1m`, `1h30m` or `2s500ms`.
 * That is Go's duration syntax, which Istio's protobuf JSON decoding accepts for every
 * google.protobuf.Duration field. Istio also requires millisecond precision, so `1500us` is
 * refused. Values are exact: the arithmetic is done on integers, never on binary fractions.
 */

/** Thrown for text that is not a duration; `reason` says what is wrong. */
export class DurationError extends Error {
  constructor(
    readonly text: string,
    readonly reason: string,
  ) {
    super(`invalid duration ${JSON.stringify(text)}: ${reason}`);
    this.name = 'DurationError';
  }
}

const NANOS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** The largest duration Go (and so Istio) can represent: 2^63-1 nanoseconds. */
const MAX_NANOS = 2n ** 63n - 1n;
const NANOS_PER_MS = 1_000_000n;
const ALLOWED = 'a non-negative number with a unit (h, m, s, ms), such as 1.5s, 500ms, 1m or 1h30m';

/** Parses a duration; returns milliseconds. Throws {@link DurationError}. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string') throw new DurationError(String(text), `expected a string, ${ALLOWED}`);
  if (text === '') throw new DurationError(text, `empty; expected ${ALLOWED}`);
  if (text.startsWith('-')) throw new DurationError(text, 'negative durations are not allowed');
  let rest = text.startsWith('+') ? text.slice(1) : text;
  if (rest === '') throw new DurationError(text, `expected ${ALLOWED}`);
  let total = 0n;
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    const whole = m[1] ?? '';
    const fraction = m[2] ?? '';
    if (whole === '' && fraction === '') throw new DurationError(text, `expected a number at "${rest}"`);
    rest = rest.slice(m[0].length);
    const unitMatch = /^[^\d.]+/.exec(rest);
    if (!unitMatch) throw new DurationError(text, `missing unit after "${m[0]}"; expected ${ALLOWED}`);
    const unit = unitMatch[0];
    const scale = NANOS_PER_UNIT[unit];
    if (scale === undefined) {
      throw new DurationError(text, `unknown unit "${unit}"; allowed units are h, m, s, ms, us, ns`);
    }
    rest = rest.slice(unit.length);
    total += BigInt(whole || '0') * scale + fractionToNanos(fraction, scale);
    if (total > MAX_NANOS) throw new DurationError(text, 'too large');
  }
  if (total % NANOS_PER_MS !== 0n) {
    throw new DurationError(text, 'only millisecond precision is supported');
  }
  return Number(total / NANOS_PER_MS);
}

/** `fraction` digits after the point, times `scale`, truncated to whole nanoseconds (as Go does). */
function fractionToNanos(fraction: string, scale: bigint): bigint {
  if (fraction === '') return 0n;
  return (BigInt(fraction) * scale) / 10n ** BigInt(fraction.length);
}

/** Why `text` is not a valid duration, or undefined when it is. */
export function durationError(text: unknown): string | undefined {
  if (typeof text !== 'string') return `expected a string, ${ALLOWED}`;
  try {
    parseDuration(text);
    return undefined;
  } catch (err) {
    return err instanceof DurationError ? err.reason : String(err);
  }
}

/**
 * Renders milliseconds the way a person writes them and {@link parseDuration} reads them back:
 * the largest whole unit (`2h`, `5m`, `30s`, `250ms`), else seconds with a fraction (`1.5s`).
 */
export function formatDuration(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0) {
    throw new RangeError(`a duration must be a whole, non-negative number of milliseconds, got ${ms}`);
  }
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms < 1000) return `${ms}ms`;
  const fraction = String(ms % 1000)
    .padStart(3, '0')
    .replace(/0+$/, '');
  return `${Math.floor(ms / 1000)}.${fraction}s`;
}

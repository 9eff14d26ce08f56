/**
 * Input checks shared by the constructs. Every failure throws at once with a lower-case message
 * naming the construct, the field, the bad value and what is allowed.
 */
import type { Duration } from 'cdk8s';
import { formatDuration } from '../../lib/api/duration.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `what` names the construct and field, e.g. `meshservice 'reviews': version`. */
export function checkDnsLabel(what: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS_LABEL.test(value)) {
    throw new Error(
      `${what} must be a DNS label (lower-case letters, digits and '-', at most 63 characters), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function checkDnsSubdomain(what: string, value: string): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    throw new Error(
      `${what} must be a DNS name (lower-case letters, digits, '-' and '.'), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function checkPort(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw new Error(`${what} must be a port number between 1 and 65535, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkInteger(
  what: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw new Error(`${what} must be a whole number ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkPercent(what: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
    throw new Error(`${what} must be between 0 and 100, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Renders a cdk8s Duration as an Istio duration string (`500ms`, `3s`, `1.5s`). */
export function renderDuration(what: string, duration: Duration): string {
  const ms = duration.toMilliseconds();
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new Error(`${what} must be a positive whole number of milliseconds, got ${ms}ms`);
  }
  return formatDuration(ms);
}

/** Returns a copy with object keys sorted at every level, so rendered output is deterministic. */
export function sortKeysDeep<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => sortKeysDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeysDeep(v);
    }
    return out as T;
  }
  return value;
}

/** Drops undefined fields and empty objects/arrays, so optional sections do not render as `{}`. */
export function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => compact(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const c = compact(v);
      if (c !== null && typeof c === 'object' && !Array.isArray(c) && Object.keys(c).length === 0) continue;
      out[k] = c;
    }
    return out as T;
  }
  return value;
}

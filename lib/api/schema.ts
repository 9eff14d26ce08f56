/**
 * A small checker for configuration shapes. Each check walks one value, reports every problem
 * it finds (never stopping at the first), and marks the fields and values that are valid Istio
 * but not implemented by the bundled runtime. The kind-specific shapes are in ./schemas/.
 */

import { describe } from './describe.js';
import type { DiagnosticCodeKey } from './diagnostics.js';
import { durationError, parseDuration } from './duration.js';
import { joinPath } from './path.js';
import { regexError } from './regex.js';

export interface CheckContext {
  /** `bundled` reports unimplemented fields (TSM0001); `istio` accepts them. */
  readonly target: 'bundled' | 'istio';
  report(key: DiagnosticCodeKey, path: string, message: string): void;
}

export type Check = (value: unknown, path: string, ctx: CheckContext) => void;

/** A field of an object shape. */
export interface Field {
  check: Check;
  /** Valid Istio that the bundled runtime does not implement; the text says what to do instead. */
  unsupported?: string;
  /** The field must be present. */
  required?: boolean;
}

const NOT_SUPPORTED = 'not supported by the bundled runtime (valid for target istio)';

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(ctx: CheckContext, path: string, message: string): void {
  ctx.report('schemaValidationError', path, message);
}

export function notSupported(ctx: CheckContext, path: string, message = NOT_SUPPORTED): void {
  if (ctx.target === 'bundled') ctx.report('notSupported', path, message);
}

export const any: Check = () => {};

export function str(opts: { nonEmpty?: boolean; check?: (s: string) => string | undefined } = {}): Check {
  return (v, path, ctx) => {
    if (typeof v !== 'string') return invalid(ctx, path, `expected a string, got ${describe(v)}`);
    if (opts.nonEmpty && v === '') return invalid(ctx, path, 'must not be empty');
    const problem = opts.check?.(v);
    if (problem) invalid(ctx, path, problem);
  };
}

export function int(opts: { min?: number; max?: number } = {}): Check {
  const min = opts.min ?? -(2 ** 31);
  const max = opts.max ?? 2 ** 31 - 1;
  return (v, path, ctx) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      return invalid(ctx, path, `expected an integer from ${min} to ${max}, got ${describe(v)}`);
    }
    if (v < min || v > max)
      invalid(ctx, path, `${v} is out of range; expected an integer from ${min} to ${max}`);
  };
}

export function num(opts: { min: number; max: number }): Check {
  return (v, path, ctx) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return invalid(ctx, path, `expected a number from ${opts.min} to ${opts.max}, got ${describe(v)}`);
    }
    if (v < opts.min || v > opts.max) {
      invalid(ctx, path, `${v} is out of range; expected a number from ${opts.min} to ${opts.max}`);
    }
  };
}

export const bool: Check = (v, path, ctx) => {
  if (typeof v !== 'boolean') invalid(ctx, path, `expected true or false, got ${describe(v)}`);
};

/** One of `values`; the ones in `unsupported` are valid Istio the bundled runtime does not implement. */
export function oneOf(values: readonly string[], unsupported: readonly string[] = []): Check {
  const supported = values.filter((x) => !unsupported.includes(x));
  return (v, path, ctx) => {
    if (typeof v !== 'string' || !values.includes(v)) {
      return invalid(ctx, path, `${describe(v)} is not one of ${values.join(', ')}`);
    }
    if (unsupported.includes(v)) {
      notSupported(
        ctx,
        path,
        `${v} is not supported by the bundled runtime; supported: ${supported.join(', ')}`,
      );
    }
  };
}

/** A duration string; Istio requires at least 1ms for most duration fields. */
export function duration(opts: { minMs?: number } = { minMs: 1 }): Check {
  return (v, path, ctx) => {
    const problem = durationError(v);
    if (problem) return invalid(ctx, path, `${describe(v)} is not a valid duration: ${problem}`);
    const ms = parseDuration(v as string);
    if (opts.minMs !== undefined && ms < opts.minMs) {
      invalid(ctx, path, `${describe(v)} is too short; expected at least ${opts.minMs}ms`);
    }
  };
}

export const regex: Check = (v, path, ctx) => {
  if (typeof v !== 'string') return invalid(ctx, path, `expected an RE2 regex string, got ${describe(v)}`);
  const problem = regexError(v);
  if (problem) invalid(ctx, path, `${describe(v)} is not a valid RE2 regex: ${problem}`);
};

export function list(item: Check, opts: { minItems?: number } = {}): Check {
  return (v, path, ctx) => {
    if (!Array.isArray(v)) return invalid(ctx, path, `expected a list, got ${describe(v)}`);
    if (opts.minItems !== undefined && v.length < opts.minItems) {
      invalid(
        ctx,
        path,
        `expected at least ${opts.minItems} item${opts.minItems === 1 ? '' : 's'}, got ${v.length}`,
      );
    }
    for (const [i, x] of v.entries()) item(x, joinPath(path, i), ctx);
  };
}

/** A mapping with free keys: `key` checks each key, `value` each value. */
export function map(value: Check, key?: (k: string) => string | undefined): Check {
  return (v, path, ctx) => {
    if (!isRecord(v)) return invalid(ctx, path, `expected a mapping, got ${describe(v)}`);
    for (const [k, x] of Object.entries(v)) {
      const problem = key?.(k);
      if (problem) invalid(ctx, joinPath(path, k), problem);
      value(x, joinPath(path, k), ctx);
    }
  };
}

export interface ObjectOptions {
  /** Extra checks on the whole object, after its fields. */
  check?: (obj: Record<string, unknown>, path: string, ctx: CheckContext) => void;
  /** Report fields not in the shape (default) or leave them alone (Kubernetes objects). */
  unknownFields?: 'error' | 'ignore';
}

/** A mapping with known fields. A bare check is a supported, optional field. */
export function obj(fields: Record<string, Check | Field>, opts: ObjectOptions = {}): Check {
  const normalized = Object.entries(fields).map(
    ([name, f]) => [name, typeof f === 'function' ? { check: f } : f] as const,
  );
  const byName = new Map(normalized);
  const allowed = normalized.map(([n]) => n).join(', ');
  return (v, path, ctx) => {
    if (!isRecord(v)) return invalid(ctx, path, `expected a mapping, got ${describe(v)}`);
    for (const [name, field] of normalized) {
      if (field.required && (v[name] === undefined || v[name] === null)) {
        invalid(ctx, joinPath(path, name), 'required field is missing');
      }
    }
    for (const [name, value] of Object.entries(v)) {
      const field = byName.get(name);
      const fieldPath = joinPath(path, name);
      if (!field) {
        if (opts.unknownFields !== 'ignore') {
          invalid(ctx, fieldPath, `unknown field ${JSON.stringify(name)}; allowed fields: ${allowed}`);
        }
        continue;
      }
      if (value === null && !field.required) continue; // YAML `field:` with no value means unset
      if (field.unsupported !== undefined) {
        notSupported(
          ctx,
          fieldPath,
          field.unsupported === '' ? NOT_SUPPORTED : `${NOT_SUPPORTED}; ${field.unsupported}`,
        );
      }
      field.check(value, fieldPath, ctx);
    }
    opts.check?.(v, path, ctx);
  };
}

export function required(check: Check): Field {
  return { check, required: true };
}

/** A valid field the bundled runtime does not implement; `hint` says what to use instead. */
export function unsupported(check: Check = any, hint = ''): Field {
  return { check, unsupported: hint };
}

/** Reports an invalid value from an object-level check. */
export function reportInvalid(ctx: CheckContext, path: string, message: string): void {
  invalid(ctx, path, message);
}

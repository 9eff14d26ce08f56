/**
 * Regular expressions from configuration (StringMatch `regex`, AuthorizationPolicy, rewrites).
 *
 * Istio and Envoy evaluate these with RE2: RE2 syntax (`(?i)`, `\pL`, no backreferences, no
 * lookaround) and a match must cover the whole value. JavaScript's RegExp has neither the syntax
 * nor linear-time matching, so every pattern from config goes through re2js here; nothing else
 * in tsmesh compiles a config pattern.
 */
import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';

/**
 * re2js (a 260 KB module) is loaded on the first compile: a proxy whose config has no regex
 * never holds it in memory.
 */
let engine: typeof RE2JSClass | undefined;
function re2(): typeof RE2JSClass {
  engine ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JSClass }).RE2JS;
  return engine;
}

/** A pattern compiled once, matched many times. */
export interface CompiledRegex {
  /** The pattern as written in the config. */
  readonly source: string;
  /** True when the pattern matches the whole value (RE2 full-match semantics). */
  test(value: string): boolean;
  /**
   * Replaces every match in `value` with `replacement`, where `\1`..`\9` refer to capture groups
   * (Envoy's `regex_rewrite` substitution syntax, used by `uriRegexRewrite`).
   */
  replaceAll(value: string, replacement: string): string;
}

/** Thrown by {@link compileRegex} for a pattern that is not valid RE2. */
export class RegexSyntaxError extends Error {
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`invalid RE2 regex ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'RegexSyntaxError';
  }
}

/**
 * Compiled patterns are pure values, so one bounded memo serves every caller: route tables,
 * validation and policy compile the same few patterns over and over.
 */
const CACHE_LIMIT = 2048;
const cache = new Map<string, CompiledRegex>();

/** Compiles an RE2 pattern; throws {@link RegexSyntaxError} when it is not valid RE2. */
export function compileRegex(pattern: string): CompiledRegex {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const compiled = build(pattern);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(pattern, compiled);
  return compiled;
}

/** Why `pattern` is not valid RE2, or undefined when it is. */
export function regexError(pattern: string): string | undefined {
  if (cache.has(pattern)) return undefined;
  try {
    compileRegex(pattern);
    return undefined;
  } catch (err) {
    return err instanceof RegexSyntaxError ? err.reason : String(err);
  }
}

function build(pattern: string): CompiledRegex {
  if (typeof pattern !== 'string') throw new RegexSyntaxError(String(pattern), 'a regex must be a string');
  let re: RE2JSClass;
  try {
    // Flags 0: RE2 defaults. Never LOOKBEHINDS, which is not RE2 and not linear.
    re = re2().compile(pattern, 0);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new RegexSyntaxError(pattern, message.replace(/^error parsing regexp: /, ''));
  }
  return {
    source: pattern,
    test: (value: string) => re.testExact(value),
    replaceAll: (value: string, replacement: string) =>
      re.matcher(value).replaceAll(toJavaReplacement(replacement), true),
  };
}

/** Envoy writes group references as `\1`; re2js (Java style) as `$1` and escapes `$` and `\`. */
function toJavaReplacement(replacement: string): string {
  let out = '';
  for (let i = 0; i < replacement.length; i++) {
    const ch = replacement[i];
    const next = replacement[i + 1];
    if (ch === '\\' && next !== undefined && next >= '0' && next <= '9') {
      out += '$' + next;
      i++;
    } else if (ch === '\\' || ch === '$') {
      out += '\\' + ch;
    } else {
      out += ch;
    }
  }
  return out;
}

import { compileRegex } from '../../lib/api/regex.js';

/** Checks a pattern with the RE2 engine the sidecar runs (never JavaScript's RegExp). */
export function checkRegex(what: string, pattern: string): string {
  if (typeof pattern !== 'string')
    throw new Error(`${what} must be an RE2 pattern string, got ${JSON.stringify(pattern)}`);
  try {
    compileRegex(pattern);
  } catch (err) {
    throw new Error(
      `${what}: ${JSON.stringify(pattern)} is not a valid RE2 pattern (${(err as Error).message})`,
    );
  }
  return pattern;
}

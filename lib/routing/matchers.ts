/**
 * Request matching for VirtualService `http[].match[]`, compiled once per route table. Regexes
 * go through lib/api/regex.ts (RE2, whole-value match); nothing here allocates per request
 * except query-string parsing, and that only for rules that match on query parameters.
 */
import { type CompiledRegex, compileRegex } from '../api/regex.js';
import type { HTTPMatchRequest, StringMatch } from '../api/types.js';
import type { RequestAttributes } from './types.js';

const EXACT = 0;
const PREFIX = 1;
const REGEX = 2;
const PRESENT = 3;

/** A StringMatch ready to evaluate. */
export interface StringMatcher {
  kind: 0 | 1 | 2 | 3;
  value: string;
  regex?: CompiledRegex;
  /** For regexes: a literal every matching value starts with (a cheap pre-check), or ''. */
  literalPrefix: string;
  ignoreCase: boolean;
}

const META = new Set(['\\', '.', '[', ']', '(', ')', '{', '}', '*', '+', '?', '|', '^', '$']);

/**
 * The literal text every full match of `pattern` must start with: the leading characters before
 * any regex syntax, minus the last one when a quantifier follows it. Patterns with alternation
 * get no prefix, so the pre-check can never reject a value the regex would accept.
 */
export function regexLiteralPrefix(pattern: string): string {
  if (pattern.includes('|')) return '';
  let i = 0;
  while (i < pattern.length && !META.has(pattern[i])) i++;
  let prefix = pattern.slice(0, i);
  const next = pattern[i];
  if (prefix !== '' && (next === '*' || next === '?' || next === '{' || next === '+')) {
    // The quantifier applies to the last code point, which may be a surrogate pair.
    const last = prefix.charCodeAt(prefix.length - 1);
    prefix = prefix.slice(0, last >= 0xdc00 && last <= 0xdfff && prefix.length >= 2 ? -2 : -1);
  }
  return prefix;
}

/** Compiles a StringMatch; an empty one means "present". */
export function compileStringMatch(m: StringMatch | undefined, ignoreCase = false): StringMatcher {
  if (m?.exact !== undefined) {
    return {
      kind: EXACT,
      value: ignoreCase ? m.exact.toLowerCase() : m.exact,
      literalPrefix: '',
      ignoreCase,
    };
  }
  if (m?.prefix !== undefined) {
    return {
      kind: PREFIX,
      value: ignoreCase ? m.prefix.toLowerCase() : m.prefix,
      literalPrefix: '',
      ignoreCase,
    };
  }
  if (m?.regex !== undefined) {
    const regex = compileRegex(m.regex);
    return {
      kind: REGEX,
      value: m.regex,
      regex,
      literalPrefix: regexLiteralPrefix(m.regex),
      ignoreCase: false,
    };
  }
  return { kind: PRESENT, value: '', literalPrefix: '', ignoreCase: false };
}

/** Evaluates a compiled StringMatch against a value (undefined = absent). */
export function testString(m: StringMatcher, value: string | undefined): boolean {
  if (value === undefined) return false;
  switch (m.kind) {
    case EXACT:
      return (m.ignoreCase ? value.toLowerCase() : value) === m.value;
    case PREFIX:
      return (m.ignoreCase ? value.toLowerCase() : value).startsWith(m.value);
    case REGEX:
      return value.startsWith(m.literalPrefix) && m.regex!.test(value);
    default:
      return true;
  }
}

/** One `match[]` entry with the conditions that are decided per request. */
export interface CompiledMatch {
  name?: string;
  port?: number;
  uri?: StringMatcher;
  scheme?: StringMatcher;
  method?: StringMatcher;
  authority?: StringMatcher;
  headers: readonly (readonly [string, StringMatcher])[];
  withoutHeaders: readonly (readonly [string, StringMatcher])[];
  queryParams: readonly (readonly [string, StringMatcher])[];
  /** The `uri.prefix` value, for prefix rewrites. */
  uriPrefix?: string;
}

function entries(record: Record<string, StringMatch> | undefined): [string, StringMatcher][] {
  if (!record) return [];
  return Object.entries(record).map(
    ([name, m]) => [name.toLowerCase(), compileStringMatch(m)] as [string, StringMatcher],
  );
}

function queryEntries(record: Record<string, StringMatch> | undefined): [string, StringMatcher][] {
  if (!record) return [];
  return Object.entries(record).map(([name, m]) => [name, compileStringMatch(m)] as [string, StringMatcher]);
}

/** Compiles the per-request part of an HTTPMatchRequest. */
export function compileMatch(m: HTTPMatchRequest): CompiledMatch {
  const out: CompiledMatch = {
    headers: entries(m.headers),
    withoutHeaders: entries(m.withoutHeaders),
    queryParams: queryEntries(m.queryParams),
  };
  if (m.name !== undefined) out.name = m.name;
  if (m.port !== undefined) out.port = m.port;
  if (m.uri) {
    out.uri = compileStringMatch(m.uri, m.ignoreUriCase === true);
    if (m.uri.prefix !== undefined) out.uriPrefix = m.uri.prefix;
  }
  if (m.scheme) out.scheme = compileStringMatch(m.scheme);
  if (m.method) out.method = compileStringMatch(m.method);
  if (m.authority) out.authority = compileStringMatch(m.authority);
  return out;
}

/** Parses a query string into first-value parameters (names and values percent-decoded). */
const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

export function parseQuery(query: string | undefined): Readonly<Record<string, string>> {
  if (!query) return NO_PARAMS;
  const out: Record<string, string> = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = safeDecode(eq >= 0 ? part.slice(0, eq) : part);
    if (!(name in out)) out[name] = safeDecode(eq >= 0 ? part.slice(eq + 1) : '');
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}

/** True when every condition of the match entry holds for the request (AND). */
export function testMatch(m: CompiledMatch, req: RequestAttributes): boolean {
  if (m.port !== undefined && m.port !== req.port) return false;
  if (m.uri !== undefined && !testString(m.uri, req.path)) return false;
  if (m.method !== undefined && !testString(m.method, req.method)) return false;
  if (m.authority !== undefined && !testString(m.authority, req.authority)) return false;
  if (m.scheme !== undefined && !testString(m.scheme, req.scheme ?? 'http')) return false;
  const headers = req.headers;
  for (let i = 0; i < m.headers.length; i++) {
    const [name, sm] = m.headers[i];
    if (!testString(sm, headers[name])) return false;
  }
  for (let i = 0; i < m.withoutHeaders.length; i++) {
    const [name, sm] = m.withoutHeaders[i];
    if (testString(sm, headers[name])) return false;
  }
  if (m.queryParams.length > 0) {
    const params = req.queryParams ?? parseQuery(req.query);
    for (let i = 0; i < m.queryParams.length; i++) {
      const [name, sm] = m.queryParams[i];
      if (!testString(sm, params[name])) return false;
    }
  }
  return true;
}

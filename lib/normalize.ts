/**
 * Request-target normalization, done once at the listener; routing, authorization and
 * forwarding all use its result (DESIGN.md §7 "normalize once").
 *
 * Modes follow Istio's `meshConfig.pathNormalization`:
 * - `NONE`: the path is used as received (NUL and control bytes are still rejected).
 * - `BASE` (the default): percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
 *   decoded, `\` becomes `/`, and `.`/`..` segments are removed as RFC 3986 §5.2.4 says.
 * - `MERGE_SLASHES`: BASE, then runs of `/` become one `/`.
 * - `DECODE_AND_MERGE_SLASHES`: first `%2F`/`%2f` become `/` and `%5C`/`%5c` become `\`, then
 *   MERGE_SLASHES.
 * In every mode the fragment is dropped and the query is returned separately, untouched.
 * Invalid percent-encoding (`%` not followed by two hex digits) is rejected unless the mode is
 * NONE; `%00` is always rejected.
 */

export type PathNormalizationMode = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export const DEFAULT_PATH_NORMALIZATION: PathNormalizationMode = 'BASE';

export interface NormalizedTarget {
  /** The normalized path, always starting with `/` (or `*` for `OPTIONS *`). */
  path: string;
  /** The raw query string without `?` (empty when none). */
  query: string;
  /** Present for absolute-form targets (`http://host:port/path`): the authority as written. */
  authority?: string;
  /** Present for absolute-form targets: the scheme, lower-case. */
  scheme?: string;
}

export interface NormalizeOptions {
  mode?: PathNormalizationMode;
}

const HEX = '0123456789abcdefABCDEF';

function isHex(c: string): boolean {
  return c !== '' && HEX.includes(c);
}

function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/** Normalizes a raw request target (origin-form, absolute-form or `*`). */
export function normalizeRequestTarget(
  rawTarget: string,
  options: NormalizeOptions = {},
): NormalizedTarget | { error: string } {
  const mode = options.mode ?? DEFAULT_PATH_NORMALIZATION;
  for (let i = 0; i < rawTarget.length; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f)
      return { error: `request target contains control byte 0x${hex2(c)} at ${i}` };
    if (c > 0x7e) return { error: `request target contains a non-ASCII character at ${i}` };
  }
  if (rawTarget === '') return { error: 'request target is empty' };
  if (rawTarget === '*') return { path: '*', query: '' };

  let rest = rawTarget;
  let authority: string | undefined;
  let scheme: string | undefined;
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1].toLowerCase();
    rest = rest.slice(schemeMatch[0].length);
    let end = rest.length;
    for (const sep of ['/', '?', '#']) {
      const at = rest.indexOf(sep);
      if (at >= 0 && at < end) end = at;
    }
    authority = rest.slice(0, end);
    if (authority === '') return { error: 'absolute-form request target has an empty authority' };
    if (authority.includes('@')) return { error: 'request target must not carry user information' };
    rest = rest.slice(end);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }

  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  let path = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q + 1) : '';
  if (!path.startsWith('/') && !(mode !== 'NONE' && path.startsWith('\\'))) {
    return { error: `request path must start with '/', got '${truncate(path)}'` };
  }

  const pct = checkPercent(path, mode !== 'NONE');
  if (pct) return { error: pct };

  if (mode !== 'NONE') {
    if (mode === 'DECODE_AND_MERGE_SLASHES') path = decodeSlashes(path);
    path = decodeUnreserved(path).replaceAll('\\', '/');
    path = removeDotSegments(path);
    if (mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES') path = path.replace(/\/{2,}/g, '/');
  }
  const out: NormalizedTarget = { path, query };
  if (authority !== undefined) {
    out.authority = authority;
    out.scheme = scheme;
  }
  return out;
}

function hex2(c: number): string {
  return c.toString(16).padStart(2, '0');
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}

function checkPercent(path: string, strict: boolean): string | undefined {
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 1)) {
    const a = path.charAt(i + 1);
    const b = path.charAt(i + 2);
    if (!isHex(a) || !isHex(b)) {
      if (strict) return `invalid percent-encoding at ${i} in request path`;
      continue;
    }
    if (a === '0' && b === '0') return `request path contains an encoded NUL (%00) at ${i}`;
  }
  return undefined;
}

function decodeSlashes(path: string): string {
  return path.replace(/%(2f|5c)/gi, (m) => (m[1] === '2' ? '/' : '\\'));
}

function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9a-fA-F]{2})/g, (m, h: string) => {
    const code = Number.parseInt(h, 16);
    return isUnreserved(code) ? String.fromCharCode(code) : m;
  });
}

/** RFC 3986 §5.2.4 on an absolute path. */
export function removeDotSegments(path: string): string {
  if (!path.includes('.')) return path;
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

/**
 * Request hygiene at every listener (SEMANTICS.md "Request hygiene"): checks on the raw header
 * list that Node's strict parser does not make for us, and the header filtering applied before
 * anything is forwarded (hop-by-hop and mesh-internal headers).
 */
import { HEADERS } from '../../lib/constants.js';

export interface HeaderLimits {
  /** Most header lines a request may carry (counted on the raw headers). */
  maxHeadersCount: number;
}

export interface HygieneError {
  status: 400 | 431;
  /** Short body for the local reply and the access log. */
  message: string;
}

/** Checks a request's raw header list; returns the error to answer with, or undefined. */
export function checkRawHeaders(
  rawHeaders: readonly string[],
  limits: HeaderLimits,
): HygieneError | undefined {
  if (rawHeaders.length / 2 > limits.maxHeadersCount) {
    return { status: 431, message: 'too many request headers' };
  }
  let hosts = 0;
  let contentLengths = 0;
  let transferEncoding = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const len = name.length;
    // Cheap first-letter filter before the case-insensitive compare.
    const c = name.charCodeAt(0) | 0x20;
    if (c === 0x68 && len === 4 && name.toLowerCase() === 'host') hosts++;
    else if (c === 0x63 && len === 14 && name.toLowerCase() === 'content-length') contentLengths++;
    else if (c === 0x74 && len === 17 && name.toLowerCase() === 'transfer-encoding') transferEncoding = true;
    const value = rawHeaders[i + 1];
    for (let j = 0; j < value.length; j++) {
      const v = value.charCodeAt(j);
      if ((v < 0x20 && v !== 0x09) || v === 0x7f)
        return { status: 400, message: `control byte in header ${name}` };
    }
  }
  if (hosts > 1) return { status: 400, message: 'more than one Host header' };
  if (contentLengths > 1) return { status: 400, message: 'more than one Content-Length header' };
  if (contentLengths > 0 && transferEncoding) {
    return { status: 400, message: 'both Content-Length and Transfer-Encoding' };
  }
  return undefined;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
  'http2-settings',
  'expect',
]);

/** True for names set only by the mesh from verified facts. */
export function isMeshInternal(lower: string): boolean {
  return (
    lower === HEADERS.forwardedClientCert ||
    lower.startsWith('x-envoy-') ||
    lower.startsWith('x-tsmesh-') ||
    lower === 'x-forwarded-client-cert'
  );
}

export interface FilterOptions {
  /** Mesh-internal names a trusted sender may pass (lower-case). */
  allowInternal?: ReadonlySet<string>;
  /** Drop the Host header (undici sets it from `host` below). */
  dropHost?: boolean;
  /** More names (lower-case) to drop in the same pass, e.g. the trace headers a hop replaces. */
  drop?: ReadonlySet<string>;
}

export interface FilteredHeaders {
  /** Flat `[name, value, ...]` list, in arrival order. */
  list: string[];
  /** Mesh-internal headers the sender was trusted for (lower-case name → value). */
  trusted: Map<string, string>;
  /** `te: trailers` was present. */
  teTrailers: boolean;
}

/**
 * The headers to forward: hop-by-hop ones dropped (plus those the Connection header names and
 * any `proxy-*`), mesh-internal ones dropped unless allow-listed for this sender.
 */
export function filterRequestHeaders(
  rawHeaders: readonly string[],
  options: FilterOptions = {},
): FilteredHeaders {
  // One pass; the headers a Connection header names are taken out afterwards (rare).
  let connectionNamed: Set<string> | undefined;
  let teTrailers = false;
  const list: string[] = [];
  const trusted = new Map<string, string>();
  const { allowInternal, dropHost, drop } = options;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      connectionNamed ??= new Set();
      for (const t of rawHeaders[i + 1].split(',')) connectionNamed.add(t.trim().toLowerCase());
      continue;
    }
    if (lower === 'te') {
      for (const t of rawHeaders[i + 1].split(','))
        if (t.trim().toLowerCase() === 'trailers') teTrailers = true;
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) continue;
    if (dropHost && lower === 'host') continue;
    if (drop?.has(lower)) continue;
    if (isMeshInternal(lower)) {
      if (allowInternal?.has(lower)) trusted.set(lower, rawHeaders[i + 1]);
      continue;
    }
    list.push(name, rawHeaders[i + 1]);
  }
  if (connectionNamed !== undefined) {
    for (const name of connectionNamed) trusted.delete(name);
    const kept: string[] = [];
    for (let i = 0; i < list.length; i += 2)
      if (!connectionNamed.has(list[i].toLowerCase())) kept.push(list[i], list[i + 1]);
    if (teTrailers) kept.push('te', 'trailers');
    return { list: kept, trusted, teTrailers };
  }
  if (teTrailers) list.push('te', 'trailers');
  return { list, trusted, teTrailers };
}

/** True when a flat list carries the header (`lower` is lower-case). */
export function hasHeader(list: readonly string[], lower: string): boolean {
  const n = lower.length;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (name.length === n && (name === lower || name.toLowerCase() === lower)) return true;
  }
  return false;
}

const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
]);

/** Response headers from an upstream (undici's object form) as a flat list for `writeHead`. */
export function filterResponseHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  let connectionNamed: string[] | undefined;
  const conn = headers.connection;
  if (typeof conn === 'string' && conn.includes(','))
    connectionNamed = conn.split(',').map((s) => s.trim().toLowerCase());
  for (const name in headers) {
    if (RESPONSE_HOP_BY_HOP.has(name) || name.startsWith('proxy-')) continue;
    if (connectionNamed?.includes(name)) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push(name, item);
    else out.push(name, v);
  }
  return out;
}

/** Response headers as an HTTP/1.1 client parsed them: names and values, raw bytes or strings. */
export type RawHeaders = readonly (Buffer | string)[];

export interface FilteredResponseHeaders {
  /** Flat `[name, value, ...]` list for `writeHead`, in arrival order, names as received. */
  list: string[];
  /** The `grpc-status` value (retry decisions), undefined when absent. */
  grpcStatus: string | undefined;
}

const str = (v: Buffer | string): string => (typeof v === 'string' ? v : v.toString('latin1'));

/**
 * `filterResponseHeaders` for the raw list an upstream HTTP/1.1 client hands over (undici's
 * dispatch API): no intermediate object, names lower-cased only when they may be hop-by-hop.
 */
export function filterRawResponseHeaders(raw: RawHeaders): FilteredResponseHeaders {
  const list: string[] = [];
  let grpcStatus: string | undefined;
  let connectionNamed: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = str(raw[i]);
    const value = str(raw[i + 1]);
    // Only names starting with c, g, k, p, t, u can be hop-by-hop, `grpc-status` or named below.
    const c = name.charCodeAt(0) | 0x20;
    if (c === 0x63 || c === 0x67 || c === 0x6b || c === 0x70 || c === 0x74 || c === 0x75) {
      const lower = name.toLowerCase();
      if (lower === 'connection') {
        for (const t of value.split(',')) {
          const token = t.trim().toLowerCase();
          if (token !== '' && token !== 'close' && token !== 'keep-alive')
            (connectionNamed ??= []).push(token);
        }
        continue;
      }
      if (RESPONSE_HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) continue;
      if (lower === 'grpc-status' && grpcStatus === undefined) grpcStatus = value;
    }
    list.push(name, value);
  }
  if (connectionNamed !== undefined) {
    const named = new Set(connectionNamed);
    const kept: string[] = [];
    for (let i = 0; i < list.length; i += 2)
      if (!named.has(list[i].toLowerCase())) kept.push(list[i], list[i + 1]);
    return { list: kept, grpcStatus: named.has('grpc-status') ? undefined : grpcStatus };
  }
  return { list, grpcStatus };
}

/** The first value of a header in a flat list (case-insensitive). */
export function getHeader(list: readonly string[], lower: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i].toLowerCase() === lower) return list[i + 1];
  return undefined;
}

/** Replaces (or appends) a header in a flat list. */
export function setHeader(list: string[], lower: string, value: string): void {
  removeHeader(list, lower);
  list.push(lower, value);
}

export function removeHeader(list: string[], lower: string): void {
  for (let i = list.length - 2; i >= 0; i -= 2) {
    if (list[i].toLowerCase() === lower) list.splice(i, 2);
  }
}

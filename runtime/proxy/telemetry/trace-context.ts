/**
 * Trace context: parse W3C (`traceparent`, `tracestate`) and B3 (`x-b3-*` and the single `b3`
 * header), start one span per proxy hop (a new span id whose parent is the caller's span), and
 * produce the headers to send upstream. The sampling decision of the caller wins; a new trace
 * is sampled with the mesh's `traceSampling` percentage.
 *
 * The data plane deletes every header in TRACE_HEADERS from the forwarded request and sets
 * `headersForUpstream` instead, then calls `endSpan` when the request ends. Spans are handed to
 * `onSpan` (the Zipkin exporter slots in there) only when sampled.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpRequestRecord, Reporter } from './record.js';

export const TRACE_HEADERS: readonly string[] = Object.freeze([
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
]);

/** TRACE_HEADERS as a set, for dropping them in the same pass that filters the other headers. */
export const TRACE_HEADER_NAMES: ReadonlySet<string> = new Set(TRACE_HEADERS);

/** A finished or in-flight span, shaped to map one to one onto a Zipkin v2 span. */
export interface SpanRecord {
  /** 32 hex digits (W3C) or 16/32 as received in B3. */
  traceId: string;
  /** 16 hex digits, new for this hop. */
  id: string;
  /** The caller's span id, absent for a trace that starts here. */
  parentId?: string;
  /** `CLIENT` on the outbound (source) side, `SERVER` on the inbound (destination) side. */
  kind: 'CLIENT' | 'SERVER';
  sampled: boolean;
  /** Epoch microseconds. */
  timestamp: number;
  /** Microseconds, set by `endSpan`. */
  duration?: number;
  /** Set by `endSpan`: `<authority>:<port><path>`-style operation name, e.g. `reviews.default.svc.cluster.local:9080/*`. */
  name?: string;
  tags: Record<string, string>;
}

export interface StartedSpan {
  /** Trace headers for the upstream request (replace every TRACE_HEADERS entry with these). */
  headersForUpstream: Record<string, string>;
  span: SpanRecord;
}

export interface TracerOptions {
  /** Percentage (0..100) of new traces sampled when the caller did not decide. @default 1 */
  sampling: number;
  /** Receives each sampled span once `endSpan` is called. */
  onSpan?: (span: SpanRecord) => void;
  /** [0, 1) random source for the sampling decision (tests). @default Math.random */
  random: () => number;
}

export const TRACER_DEFAULTS: TracerOptions = { sampling: 1, random: Math.random };

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO16 = '0000000000000000';
const ZERO32 = ZERO16 + ZERO16;

interface Incoming {
  traceId: string;
  spanId: string;
  /** undefined: the caller did not decide. */
  sampled: boolean | undefined;
  tracestate?: string;
  b3Single: boolean;
}

const one = (v: string | string[] | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** True when `s[from, to)` is lower-case hex. */
function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * `version-traceid-spanid-flags[-future fields]`, parsed by position (a regex with captures
 * allocated a match array per request on the inbound hot path).
 */
function parseTraceparent(raw: string): Incoming | undefined {
  const value = raw.trim();
  if (value.length < 55 || value.charCodeAt(2) !== 0x2d || value.charCodeAt(35) !== 0x2d) return undefined;
  if (value.charCodeAt(52) !== 0x2d || (value.length > 55 && value.charCodeAt(55) !== 0x2d)) return undefined;
  if (!isHex(value, 0, 2) || !isHex(value, 3, 35) || !isHex(value, 36, 52) || !isHex(value, 53, 55))
    return undefined;
  const version = value.slice(0, 2);
  if (version === 'ff' || (version === '00' && value.length !== 55)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === ZERO32 || spanId === ZERO16) return undefined;
  const flags = Number.parseInt(value.slice(53, 55), 16);
  return { traceId, spanId, sampled: (flags & 1) === 1, b3Single: false };
}

function b3Sampled(value: string | undefined, debug?: string): boolean | undefined {
  if (debug === '1') return true;
  if (value === '1' || value === 'true' || value === 'd') return true;
  if (value === '0' || value === 'false') return false;
  return undefined;
}

const validTraceId = (id: string): boolean =>
  (HEX32.test(id) && id !== ZERO32) || (HEX16.test(id) && id !== ZERO16);
const validSpanId = (id: string): boolean => HEX16.test(id) && id !== ZERO16;

/** `b3: {traceid}-{spanid}[-{sampled}[-{parentspanid}]]` or a bare sampling state. */
function parseB3Single(value: string): Incoming | { sampledOnly: boolean | undefined } | undefined {
  const parts = value.trim().split('-');
  if (parts.length === 1) return { sampledOnly: b3Sampled(parts[0]) };
  if (parts.length > 4) return undefined;
  const [traceId, spanId, sampled] = parts;
  if (!validTraceId(traceId) || !validSpanId(spanId)) return undefined;
  if (parts.length === 4 && !validSpanId(parts[3])) return undefined;
  return { traceId, spanId, sampled: b3Sampled(sampled), b3Single: true };
}

/** The caller's trace context, W3C first, then B3 single, then B3 multi; undefined when none is valid. */
export function parseTraceContext(headers: IncomingHttpHeaders): {
  context?: Incoming;
  sampled?: boolean;
} {
  const tp = one(headers.traceparent);
  if (tp !== undefined) {
    const ctx = parseTraceparent(tp);
    if (ctx !== undefined) {
      const ts = one(headers.tracestate);
      if (ts !== undefined && ts.length <= 512) ctx.tracestate = ts;
      return { context: ctx, sampled: ctx.sampled };
    }
  }
  let sampledOnly: boolean | undefined;
  const single = one(headers.b3);
  if (single !== undefined) {
    const r = parseB3Single(single);
    if (r !== undefined && 'traceId' in r) return { context: r, sampled: r.sampled };
    if (r !== undefined) sampledOnly = r.sampledOnly;
  }
  const traceId = one(headers['x-b3-traceid']);
  const spanId = one(headers['x-b3-spanid']);
  const sampled = b3Sampled(one(headers['x-b3-sampled']), one(headers['x-b3-flags'])) ?? sampledOnly;
  if (traceId !== undefined && spanId !== undefined && validTraceId(traceId) && validSpanId(spanId)) {
    return { context: { traceId, spanId, sampled, b3Single: false }, sampled };
  }
  return { sampled };
}

/** Random ids from a pooled buffer: one `randomFillSync` per 512 ids instead of one per id. */
class IdSource {
  readonly #pool = Buffer.alloc(4096);
  #offset = this.#pool.length;
  next(bytes: 8 | 16): string {
    if (this.#offset + bytes > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const id = this.#pool.toString('hex', this.#offset, this.#offset + bytes);
    this.#offset += bytes;
    return id === ZERO16 || id === ZERO32 ? this.next(bytes) : id;
  }
}

function checkSampling(s: unknown): void {
  if (typeof s !== 'number' || !(s >= 0 && s <= 100)) {
    throw new Error(`trace sampling must be a percentage between 0 and 100, got ${s}`);
  }
}

export class Tracer {
  readonly #options: TracerOptions;
  readonly #ids = new IdSource();

  constructor(options: Partial<TracerOptions> = {}) {
    this.#options = { ...TRACER_DEFAULTS, ...options } satisfies TracerOptions;
    checkSampling(this.#options.sampling);
  }

  /** The current sampling percentage for new traces. */
  get sampling(): number {
    return this.#options.sampling;
  }

  /**
   * Changes the sampling percentage for new traces, e.g. when a snapshot brings a MeshConfig
   * `traceSampling`. Throws (and changes nothing) outside 0..100.
   */
  setSampling(percent: number): void {
    checkSampling(percent);
    this.#options.sampling = percent;
  }

  /** Starts this hop's span from the downstream request's headers. */
  startSpan(incoming: IncomingHttpHeaders, reporter: Reporter = 'source'): StartedSpan {
    const { context, sampled: decided } = parseTraceContext(incoming);
    const sampled =
      decided ?? (this.#options.sampling > 0 && this.#options.random() * 100 < this.#options.sampling);
    const traceId = context?.traceId ?? this.#ids.next(16);
    const id = this.#ids.next(8);
    const parentId = context?.spanId;
    const flag = sampled ? '1' : '0';
    const headersForUpstream: Record<string, string> = {
      traceparent: `00-${traceId.length === 16 ? ZERO16 + traceId : traceId}-${id}-0${flag}`,
      'x-b3-traceid': traceId,
      'x-b3-spanid': id,
      'x-b3-sampled': flag,
    };
    if (parentId !== undefined) headersForUpstream['x-b3-parentspanid'] = parentId;
    if (context?.tracestate !== undefined) headersForUpstream.tracestate = context.tracestate;
    if (context?.b3Single) {
      headersForUpstream.b3 = `${traceId}-${id}-${flag}${parentId === undefined ? '' : `-${parentId}`}`;
    }
    const span: SpanRecord = {
      traceId,
      id,
      kind: reporter === 'source' ? 'CLIENT' : 'SERVER',
      sampled,
      timestamp: Math.round((performance.timeOrigin + performance.now()) * 1000),
      tags: {},
    };
    if (parentId !== undefined) span.parentId = parentId;
    return { headersForUpstream, span };
  }

  /** Completes a span with the request's outcome and hands it to `onSpan` when sampled. */
  endSpan(span: SpanRecord, rec: HttpRequestRecord): void {
    span.duration = Math.max(1, Math.round(rec.durationMs * 1000));
    // Name and tags only for a span someone receives (most requests are not sampled).
    const onSpan = this.#options.onSpan;
    if (!span.sampled || onSpan === undefined) return;
    span.name = `${rec.service.host}:${rec.path.split('?')[0]}`;
    span.tags = {
      'http.method': rec.method,
      'http.url': rec.path,
      'http.status_code': String(rec.status),
      'http.protocol': rec.httpProtocol,
      response_flags: rec.responseFlags === '' ? '-' : rec.responseFlags,
      upstream_cluster: rec.upstreamCluster ?? '-',
      'guid:x-request-id': rec.requestId ?? '-',
      'peer.address': rec.upstreamHost ?? '-',
      'istio.canonical_service':
        rec.reporter === 'source' ? rec.source.canonicalService : rec.destination.canonicalService,
    };
    onSpan(span);
  }
}

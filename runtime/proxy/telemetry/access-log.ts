/**
 * The access log: one JSON line per request. Lines are encoded into a buffer as they are
 * formatted and written with one `write()` per batch: at the end of the event-loop turn in which the pending lines reach `flushBytes`,
 * otherwise at most `flushIntervalMs` after the first pending line. A write per turn cost 12-15 %
 * of a sidecar's CPU in the mTLS pair benchmark (every `fs.write` costs ~25 µs of main-thread
 * time here, whatever its size); batching by size brings that to ~1 % (docs/telemetry.md).
 * The log never blocks a request: while the output is backed up (`write()` returned false and
 * 'drain' has not come yet) new lines are dropped and counted.
 *
 * The default output is the process's stdout opened as an asynchronous file stream: Node writes
 * `process.stdout` synchronously when it is a file or (on Linux) a pipe, and a slow reader
 * would then stall the event loop.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { HttpRequestRecord } from './record.js';

export interface AccessLogOptions {
  /** Write a line per request. @default true */
  enabled: boolean;
  /** `-` for stdout, or a file path (appended to). Ignored when `stream` is given. @default '-' */
  path: string;
  /** An explicit destination (tests, or an embedding application). */
  stream?: Writable;
  /** Bytes buffered in the stream before it counts as blocked. @default 1 MiB */
  highWaterMark: number;
  /** Lines waiting for the next write at most; more are dropped and counted. @default 8192 */
  maxBatchLines: number;
  /** Pending bytes that trigger a write at the end of the current event-loop turn. @default 32 KiB */
  flushBytes: number;
  /** Longest time a line waits for its write, in milliseconds. @default 250 */
  flushIntervalMs: number;
}

export const ACCESS_LOG_DEFAULTS: AccessLogOptions = {
  enabled: true,
  path: '-',
  highWaterMark: 1 << 20,
  maxBatchLines: 8192,
  flushBytes: 32 * 1024,
  flushIntervalMs: 250,
};

/** Room in a batch's buffer beyond `flushBytes`, so the line that crosses it still fits. */
const BATCH_SLACK = 16 * 1024;

const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f\ud800-\udfff]/;

/** A JSON string literal; plain ASCII values (the common case) skip JSON.stringify. */
function q(value: string | undefined): string {
  if (value === undefined || value === '') return '"-"';
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** ISO-8601 timestamps with the per-second prefix computed once per second. */
class Clock {
  #second = -1;
  #prefix = '';
  /** `YYYY-MM-DDTHH:MM:SS` of `ms` (computed once per second). */
  prefix(ms: number): string {
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#prefix = new Date(second * 1000).toISOString().slice(0, 19);
    }
    return this.#prefix;
  }
}

/**
 * Writes `s` at `off` and returns the end: ASCII byte by byte (no allocation, no native call),
 * the rest of a string with a non-ASCII character as UTF-8. `buf` must have 3 bytes per
 * UTF-16 unit of `s` free.
 */
function put(buf: Buffer, off: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return off + i + buf.write(s.slice(i), off + i, 'utf8');
    buf[off + i] = c;
  }
  return off + n;
}

/**
 * Writes `micros / 1000` as JavaScript spells it (`1.234`, `1.2`, `0.005`, `12`) without making
 * a string, for 0 ≤ micros < 10^15; other values through `num`.
 */
function putMillis(buf: Buffer, off: number, micros: number): number {
  if (!(micros >= 0 && micros < 1e15 && Math.floor(micros) === micros))
    return put(buf, off, num(micros / 1000));
  const whole = Math.floor(micros / 1000);
  let frac = micros - whole * 1000;
  let o = putInt(buf, off, whole);
  if (frac === 0) return o;
  buf[o++] = 0x2e;
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  for (let i = digits - 1; i >= 0; i--) {
    buf[o + i] = 0x30 + (frac % 10);
    frac = Math.floor(frac / 10);
  }
  return o + digits;
}

/** A JSON number: JavaScript's spelling, `null` for NaN and infinities (not valid JSON). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Writes a non-negative safe integer's decimal digits (any other number as `num` spells it). */
function putInt(buf: Buffer, off: number, n: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return put(buf, off, num(n));
  if (n < 10) {
    buf[off] = 0x30 + n;
    return off + 1;
  }
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  let end = off + digits;
  for (let m = n; end > off; m = Math.floor(m / 10)) buf[--end] = 0x30 + (m % 10);
  return off + digits;
}

/**
 * Remembers the quoted form of the last value of one field. Fields that come from config or
 * from the proxy itself (cluster, route, upstream host, peer identity...) repeat from request to
 * request, so most lines skip the escape check for them.
 */
class QuotedMemo {
  #last: string | undefined = '';
  #quoted = '"-"';
  #bytes: Buffer | undefined = Buffer.from('"-"');
  of(value: string | undefined): string {
    if (value !== this.#last) {
      this.#last = value;
      this.#quoted = q(value);
      this.#bytes = undefined;
    }
    return this.#quoted;
  }
  /** The quoted value as UTF-8 bytes (encoded once per distinct value). */
  bytesOf(value: string | undefined): Buffer {
    if (value !== this.#last || this.#bytes === undefined) {
      this.of(value);
      this.#bytes = Buffer.from(this.#quoted, 'utf8');
    }
    return this.#bytes;
  }
}

/** Copies `bytes` to `buf` at `off`; returns the end. */
function putBytes(buf: Buffer, off: number, bytes: Uint8Array): number {
  buf.set(bytes, off);
  return off + bytes.length;
}

const KEY = {
  time: Buffer.from('{"time":"'),
  reporterSource: Buffer.from('Z","reporter":"source","method":'),
  reporterDestination: Buffer.from('Z","reporter":"destination","method":'),
  path: Buffer.from(',"path":'),
  protocol: Buffer.from(',"protocol":'),
  status: Buffer.from(',"status":'),
  flags: Buffer.from(',"response_flags":'),
  received: Buffer.from(',"bytes_received":'),
  sent: Buffer.from(',"bytes_sent":'),
  duration: Buffer.from(',"duration_ms":'),
  upstreamHost: Buffer.from(',"upstream_host":'),
  cluster: Buffer.from(',"upstream_cluster":'),
  route: Buffer.from(',"route_name":'),
  requestId: Buffer.from(',"request_id":'),
  peer: Buffer.from(',"peer_identity":'),
  authority: Buffer.from(',"authority":'),
};

/** The fields `prepare` keeps as encoded bytes (the rest are strings written by `put`). */
const BYTE_FIELDS = [0, 2, 3, 4, 5, 6, 8, 9] as const;

/** Per-output formatting state: the clock and the memos of the repeating fields. */
export class AccessLogFormatter {
  readonly #clock = new Clock();
  readonly #protocol = new QuotedMemo();
  readonly #upstreamHost = new QuotedMemo();
  readonly #cluster = new QuotedMemo();
  readonly #route = new QuotedMemo();
  readonly #peer = new QuotedMemo();
  readonly #authority = new QuotedMemo();
  readonly #method = new QuotedMemo();
  readonly #path = new QuotedMemo();
  readonly #flags = new QuotedMemo();

  // The quoted fields of the record being encoded (`prepare`, then `encodeInto`).
  readonly #q: string[] = [];
  readonly #b: Buffer[] = [];
  #rec: HttpRequestRecord | undefined;
  #ridPlain = false;

  /**
   * Gets the line of `rec` ready for `encodeInto` and returns the most bytes it can take (line
   * and newline). The line is never built as a string: a template's partial strings cost ~2 KB
   * of garbage per line.
   */
  prepare(rec: HttpRequestRecord): number {
    const peer = rec.reporter === 'destination' ? rec.sourcePrincipal : rec.destinationPrincipal;
    const q0 = this.#q;
    const b = this.#b;
    b[0] = this.#method.bytesOf(rec.method);
    q0[1] = this.#path.of(rec.path);
    b[2] = this.#protocol.bytesOf(rec.httpProtocol);
    b[3] = this.#flags.bytesOf(rec.responseFlags);
    b[4] = this.#upstreamHost.bytesOf(rec.upstreamHost);
    b[5] = this.#cluster.bytesOf(rec.upstreamCluster);
    b[6] = this.#route.bytesOf(rec.routeName);
    // The request id differs on every line: written between quotes as it is, unless it needs escapes.
    const rid = rec.requestId;
    this.#ridPlain = rid !== undefined && rid !== '' && !NEEDS_ESCAPE.test(rid);
    q0[7] = this.#ridPlain ? (rid as string) : q(rid);
    b[8] = this.#peer.bytesOf(peer);
    b[9] = this.#authority.bytesOf(rec.authority);
    this.#rec = rec;
    let bytes = (rec.reporter.length + q0[1].length + q0[7].length) * 3;
    for (const i of BYTE_FIELDS) bytes += b[i].length;
    // Keys, punctuation, time and numbers fit in 512 bytes.
    return bytes + 512;
  }

  /** Encodes the prepared line and a newline at `off`; returns the end. */
  encodeInto(buf: Buffer, off: number): number {
    const rec = this.#rec!;
    const q0 = this.#q;
    const b = this.#b;
    let o = putBytes(buf, off, KEY.time);
    o = put(buf, o, this.#clock.prefix(rec.startTime));
    const milli = Math.floor(rec.startTime - Math.floor(rec.startTime / 1000) * 1000);
    buf[o++] = 0x2e; // .
    buf[o++] = 0x30 + Math.floor(milli / 100);
    buf[o++] = 0x30 + (Math.floor(milli / 10) % 10);
    buf[o++] = 0x30 + (milli % 10);
    if (rec.reporter === 'source') o = putBytes(buf, o, KEY.reporterSource);
    else if (rec.reporter === 'destination') o = putBytes(buf, o, KEY.reporterDestination);
    else {
      o = put(buf, o, 'Z","reporter":"');
      o = put(buf, o, rec.reporter);
      o = put(buf, o, '","method":');
    }
    o = putBytes(buf, o, b[0]);
    o = putBytes(buf, o, KEY.path);
    o = put(buf, o, q0[1]);
    o = putBytes(buf, o, KEY.protocol);
    o = putBytes(buf, o, b[2]);
    o = putBytes(buf, o, KEY.status);
    o = putInt(buf, o, rec.status);
    o = putBytes(buf, o, KEY.flags);
    o = putBytes(buf, o, b[3]);
    o = putBytes(buf, o, KEY.received);
    o = putInt(buf, o, rec.requestBytes);
    o = putBytes(buf, o, KEY.sent);
    o = putInt(buf, o, rec.responseBytes);
    o = putBytes(buf, o, KEY.duration);
    o = putMillis(buf, o, Math.round(rec.durationMs * 1000));
    o = putBytes(buf, o, KEY.upstreamHost);
    o = putBytes(buf, o, b[4]);
    o = putBytes(buf, o, KEY.cluster);
    o = putBytes(buf, o, b[5]);
    o = putBytes(buf, o, KEY.route);
    o = putBytes(buf, o, b[6]);
    o = putBytes(buf, o, KEY.requestId);
    if (this.#ridPlain) {
      buf[o++] = 0x22;
      o = put(buf, o, q0[7]);
      buf[o++] = 0x22;
    } else o = put(buf, o, q0[7]);
    o = putBytes(buf, o, KEY.peer);
    o = putBytes(buf, o, b[8]);
    o = putBytes(buf, o, KEY.authority);
    o = putBytes(buf, o, b[9]);
    buf[o++] = 0x7d; // }
    buf[o++] = 0x0a;
    this.#rec = undefined;
    return o;
  }

  /** The JSON fields of one line, in order. Keys follow Envoy's access log vocabulary. */
  format(rec: HttpRequestRecord): string {
    const buf = Buffer.allocUnsafe(this.prepare(rec));
    // Without the newline encodeInto ends with.
    return buf.toString('utf8', 0, this.encodeInto(buf, 0) - 1);
  }
}

/** One access log line for a request (see AccessLogFormatter for the fields). */
export function formatAccessLogLine(rec: HttpRequestRecord): string {
  return new AccessLogFormatter().format(rec);
}

export class AccessLog {
  readonly #options: AccessLogOptions;
  #stream: Writable | undefined;
  #ownsStream = false;
  #on: boolean;
  readonly #formatter = new AccessLogFormatter();
  /**
   * The pending lines, already encoded: a line lives on the JavaScript heap only while it is
   * formatted, so batching does not make lines outlive a young-generation collection (with a
   * proxy's small young generation an array of pending strings was promoted and cost CPU).
   */
  #batch: Buffer | undefined;
  #batchBytes = 0;
  #batchLines = 0;
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #blocked = false;
  #dropped = 0;
  #written = 0;

  constructor(options: Partial<AccessLogOptions> = {}) {
    this.#options = { ...ACCESS_LOG_DEFAULTS, ...options } satisfies AccessLogOptions;
    const o = this.#options;
    if (!Number.isInteger(o.highWaterMark) || o.highWaterMark < 1) {
      throw new Error(`access log highWaterMark must be a positive integer, got ${o.highWaterMark}`);
    }
    for (const key of ['maxBatchLines', 'flushBytes'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) {
        throw new Error(`access log ${key} must be a positive integer, got ${o[key]}`);
      }
    }
    if (!(o.flushIntervalMs >= 0)) {
      throw new Error(`access log flushIntervalMs must be >= 0, got ${o.flushIntervalMs}`);
    }
    this.#on = o.enabled;
    if (o.enabled) this.#open();
  }

  /** Opens the output (once); lines go nowhere until then. */
  #open(): void {
    if (this.#stream !== undefined) return;
    const o = this.#options;
    if (o.stream) {
      this.#stream = o.stream;
      this.#ownsStream = false;
    } else if (o.path === '-') {
      this.#stream = createWriteStream('', { fd: 1, autoClose: false, highWaterMark: o.highWaterMark });
      this.#ownsStream = true;
    } else {
      this.#stream = createWriteStream(o.path, { flags: 'a', highWaterMark: o.highWaterMark });
      this.#ownsStream = true;
    }
    // A broken output must not crash the proxy; lines are then dropped.
    this.#stream.on('error', () => {
      this.#blocked = true;
    });
  }

  /**
   * Turns logging on or off at run time, e.g. when a snapshot brings a MeshConfig
   * `accessLogging`. The output is opened the first time logging is turned on; turning it off
   * writes what is pending and keeps the output open for a later switch back on.
   */
  setEnabled(on: boolean): void {
    if (on === this.#on) return;
    if (!on) this.flush();
    this.#on = on;
    if (on) this.#open();
  }

  get enabled(): boolean {
    return this.#on && this.#stream !== undefined;
  }
  /** Lines dropped because the output was blocked or broken, or more than `maxBatchLines` were waiting. */
  get dropped(): number {
    return this.#dropped;
  }
  /** Lines handed to the output. */
  get written(): number {
    return this.#written;
  }

  log(rec: HttpRequestRecord): void {
    if (!this.#on || this.#stream === undefined) return;
    if (this.#blocked || this.#batchLines >= this.#options.maxBatchLines) {
      this.#dropped++;
      return;
    }
    this.#appendRecord(rec);
    if (this.#batchBytes >= this.#options.flushBytes) {
      if (this.#immediate === undefined) this.#immediate = setImmediate(this.#flushNow);
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushNow, this.#options.flushIntervalMs);
      this.#timer.unref();
    }
  }

  /** Encodes one record's line (and its newline) into the batch. */
  #appendRecord(rec: HttpRequestRecord): void {
    const need = this.#formatter.prepare(rec);
    let batch = this.#batch;
    if (batch === undefined) {
      batch = Buffer.allocUnsafeSlow(Math.max(this.#options.flushBytes + BATCH_SLACK, need));
      this.#batch = batch;
      this.#batchBytes = 0;
    } else if (this.#batchBytes + need > batch.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(batch.length * 2, this.#batchBytes + need));
      batch.copy(grown, 0, 0, this.#batchBytes);
      batch = grown;
      this.#batch = grown;
    }
    this.#batchBytes = this.#formatter.encodeInto(batch, this.#batchBytes);
    this.#batchLines++;
  }

  readonly #flushNow = (): void => {
    this.flush();
  };

  /** Writes the pending lines now with one `write()`. */
  flush(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#immediate = undefined;
    this.#timer = undefined;
    const stream = this.#stream;
    const batch = this.#batch;
    const lines = this.#batchLines;
    if (stream === undefined || batch === undefined || lines === 0) return;
    // The stream keeps the buffer until it is written: the next line starts a new one.
    const bytes = batch.subarray(0, this.#batchBytes);
    this.#batch = undefined;
    this.#batchBytes = 0;
    this.#batchLines = 0;
    if (this.#blocked || stream.destroyed || stream.writableEnded) {
      this.#dropped += lines;
      return;
    }
    this.#written += lines;
    const ok = stream.write(bytes);
    if (!ok) {
      this.#blocked = true;
      stream.once('drain', () => {
        this.#blocked = false;
      });
    }
  }

  /** Flushes and, for outputs it opened, closes them. Resolves when the data reached the OS. */
  async close(): Promise<void> {
    this.flush();
    const stream = this.#stream;
    if (stream === undefined || !this.#ownsStream || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      stream.end(() => resolve());
      // A blocked output (e.g. a pipe nobody reads) would never finish: give up after a moment.
      setTimeout(() => {
        stream.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}

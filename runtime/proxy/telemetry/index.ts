/**
 * A sidecar's telemetry: Istio's standard metrics (`/stats/prometheus`), proxy counters, the
 * access log and trace context. One object per proxy, built with `createTelemetry`; no global
 * state, so tests can run several proxies in one process.
 *
 * Per request the data plane calls (see record.ts for the record contract):
 *   const { headersForUpstream, span } = telemetry.tracer.startSpan(req.headers, 'source');
 *   ... forward, with TRACE_HEADERS replaced by headersForUpstream ...
 *   telemetry.recordHttp(rec, span);     // metrics + access log line + span end
 * Per TCP connection: `const c = telemetry.recordTcpOpen(rec)`, `telemetry.recordTcpClose(c, sent, received)`.
 */
import { AccessLog, type AccessLogOptions } from './access-log.js';
import { IstioMetrics, type TcpSeries } from './istio-metrics.js';
import { ProxyCounters } from './proxy-counters.js';
import type { HttpRequestRecord, TcpConnectionRecord } from './record.js';
import { type SpanRecord, Tracer, type TracerOptions } from './trace-context.js';

export * from './access-log.js';
export * from './exposition.js';
export * from './istio-metrics.js';
export * from './peer-metadata.js';
export * from './proxy-counters.js';
export * from './record.js';
export * from './trace-context.js';
export * from './workload-facts.js';

export interface TelemetryOptions {
  /** Access log settings; `{ enabled: false }` turns it off. */
  accessLog: Partial<AccessLogOptions>;
  /** Trace settings (MeshConfig `traceSampling` goes to `sampling`). */
  tracing: Partial<TracerOptions>;
  /** Upper bound on distinct series per metric family. @default 20000 */
  maxSeries: number;
}

export const TELEMETRY_DEFAULTS: TelemetryOptions = { accessLog: {}, tracing: {}, maxSeries: 20_000 };

/** A connection's TCP series; pass it back to `recordTcpBytes`/`recordTcpClose`. */
export interface TcpConnectionHandle {
  readonly series: TcpSeries | undefined;
  closed: boolean;
}

export interface Telemetry {
  readonly metrics: IstioMetrics;
  readonly counters: ProxyCounters;
  readonly accessLog: AccessLog;
  readonly tracer: Tracer;
  /** Metrics, access log line and (when a span is given) span completion for one request. */
  recordHttp(rec: HttpRequestRecord, span?: SpanRecord): void;
  recordTcpOpen(rec: TcpConnectionRecord): TcpConnectionHandle;
  /** Adds bytes to a still-open connection (call periodically for long-lived connections). */
  recordTcpBytes(conn: TcpConnectionHandle, sent: number, received: number): void;
  /** Counts the close and the bytes not yet reported; a second call does nothing. */
  recordTcpClose(conn: TcpConnectionHandle, sent?: number, received?: number): void;
  /** Prometheus text exposition (version 0.0.4) of every metric. */
  metricsText(): string;
  /** Writes pending access log lines now. */
  flush(): void;
  /** Flushes and closes outputs this object opened. */
  close(): Promise<void>;
}

/** The `Content-Type` of `metricsText()`. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createTelemetry(options: Partial<TelemetryOptions> = {}): Telemetry {
  const o = { ...TELEMETRY_DEFAULTS, ...options } satisfies TelemetryOptions;
  if (!Number.isInteger(o.maxSeries) || o.maxSeries < 1) {
    throw new Error(`telemetry maxSeries must be a positive integer, got ${o.maxSeries}`);
  }
  const metrics = new IstioMetrics({ maxSeries: o.maxSeries });
  const counters = new ProxyCounters();
  const accessLog = new AccessLog(o.accessLog);
  const tracer = new Tracer(o.tracing);

  return {
    metrics,
    counters,
    accessLog,
    tracer,
    recordHttp(rec, span) {
      metrics.recordHttp(rec);
      accessLog.log(rec);
      if (span !== undefined) tracer.endSpan(span, rec);
    },
    recordTcpOpen(rec) {
      const series = metrics.tcpSeries(rec);
      if (series !== undefined) series.opened.value++;
      return { series, closed: false };
    },
    recordTcpBytes(conn, sent, received) {
      if (conn.series === undefined || conn.closed) return;
      conn.series.sent.value += sent;
      conn.series.received.value += received;
    },
    recordTcpClose(conn, sent = 0, received = 0) {
      if (conn.closed) return;
      conn.closed = true;
      if (conn.series === undefined) return;
      conn.series.sent.value += sent;
      conn.series.received.value += received;
      conn.series.closed.value++;
    },
    metricsText() {
      const out: string[] = [];
      metrics.expose(out);
      counters.expose(out, accessLog.dropped, metrics.droppedSeries);
      out.push('');
      return out.join('\n');
    },
    flush() {
      accessLog.flush();
    },
    close() {
      return accessLog.close();
    },
  };
}

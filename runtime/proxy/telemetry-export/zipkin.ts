/**
 * Trace export: finished, sampled spans are queued and sent in batches as Zipkin v2 JSON
 * (`POST <endpoint>` with a JSON array, the format Zipkin, Jaeger and the OpenTelemetry
 * collector's zipkin receiver accept). Queueing a span is O(1) and never waits for the
 * collector: one batch is in flight at a time, the queue is bounded and drops (counted) when
 * the collector cannot keep up, and a failed POST drops its batch (counted) rather than retry
 * without bound. Unsampled spans never reach this module (the tracer only hands over sampled
 * ones), so nothing is exported when the incoming sampling flag says no.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SpanRecord } from '../telemetry/index.js';

export interface ZipkinExporterOptions {
  /** Collector URL, e.g. `http://zipkin.istio-system:9411/api/v2/spans`. */
  endpoint: string;
  /** Spans per POST. */
  batchSize: number;
  /** Longest a span waits before a partial batch is sent. */
  flushIntervalMs: number;
  /** Spans held at most; beyond this new spans are dropped. */
  maxQueue: number;
  /** Bound on one POST. */
  timeoutMs: number;
  /** `localEndpoint.serviceName` of the spans (Istio: `<app>.<namespace>`). */
  serviceName: () => string;
}

export const ZIPKIN_DEFAULTS = {
  batchSize: 100,
  flushIntervalMs: 1000,
  maxQueue: 10_000,
  timeoutMs: 5000,
  serviceName: () => 'unknown',
} satisfies Omit<ZipkinExporterOptions, 'endpoint'>;

export type ZipkinExporterInput = Partial<ZipkinExporterOptions> & { endpoint: string };

export interface ZipkinExporterStats {
  exported: number;
  dropped: number;
  failedBatches: number;
}

/** One span in Zipkin v2 JSON. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  kind: 'CLIENT' | 'SERVER';
  name: string;
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  tags: Record<string, string>;
}

export function toZipkin(span: SpanRecord, serviceName: string): ZipkinSpan {
  const out: ZipkinSpan = {
    traceId: span.traceId,
    id: span.id,
    kind: span.kind,
    name: span.name ?? 'unknown',
    timestamp: span.timestamp,
    duration: Math.max(1, span.duration ?? 1),
    localEndpoint: { serviceName },
    tags: span.tags,
  };
  if (span.parentId !== undefined) out.parentId = span.parentId;
  return out;
}

export function resolveZipkinOptions(input: ZipkinExporterInput): ZipkinExporterOptions {
  const o = { ...ZIPKIN_DEFAULTS, ...input } satisfies ZipkinExporterOptions;
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(o.endpoint);
  } catch {
    problems.push(`traceExport.endpoint must be an http(s) URL, got '${o.endpoint}'`);
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:')
    problems.push(`traceExport.endpoint must use http or https, got '${url.protocol}'`);
  for (const key of ['batchSize', 'flushIntervalMs', 'maxQueue', 'timeoutMs'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1)
      problems.push(`traceExport.${key} must be a positive integer, got ${o[key]}`);
  }
  if (problems.length > 0) throw new Error(`invalid trace export options:\n  - ${problems.join('\n  - ')}`);
  return o;
}

export class ZipkinExporter {
  readonly options: ZipkinExporterOptions;
  readonly stats: ZipkinExporterStats = { exported: 0, dropped: 0, failedBatches: 0 };
  private readonly url: URL;
  private queue: ZipkinSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private closed = false;

  constructor(input: ZipkinExporterInput) {
    this.options = resolveZipkinOptions(input);
    this.url = new URL(this.options.endpoint);
  }

  /** Queues a finished span (the tracer's `onSpan`). */
  onSpan(span: SpanRecord): void {
    if (this.closed || this.queue.length >= this.options.maxQueue) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(toZipkin(span, this.options.serviceName()));
    if (this.queue.length >= this.options.batchSize) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.options.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Sends the next batch unless one is in flight. */
  private kick(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.batchSize);
    this.inFlight = this.post(batch).then(
      () => {
        this.stats.exported += batch.length;
      },
      () => {
        this.stats.failedBatches++;
        this.stats.dropped += batch.length;
      },
    );
    void this.inFlight.then(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.options.batchSize) this.kick();
      else if (this.queue.length > 0 && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, this.options.flushIntervalMs);
        this.timer.unref();
      }
    });
  }

  private post(batch: ZipkinSpan[]): Promise<void> {
    const body = Buffer.from(JSON.stringify(batch));
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        this.url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': body.length },
          timeout: this.options.timeoutMs,
        },
        (res) => {
          res.resume();
          res.once('end', () =>
            (res.statusCode ?? 0) < 300
              ? resolve()
              : reject(new Error(`collector answered ${res.statusCode}`)),
          );
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error('collector timeout')));
      req.once('error', reject);
      req.end(body);
    });
  }

  /** Sends everything queued now (waits for the POSTs). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight || this.queue.length > 0) {
      if (this.inFlight) await this.inFlight;
      else this.kick();
    }
  }

  /** Flushes what is queued (bounded by the POST timeout) and stops accepting spans. */
  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.closed = true;
  }
}

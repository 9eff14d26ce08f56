/**
 * Istio's standard metrics with their full label set. The hot path never builds a label
 * string: label sets are found through identity-keyed maps
 * (source → destination → service → principals → [reporter, mTLS, protocol]) and then
 * (status → flags → grpc status). A label string is built only on a cache miss, and interned
 * by its text so two equal workload objects (e.g. after a snapshot update) share one series.
 */
import {
  CounterCell,
  counterLine,
  DURATION_BUCKETS_MS,
  HistogramCell,
  header,
  histogramLines,
  labelPairs,
  SIZE_BUCKETS_BYTES,
} from './exposition.js';
import type { HttpRequestRecord, TcpConnectionRecord } from './record.js';
import { type ServiceFacts, UNKNOWN, type WorkloadFacts } from './workload-facts.js';

export const METRIC = {
  requests: 'istio_requests_total',
  duration: 'istio_request_duration_milliseconds',
  requestBytes: 'istio_request_bytes',
  responseBytes: 'istio_response_bytes',
  tcpSent: 'istio_tcp_sent_bytes_total',
  tcpReceived: 'istio_tcp_received_bytes_total',
  tcpOpened: 'istio_tcp_connections_opened_total',
  tcpClosed: 'istio_tcp_connections_closed_total',
} as const;

/** Labels shared by every series of a (reporter, peers, service, protocol, security) combination. */
export const PEER_LABEL_NAMES: readonly string[] = Object.freeze([
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'connection_security_policy',
]);
export const HTTP_OUTCOME_LABEL_NAMES: readonly string[] = Object.freeze([
  'response_code',
  'grpc_response_status',
  'response_flags',
]);
export const TCP_OUTCOME_LABEL_NAMES: readonly string[] = Object.freeze(['response_flags']);

export interface HttpSeries {
  readonly labels: string;
  readonly requests: CounterCell;
  readonly duration: HistogramCell;
  readonly requestBytes: HistogramCell;
  readonly responseBytes: HistogramCell;
}

export interface TcpSeries {
  readonly labels: string;
  readonly opened: CounterCell;
  readonly closed: CounterCell;
  readonly sent: CounterCell;
  readonly received: CounterCell;
}

interface LabelBase<S> {
  readonly labels: string;
  /** status (0 for TCP) → flags → grpc status ('' for TCP) → series */
  readonly outcomes: Map<number, Map<string, Map<string, S>>>;
}

type Variants<S> = (LabelBase<S> | undefined)[];
type PrincipalMap<S> = Map<string, Map<string, Variants<S>>>;
type PeerCache<S> = WeakMap<WorkloadFacts, WeakMap<WorkloadFacts, WeakMap<ServiceFacts, PrincipalMap<S>>>>;

interface PeerKey {
  reporter: 'source' | 'destination';
  source: WorkloadFacts;
  sourcePrincipal?: string;
  destination: WorkloadFacts;
  destinationPrincipal?: string;
  service: ServiceFacts;
  mtls: boolean;
}

const flagsLabel = (flags: string | undefined): string => (flags === undefined || flags === '' ? '-' : flags);

function peerLabelValues(k: PeerKey, protocol: string): string[] {
  const s = k.source;
  const d = k.destination;
  const security = k.reporter === 'source' ? UNKNOWN : k.mtls ? 'mutual_tls' : 'none';
  return [
    k.reporter,
    s.workload,
    s.namespace,
    k.sourcePrincipal || UNKNOWN,
    s.app,
    s.version,
    s.canonicalService,
    s.canonicalRevision,
    s.cluster,
    d.workload,
    d.namespace,
    k.destinationPrincipal || UNKNOWN,
    d.app,
    d.version,
    k.service.host,
    k.service.name,
    k.service.namespace,
    d.canonicalService,
    d.canonicalRevision,
    d.cluster,
    protocol,
    security,
  ];
}

/** One family of series (HTTP or TCP) with its two-stage label cache. */
class SeriesTable<S extends { labels: string }> {
  readonly series: S[] = [];
  readonly #peers: PeerCache<S> = new WeakMap();
  readonly #bases = new Map<string, LabelBase<S>>();
  readonly #byLabels = new Map<string, S>();
  dropped = 0;

  constructor(
    private readonly outcomeNames: readonly string[],
    private readonly make: (labels: string) => S,
    private readonly maxSeries: number,
  ) {}

  get(
    k: PeerKey,
    variant: number,
    protocol: string,
    status: number,
    flags: string,
    grpc: string,
  ): S | undefined {
    let byDest = this.#peers.get(k.source);
    if (byDest === undefined) this.#peers.set(k.source, (byDest = new WeakMap()));
    let bySvc = byDest.get(k.destination);
    if (bySvc === undefined) byDest.set(k.destination, (bySvc = new WeakMap()));
    let byPrincipal = bySvc.get(k.service);
    if (byPrincipal === undefined) bySvc.set(k.service, (byPrincipal = new Map()));
    const sp = k.sourcePrincipal ?? '';
    let byDstPrincipal = byPrincipal.get(sp);
    if (byDstPrincipal === undefined) byPrincipal.set(sp, (byDstPrincipal = new Map()));
    const dp = k.destinationPrincipal ?? '';
    let variants = byDstPrincipal.get(dp);
    if (variants === undefined) byDstPrincipal.set(dp, (variants = []));
    let base = variants[variant];
    if (base === undefined) variants[variant] = base = this.#base(k, protocol);

    let byFlags = base.outcomes.get(status);
    if (byFlags === undefined) base.outcomes.set(status, (byFlags = new Map()));
    let byGrpc = byFlags.get(flags);
    if (byGrpc === undefined) byFlags.set(flags, (byGrpc = new Map()));
    let series = byGrpc.get(grpc);
    if (series === undefined) {
      series = this.#series(base, status, flags, grpc);
      if (series === undefined) return undefined;
      byGrpc.set(grpc, series);
    }
    return series;
  }

  #base(k: PeerKey, protocol: string): LabelBase<S> {
    const labels = labelPairs(PEER_LABEL_NAMES, peerLabelValues(k, protocol));
    let base = this.#bases.get(labels);
    if (base === undefined) this.#bases.set(labels, (base = { labels, outcomes: new Map() }));
    return base;
  }

  #series(base: LabelBase<S>, status: number, flags: string, grpc: string): S | undefined {
    const values =
      this.outcomeNames.length === 1 ? [flagsLabel(flags)] : [String(status), grpc, flagsLabel(flags)];
    const labels = `${base.labels},${labelPairs(this.outcomeNames, values)}`;
    let series = this.#byLabels.get(labels);
    if (series === undefined) {
      if (this.series.length >= this.maxSeries) {
        this.dropped++;
        return undefined;
      }
      series = this.make(labels);
      this.#byLabels.set(labels, series);
      this.series.push(series);
    }
    return series;
  }
}

export interface IstioMetricsOptions {
  /** Upper bound on distinct series per family; beyond it observations are dropped and counted. */
  maxSeries: number;
}

/** The eight standard metrics of one sidecar. */
export class IstioMetrics {
  readonly #http: SeriesTable<HttpSeries>;
  readonly #tcp: SeriesTable<TcpSeries>;

  constructor(options: IstioMetricsOptions) {
    this.#http = new SeriesTable(
      HTTP_OUTCOME_LABEL_NAMES,
      (labels) => ({
        labels,
        requests: new CounterCell(),
        duration: new HistogramCell(DURATION_BUCKETS_MS),
        requestBytes: new HistogramCell(SIZE_BUCKETS_BYTES),
        responseBytes: new HistogramCell(SIZE_BUCKETS_BYTES),
      }),
      options.maxSeries,
    );
    this.#tcp = new SeriesTable(
      TCP_OUTCOME_LABEL_NAMES,
      (labels) => ({
        labels,
        opened: new CounterCell(),
        closed: new CounterCell(),
        sent: new CounterCell(),
        received: new CounterCell(),
      }),
      options.maxSeries,
    );
  }

  /** Series dropped because `maxSeries` was reached. */
  get droppedSeries(): number {
    return this.#http.dropped + this.#tcp.dropped;
  }

  recordHttp(rec: HttpRequestRecord): void {
    const grpc = rec.requestProtocol === 'grpc';
    const variant = (rec.reporter === 'destination' ? 4 : 0) + (rec.mtls ? 2 : 0) + (grpc ? 1 : 0);
    const series = this.#http.get(
      rec,
      variant,
      rec.requestProtocol,
      rec.status,
      rec.responseFlags === '-' ? '' : rec.responseFlags,
      rec.grpcStatus ?? '',
    );
    if (series === undefined) return;
    series.requests.value++;
    series.duration.observe(rec.durationMs);
    series.requestBytes.observe(rec.requestBytes);
    series.responseBytes.observe(rec.responseBytes);
  }

  /** The TCP series for a connection's labels; keep it for the connection's lifetime. */
  tcpSeries(rec: TcpConnectionRecord): TcpSeries | undefined {
    const variant = (rec.reporter === 'destination' ? 2 : 0) + (rec.mtls ? 1 : 0);
    const flags = rec.responseFlags === '-' ? '' : (rec.responseFlags ?? '');
    return this.#tcp.get(rec, variant, 'tcp', 0, flags, '');
  }

  /** Appends the exposition of every family to `out`. Families without series are still described. */
  expose(out: string[]): void {
    const http = this.#http.series;
    header(out, METRIC.requests, 'counter', 'Requests handled by the proxy.');
    for (const s of http) counterLine(out, METRIC.requests, s.labels, s.requests);
    header(out, METRIC.duration, 'histogram', 'Request duration in milliseconds.');
    for (const s of http) histogramLines(out, METRIC.duration, s.labels, s.duration);
    header(out, METRIC.requestBytes, 'histogram', 'Request body size in bytes.');
    for (const s of http) histogramLines(out, METRIC.requestBytes, s.labels, s.requestBytes);
    header(out, METRIC.responseBytes, 'histogram', 'Response body size in bytes.');
    for (const s of http) histogramLines(out, METRIC.responseBytes, s.labels, s.responseBytes);
    const tcp = this.#tcp.series;
    header(out, METRIC.tcpSent, 'counter', 'Bytes sent during TCP connections (to the downstream side).');
    for (const s of tcp) counterLine(out, METRIC.tcpSent, s.labels, s.sent);
    header(
      out,
      METRIC.tcpReceived,
      'counter',
      'Bytes received during TCP connections (from the downstream side).',
    );
    for (const s of tcp) counterLine(out, METRIC.tcpReceived, s.labels, s.received);
    header(out, METRIC.tcpOpened, 'counter', 'TCP connections opened.');
    for (const s of tcp) counterLine(out, METRIC.tcpOpened, s.labels, s.opened);
    header(out, METRIC.tcpClosed, 'counter', 'TCP connections closed.');
    for (const s of tcp) counterLine(out, METRIC.tcpClosed, s.labels, s.closed);
  }
}

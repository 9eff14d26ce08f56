/**
 * Proxy-level counters beyond Istio's standard metrics: retries, connection-pool overflows
 * (503 UO), outlier ejections, access-log lines dropped, metric series dropped. Per-cluster
 * counters are keyed by the Envoy-style cluster name, which comes from config (bounded).
 */
import { CounterCell, counterLine, escapeLabelValue, header } from './exposition.js';

class ClusterCounter {
  readonly #cells = new Map<string, CounterCell>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(cluster: string, by = 1): void {
    let cell = this.#cells.get(cluster);
    if (cell === undefined) this.#cells.set(cluster, (cell = new CounterCell()));
    cell.value += by;
  }

  value(cluster: string): number {
    return this.#cells.get(cluster)?.value ?? 0;
  }

  expose(out: string[]): void {
    header(out, this.name, 'counter', this.help);
    for (const [cluster, cell] of this.#cells) {
      counterLine(out, this.name, `cluster_name="${escapeLabelValue(cluster)}"`, cell);
    }
  }
}

export class ProxyCounters {
  /** Retries sent (each attempt after the first). */
  readonly retries = new ClusterCounter('tsmesh_upstream_rq_retry_total', 'Upstream request retries.');
  /** Retries not sent because `connectionPool.http.maxRetries` retries were outstanding. */
  readonly retryOverflows = new ClusterCounter(
    'tsmesh_upstream_rq_retry_overflow_total',
    'Retries not sent because connectionPool.http.maxRetries retries were outstanding.',
  );
  /** Requests refused with 503 UO by connection-pool limits. */
  readonly overflows = new ClusterCounter(
    'tsmesh_upstream_rq_pending_overflow_total',
    'Requests refused by connection-pool limits (503 UO).',
  );
  /** Endpoints ejected by outlier detection. */
  readonly ejections = new ClusterCounter(
    'tsmesh_outlier_detection_ejections_total',
    'Endpoints ejected by outlier detection.',
  );

  expose(out: string[], accessLogDropped: number, seriesDropped: number): void {
    this.retries.expose(out);
    this.retryOverflows.expose(out);
    this.overflows.expose(out);
    this.ejections.expose(out);
    header(
      out,
      'tsmesh_access_log_dropped_total',
      'counter',
      'Access log lines dropped because the output was blocked.',
    );
    out.push(`tsmesh_access_log_dropped_total ${accessLogDropped}`);
    header(
      out,
      'tsmesh_metric_series_dropped_total',
      'counter',
      'Observations dropped because the series limit was reached.',
    );
    out.push(`tsmesh_metric_series_dropped_total ${seriesDropped}`);
  }
}

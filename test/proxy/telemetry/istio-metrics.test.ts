import { afterEach, describe, expect, it } from 'vitest';
import {
  createTelemetry,
  DURATION_BUCKETS_MS,
  HTTP_OUTCOME_LABEL_NAMES,
  type HttpRequestRecord,
  PEER_LABEL_NAMES,
  SIZE_BUCKETS_BYTES,
  serviceFacts,
  type Telemetry,
  UNKNOWN_SERVICE,
  UNKNOWN_WORKLOAD,
  workloadFacts,
} from '../../../runtime/proxy/telemetry/index.js';
import { find, parseExposition } from './prom-parse.js';

const productpage = workloadFacts('productpage-v1', 'default', { app: 'productpage', version: 'v1' });
const reviews = workloadFacts('reviews-v2', 'default', { app: 'reviews', version: 'v2' });
const reviewsSvc = serviceFacts('reviews.default.svc.cluster.local');
const PP_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
const RV_ID = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';

function rec(over: Partial<HttpRequestRecord> = {}): HttpRequestRecord {
  return {
    reporter: 'source',
    startTime: Date.now(),
    durationMs: 3,
    method: 'GET',
    path: '/reviews/1',
    authority: 'reviews:9080',
    httpProtocol: 'HTTP/1.1',
    requestProtocol: 'http',
    status: 200,
    responseFlags: '',
    requestBytes: 0,
    responseBytes: 250,
    source: productpage,
    sourcePrincipal: PP_ID,
    destination: reviews,
    destinationPrincipal: RV_ID,
    service: reviewsSvc,
    mtls: true,
    ...over,
  };
}

let telemetry: Telemetry;
const make = (maxSeries?: number) =>
  (telemetry = createTelemetry({ accessLog: { enabled: false }, ...(maxSeries ? { maxSeries } : {}) }));
afterEach(() => telemetry?.close());

describe('istio standard metrics', () => {
  it('exposes a request with the full Istio label set on the source side', () => {
    make().recordHttp(rec());
    const e = parseExposition(telemetry.metricsText());
    const [sample] = find(e, 'istio_requests_total');
    expect(sample.value).toBe(1);
    expect(Object.keys(sample.labels).sort()).toEqual(
      [...PEER_LABEL_NAMES, ...HTTP_OUTCOME_LABEL_NAMES].sort(),
    );
    expect(sample.labels).toEqual({
      reporter: 'source',
      source_workload: 'productpage-v1',
      source_workload_namespace: 'default',
      source_principal: PP_ID,
      source_app: 'productpage',
      source_version: 'v1',
      source_canonical_service: 'productpage',
      source_canonical_revision: 'v1',
      source_cluster: 'Kubernetes',
      destination_workload: 'reviews-v2',
      destination_workload_namespace: 'default',
      destination_principal: RV_ID,
      destination_app: 'reviews',
      destination_version: 'v2',
      destination_service: 'reviews.default.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'default',
      destination_canonical_service: 'reviews',
      destination_canonical_revision: 'v2',
      destination_cluster: 'Kubernetes',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'unknown',
    });
    expect(e.types.get('istio_requests_total')).toBe('counter');
    for (const h of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      expect(e.types.get(h)).toBe('histogram');
    }
  });

  it('reports mutual_tls or none on the destination side', () => {
    make();
    telemetry.recordHttp(rec({ reporter: 'destination', mtls: true }));
    telemetry.recordHttp(rec({ reporter: 'destination', mtls: false, sourcePrincipal: undefined }));
    const e = parseExposition(telemetry.metricsText());
    const mtls = find(e, 'istio_requests_total', {
      reporter: 'destination',
      connection_security_policy: 'mutual_tls',
    });
    const plain = find(e, 'istio_requests_total', {
      reporter: 'destination',
      connection_security_policy: 'none',
    });
    expect(mtls).toHaveLength(1);
    expect(mtls[0].labels.source_principal).toBe(PP_ID);
    expect(plain).toHaveLength(1);
    expect(plain[0].labels.source_principal).toBe('unknown');
  });

  it('labels unknown peers and unrouted requests as unknown, with their flags', () => {
    make().recordHttp(
      rec({
        status: 404,
        responseFlags: 'NR',
        destination: UNKNOWN_WORKLOAD,
        destinationPrincipal: undefined,
        service: UNKNOWN_SERVICE,
      }),
    );
    const [s] = find(parseExposition(telemetry.metricsText()), 'istio_requests_total');
    expect(s.labels).toMatchObject({
      response_code: '404',
      response_flags: 'NR',
      destination_workload: 'unknown',
      destination_service: 'unknown',
      destination_principal: 'unknown',
      destination_canonical_service: 'unknown',
      destination_cluster: 'unknown',
    });
  });

  it('keeps one series per outcome and counts each', () => {
    make();
    for (let i = 0; i < 5; i++) telemetry.recordHttp(rec());
    telemetry.recordHttp(rec({ status: 503, responseFlags: 'UF,URX' }));
    telemetry.recordHttp(rec({ status: 503, responseFlags: '-' }));
    telemetry.recordHttp(rec({ requestProtocol: 'grpc', grpcStatus: '14' }));
    const e = parseExposition(telemetry.metricsText());
    const all = find(e, 'istio_requests_total');
    expect(all).toHaveLength(4);
    expect(find(e, 'istio_requests_total', { response_code: '200', request_protocol: 'http' })[0].value).toBe(
      5,
    );
    expect(find(e, 'istio_requests_total', { response_flags: 'UF,URX' })[0].value).toBe(1);
    expect(find(e, 'istio_requests_total', { response_code: '503', response_flags: '-' })[0].value).toBe(1);
    expect(find(e, 'istio_requests_total', { request_protocol: 'grpc' })[0].labels.grpc_response_status).toBe(
      '14',
    );
  });

  it('shares one series between equal workload objects (snapshot updates do not duplicate series)', () => {
    make();
    telemetry.recordHttp(rec());
    const again = workloadFacts('reviews-v2', 'default', { app: 'reviews', version: 'v2' });
    telemetry.recordHttp(
      rec({ destination: again, service: serviceFacts('reviews.default.svc.cluster.local') }),
    );
    const all = find(parseExposition(telemetry.metricsText()), 'istio_requests_total');
    expect(all).toHaveLength(1);
    expect(all[0].value).toBe(2);
  });

  it('uses exactly the duration buckets of SEMANTICS.md, cumulative, with sum and count', () => {
    make();
    for (const ms of [0.2, 0.5, 0.7, 3, 42, 1500, 4_000_000]) telemetry.recordHttp(rec({ durationMs: ms }));
    const e = parseExposition(telemetry.metricsText());
    const buckets = find(e, 'istio_request_duration_milliseconds_bucket');
    expect(buckets.map((b) => b.labels.le)).toEqual([
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
      '300000',
      '600000',
      '1800000',
      '3600000',
      '+Inf',
    ]);
    expect(DURATION_BUCKETS_MS).toEqual([
      0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
      3600000,
    ]);
    const at = (le: string) => buckets.find((b) => b.labels.le === le)!.value;
    expect(at('0.5')).toBe(2); // 0.2 and 0.5 (upper bounds are inclusive)
    expect(at('1')).toBe(3);
    expect(at('5')).toBe(4);
    expect(at('50')).toBe(5);
    expect(at('2500')).toBe(6);
    expect(at('3600000')).toBe(6);
    expect(at('+Inf')).toBe(7);
    expect(find(e, 'istio_request_duration_milliseconds_count')[0].value).toBe(7);
    expect(find(e, 'istio_request_duration_milliseconds_sum')[0].value).toBeCloseTo(4_001_546.4, 5);
  });

  it('records request and response sizes in byte buckets', () => {
    make();
    telemetry.recordHttp(rec({ requestBytes: 0, responseBytes: 100 }));
    telemetry.recordHttp(rec({ requestBytes: 5000, responseBytes: 101 }));
    const e = parseExposition(telemetry.metricsText());
    const req = find(e, 'istio_request_bytes_bucket');
    expect(req.map((b) => b.labels.le)).toEqual([...SIZE_BUCKETS_BYTES.map(String), '+Inf']);
    expect(req.find((b) => b.labels.le === '1')!.value).toBe(1);
    expect(req.find((b) => b.labels.le === '10000')!.value).toBe(2);
    const res = find(e, 'istio_response_bytes_bucket');
    expect(res.find((b) => b.labels.le === '100')!.value).toBe(1);
    expect(res.find((b) => b.labels.le === '1000')!.value).toBe(2);
    expect(find(e, 'istio_response_bytes_sum')[0].value).toBe(201);
  });

  it('escapes label values so the exposition parses back', () => {
    make();
    const odd = workloadFacts('w"x', 'ns\\1', { app: 'a\nb' });
    telemetry.recordHttp(rec({ source: odd }));
    const [s] = find(parseExposition(telemetry.metricsText()), 'istio_requests_total');
    expect(s.labels.source_workload).toBe('w"x');
    expect(s.labels.source_workload_namespace).toBe('ns\\1');
    expect(s.labels.source_app).toBe('a\nb');
  });

  it('counts TCP connections and bytes per connection labels', () => {
    make();
    const labels = {
      reporter: 'destination' as const,
      source: productpage,
      sourcePrincipal: PP_ID,
      destination: reviews,
      destinationPrincipal: RV_ID,
      service: reviewsSvc,
      mtls: true,
    };
    const a = telemetry.recordTcpOpen(labels);
    const b = telemetry.recordTcpOpen(labels);
    telemetry.recordTcpBytes(a, 10, 20);
    telemetry.recordTcpClose(a, 1, 2);
    telemetry.recordTcpClose(a, 1000, 1000); // a second close is ignored
    const e = parseExposition(telemetry.metricsText());
    const sel = {
      reporter: 'destination',
      request_protocol: 'tcp',
      connection_security_policy: 'mutual_tls',
    };
    expect(find(e, 'istio_tcp_connections_opened_total', sel)[0].value).toBe(2);
    expect(find(e, 'istio_tcp_connections_closed_total', sel)[0].value).toBe(1);
    expect(find(e, 'istio_tcp_sent_bytes_total', sel)[0].value).toBe(11);
    expect(find(e, 'istio_tcp_received_bytes_total', sel)[0].value).toBe(22);
    expect(find(e, 'istio_tcp_sent_bytes_total', sel)[0].labels.response_flags).toBe('-');
    expect(b.closed).toBe(false);
  });

  it('stops adding series at maxSeries and counts what it dropped', () => {
    make(3);
    for (const status of [200, 201, 202, 203, 204]) telemetry.recordHttp(rec({ status }));
    const e = parseExposition(telemetry.metricsText());
    expect(find(e, 'istio_requests_total')).toHaveLength(3);
    expect(find(e, 'tsmesh_metric_series_dropped_total')[0].value).toBe(2);
  });

  it('exposes proxy counters per cluster', () => {
    make();
    telemetry.counters.retries.inc('outbound|9080||reviews.default.svc.cluster.local');
    telemetry.counters.retries.inc('outbound|9080||reviews.default.svc.cluster.local');
    telemetry.counters.overflows.inc('outbound|9080|v1|ratings.default.svc.cluster.local');
    telemetry.counters.ejections.inc('outbound|9080||reviews.default.svc.cluster.local');
    const e = parseExposition(telemetry.metricsText());
    expect(
      find(e, 'tsmesh_upstream_rq_retry_total', {
        cluster_name: 'outbound|9080||reviews.default.svc.cluster.local',
      })[0].value,
    ).toBe(2);
    expect(find(e, 'tsmesh_upstream_rq_pending_overflow_total')[0].value).toBe(1);
    expect(find(e, 'tsmesh_outlier_detection_ejections_total')[0].value).toBe(1);
    expect(find(e, 'tsmesh_access_log_dropped_total')[0].value).toBe(0);
  });

  it('rejects a bad maxSeries with a clear message', () => {
    expect(() => createTelemetry({ maxSeries: 0 })).toThrow(/maxSeries must be a positive integer, got 0/);
  });
});

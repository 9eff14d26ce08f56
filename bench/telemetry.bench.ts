/**
 * Micro-benchmark of the per-request telemetry cost: the hand-written Istio metrics, the access
 * log, trace context and peer metadata, against prom-client doing the same four metric updates.
 *
 *   npm run bench telemetry
 *   PROM_CLIENT=/path/to/node_modules/prom-client npm run bench telemetry   # include prom-client
 *
 * prom-client is not a dependency; install it anywhere (`npm i --prefix /tmp/pc prom-client`)
 * and point PROM_CLIENT at it to reproduce the comparison in docs/telemetry.md.
 */
import { Writable } from 'node:stream';
import {
  AccessLog,
  AccessLogFormatter,
  createTelemetry,
  DURATION_BUCKETS_MS,
  encodePeerMetadata,
  HTTP_OUTCOME_LABEL_NAMES,
  type HttpRequestRecord,
  PEER_LABEL_NAMES,
  PeerMetadataDecoder,
  SIZE_BUCKETS_BYTES,
  serviceFacts,
  Tracer,
  workloadFacts,
} from '../runtime/proxy/telemetry/index.js';

const N = Number(process.env.N ?? 400_000);

const sources = [
  workloadFacts('productpage-v1', 'default', { app: 'productpage', version: 'v1' }),
  workloadFacts('reviews-v3', 'default', { app: 'reviews', version: 'v3' }),
];
const destination = workloadFacts('ratings-v1', 'default', { app: 'ratings', version: 'v1' });
const service = serviceFacts('ratings.default.svc.cluster.local');
const records: HttpRequestRecord[] = [];
for (const source of sources) {
  for (const status of [200, 503]) {
    for (const flags of ['', 'UF,URX']) {
      records.push({
        reporter: 'destination',
        startTime: Date.now(),
        durationMs: 1.7,
        method: 'GET',
        path: '/ratings/0',
        authority: 'ratings:9080',
        httpProtocol: 'HTTP/1.1',
        requestProtocol: 'http',
        status,
        responseFlags: flags,
        requestBytes: 0,
        responseBytes: 100,
        requestId: '6f1c8f36-1d0b-4a7e-9a31-2f1e4a0b9c55',
        upstreamHost: '127.0.0.1:9080',
        upstreamCluster: 'inbound|9080||',
        routeName: 'default',
        source,
        sourcePrincipal: `spiffe://cluster.local/ns/default/sa/${source.app}`,
        destination,
        destinationPrincipal: 'spiffe://cluster.local/ns/default/sa/ratings',
        service,
        mtls: true,
      });
    }
  }
}

function time(name: string, fn: (i: number) => void): number {
  for (let i = 0; i < 50_000; i++) fn(i); // warm-up for the JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`| ${name} | ${ns.toFixed(0)} |`);
  return ns;
}

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

async function main(): Promise<void> {
  console.log(`N=${N} iterations each, node ${process.version}\n`);
  console.log('| operation | ns per request |\n|---|---:|');

  const metricsOnly = createTelemetry({ accessLog: { enabled: false } });
  time('tsmesh metrics: recordHttp (4 metric updates, cached label sets)', (i) =>
    metricsOnly.recordHttp(records[i & 7]),
  );

  const formatter = new AccessLogFormatter();
  time('access log line: AccessLogFormatter.format (memoized fields, cached second)', (i) =>
    formatter.format(records[i & 7]),
  );
  time('access log line: JSON.stringify of an object', (i) => {
    const r = records[i & 7];
    JSON.stringify({
      time: new Date(r.startTime).toISOString(),
      method: r.method,
      path: r.path,
      protocol: r.httpProtocol,
      status: r.status,
      response_flags: r.responseFlags || '-',
      bytes_received: r.requestBytes,
      bytes_sent: r.responseBytes,
      duration_ms: r.durationMs,
      upstream_host: r.upstreamHost,
      upstream_cluster: r.upstreamCluster,
      route_name: r.routeName,
      request_id: r.requestId,
      peer_identity: r.sourcePrincipal,
      authority: r.authority,
    });
  });

  // The access log batches per event-loop turn: measure in batches of 64 lines per turn.
  const log = new AccessLog({ stream: sink() });
  {
    const batches = N / 64;
    for (let w = 0; w < 500; w++) {
      for (let j = 0; j < 64; j++) log.log(records[j & 7]);
      await new Promise((r) => setImmediate(r));
    }
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < batches; b++) {
      for (let j = 0; j < 64; j++) log.log(records[j & 7]);
      await new Promise((r) => setImmediate(r));
    }
    const ns = Number(process.hrtime.bigint() - t0) / N;
    console.log(
      `| access log: log() + batched writes (64 lines per turn, 32 KiB writes, discarding sink) | ${ns.toFixed(0)} |`,
    );
  }

  const tracer = new Tracer({ sampling: 1 });
  const incoming = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
  time('trace: startSpan (W3C in, W3C + B3 out)', () => tracer.startSpan(incoming));
  time('trace: startSpan (no context, new trace)', () => tracer.startSpan({}));

  const metadata = [encodePeerMetadata(sources[0]), encodePeerMetadata(sources[1])];
  const decoder = new PeerMetadataDecoder();
  time('peer metadata: decode (cached)', (i) => decoder.decode(metadata[i & 1]));
  time('peer metadata: encode', (i) => encodePeerMetadata(sources[i & 1]));

  const promPath = process.env.PROM_CLIENT;
  if (promPath) {
    const prom = (await import(promPath)) as any;
    const client = prom.default ?? prom;
    const labelNames = [...PEER_LABEL_NAMES, ...HTTP_OUTCOME_LABEL_NAMES];
    const make = () => {
      const registry = new client.Registry();
      const counter = new client.Counter({
        name: 'istio_requests_total',
        help: 'r',
        labelNames,
        registers: [registry],
      });
      const hist = (name: string, buckets: readonly number[]) =>
        new client.Histogram({ name, help: 'h', labelNames, buckets: [...buckets], registers: [registry] });
      return {
        registry,
        counter,
        duration: hist('istio_request_duration_milliseconds', DURATION_BUCKETS_MS),
        reqBytes: hist('istio_request_bytes', SIZE_BUCKETS_BYTES),
        resBytes: hist('istio_response_bytes', SIZE_BUCKETS_BYTES),
      };
    };
    const labelsOf = (r: HttpRequestRecord): Record<string, string> => ({
      reporter: r.reporter,
      source_workload: r.source.workload,
      source_workload_namespace: r.source.namespace,
      source_principal: r.sourcePrincipal ?? 'unknown',
      source_app: r.source.app,
      source_version: r.source.version,
      source_canonical_service: r.source.canonicalService,
      source_canonical_revision: r.source.canonicalRevision,
      source_cluster: r.source.cluster,
      destination_workload: r.destination.workload,
      destination_workload_namespace: r.destination.namespace,
      destination_principal: r.destinationPrincipal ?? 'unknown',
      destination_app: r.destination.app,
      destination_version: r.destination.version,
      destination_service: r.service.host,
      destination_service_name: r.service.name,
      destination_service_namespace: r.service.namespace,
      destination_canonical_service: r.destination.canonicalService,
      destination_canonical_revision: r.destination.canonicalRevision,
      destination_cluster: r.destination.cluster,
      request_protocol: r.requestProtocol,
      connection_security_policy: r.mtls ? 'mutual_tls' : 'none',
      response_code: String(r.status),
      grpc_response_status: r.grpcStatus ?? '',
      response_flags: r.responseFlags || '-',
    });
    const naive = make();
    time('prom-client: 4 updates, label object built per request', (i) => {
      const r = records[i & 7];
      const l = labelsOf(r);
      naive.counter.inc(l);
      naive.duration.observe(l, r.durationMs);
      naive.reqBytes.observe(l, r.requestBytes);
      naive.resBytes.observe(l, r.responseBytes);
    });
    const cached = make();
    const prebuilt = records.map(labelsOf);
    time('prom-client: 4 updates, label objects precomputed', (i) => {
      const r = records[i & 7];
      const l = prebuilt[i & 7];
      cached.counter.inc(l);
      cached.duration.observe(l, r.durationMs);
      cached.reqBytes.observe(l, r.requestBytes);
      cached.resBytes.observe(l, r.responseBytes);
    });
    const children = make();
    const kids = prebuilt.map((l) => ({
      c: children.counter.labels(l),
      d: children.duration.labels(l),
      q: children.reqBytes.labels(l),
      s: children.resBytes.labels(l),
    }));
    time('prom-client: 4 updates on cached children (.labels() once per set)', (i) => {
      const r = records[i & 7];
      const k = kids[i & 7];
      k.c.inc();
      k.d.observe(r.durationMs);
      k.q.observe(r.requestBytes);
      k.s.observe(r.responseBytes);
    });
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await naive.registry.metrics();
    const promScrape = Number(process.hrtime.bigint() - t0) / 200 / 1000;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) metricsOnly.metricsText();
    const ourScrape = Number(process.hrtime.bigint() - t0) / 200 / 1000;
    console.log(
      `\nscrape of 8 series x 4 metrics: tsmesh ${ourScrape.toFixed(0)} µs, prom-client ${promScrape.toFixed(0)} µs`,
    );
  } else {
    console.log('\n(prom-client comparison skipped: set PROM_CLIENT to an installed prom-client path)');
  }
  await metricsOnly.close();
  await log.close();
}

await main();

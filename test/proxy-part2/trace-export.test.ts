import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipkinExporter } from '../../runtime/proxy/telemetry-export/zipkin.js';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { pod, service, spiffe } from '../proxy/helpers/snapshot.js';

interface Collected {
  traceId: string;
  id: string;
  parentId?: string;
  kind: string;
  name: string;
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
}

/** An in-test Zipkin collector: keeps every span POSTed to /api/v2/spans. */
async function startCollector(): Promise<{ server: Server; url: string; spans: Collected[]; posts: number }> {
  const c = { server: createServer(), url: '', spans: [] as Collected[], posts: 0 };
  c.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      c.posts++;
      if (req.url === '/api/v2/spans' && req.headers['content-type'] === 'application/json')
        c.spans.push(...(JSON.parse(Buffer.concat(chunks).toString()) as Collected[]));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', r));
  c.url = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}/api/v2/spans`;
  return c;
}

const TRACE = 'c'.repeat(32);
const CALLER_SPAN = 'd'.repeat(16);

describe('trace export through two sidecars over mTLS', () => {
  let pki: TestPki;
  let app: EchoServer;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('reviews');
    collector = await startCollector();
    const reviews = pod({ name: 'reviews-0', app: 'reviews', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('reviews', [{ port: 9080, targetPort: app.port }]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
    ];
    const options = { traceExport: { endpoint: collector.url, flushIntervalMs: 20 } };
    server = await startSidecar({
      pod: reviews,
      objects,
      workloads: [reviews, sleep],
      peers,
      options,
      cert: pki.leaf({ uris: [spiffe('default', 'reviews')] }),
    });
    client = await startSidecar({
      pod: sleep,
      objects,
      workloads: [reviews, sleep],
      peers,
      options,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), server?.proxy.stop()]);
    await app?.close();
    collector?.server.close();
    pki?.cleanup();
  });

  it('exports a client and a server span of one trace, the server parented by the client', async () => {
    const res = await send(client.ports.outbound, '/reviews/1', {
      host: 'reviews:9080',
      headers: { traceparent: `00-${TRACE}-${CALLER_SPAN}-01` },
    });
    expect(res.status).toBe(200);
    await waitFor(() => collector.spans.filter((s) => s.traceId === TRACE).length === 2);
    const spans = collector.spans.filter((s) => s.traceId === TRACE);
    const clientSpan = spans.find((s) => s.kind === 'CLIENT')!;
    const serverSpan = spans.find((s) => s.kind === 'SERVER')!;
    expect(clientSpan.parentId).toBe(CALLER_SPAN);
    expect(serverSpan.parentId).toBe(clientSpan.id);
    expect(clientSpan.localEndpoint.serviceName).toBe('sleep.default');
    expect(serverSpan.localEndpoint.serviceName).toBe('reviews.default');
    expect(serverSpan.duration).toBeGreaterThan(0);
    // The app saw the server span as its parent.
    const seen = JSON.parse(res.body).headers.traceparent as string;
    expect(seen.split('-')[2]).toBe(serverSpan.id);
  });

  it('exports nothing when the incoming sampling flag says no', async () => {
    const unsampled = 'e'.repeat(32);
    for (let i = 0; i < 3; i++) {
      const res = await send(client.ports.outbound, `/reviews/${i}`, {
        host: 'reviews:9080',
        headers: { traceparent: `00-${unsampled}-${CALLER_SPAN}-00` },
      });
      expect(res.status).toBe(200);
    }
    // A sampled request after them: once its spans arrived, any earlier span would have too.
    const barrier = 'f'.repeat(32);
    await send(client.ports.outbound, '/barrier', {
      host: 'reviews:9080',
      headers: { traceparent: `00-${barrier}-${CALLER_SPAN}-01` },
    });
    await waitFor(() => collector.spans.filter((s) => s.traceId === barrier).length === 2);
    expect(collector.spans.filter((s) => s.traceId === unsampled)).toEqual([]);
  });
});

describe('the Zipkin exporter', () => {
  it('sends spans in batches and drops (counting) what exceeds its queue', async () => {
    const collector = await startCollector();
    const exporter = new ZipkinExporter({
      endpoint: collector.url,
      batchSize: 10,
      maxQueue: 25,
      flushIntervalMs: 10_000,
    });
    const span = (i: number) => ({
      traceId: 'a'.repeat(32),
      id: i.toString(16).padStart(16, '0'),
      kind: 'CLIENT' as const,
      sampled: true,
      timestamp: 1,
      duration: 5,
      name: 'x',
      tags: {},
    });
    for (let i = 1; i <= 40; i++) exporter.onSpan(span(i));
    await exporter.flush();
    expect(collector.spans.length + exporter.stats.dropped).toBe(40);
    expect(exporter.stats.dropped).toBeGreaterThan(0);
    expect(collector.posts).toBeGreaterThanOrEqual(3);
    collector.server.close();
  });

  it('refuses an endpoint that is not an http(s) URL, naming the option', () => {
    expect(() => new ZipkinExporter({ endpoint: 'zipkin:9411' })).toThrow(/traceExport.endpoint/);
    expect(() => new ZipkinExporter({ endpoint: 'http://z/api', batchSize: 0 })).toThrow(
      'traceExport.batchSize must be a positive integer, got 0',
    );
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshConfigSpec, MeshObject } from '../../lib/api/types.js';
import { MESH_CONFIG_API_VERSION } from '../../lib/constants.js';
import type { WorkloadInstance } from '../../lib/model.js';
import type { ProxyOptionsInput } from '../../runtime/proxy/options.js';
import { createTelemetry, type Telemetry } from '../../runtime/proxy/telemetry/index.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar, waitFor } from './helpers/mesh.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, proxyOf, service, snapshot, spiffe } from './helpers/snapshot.js';

function meshConfig(spec: MeshConfigSpec): MeshObject {
  return {
    apiVersion: MESH_CONFIG_API_VERSION,
    kind: 'MeshConfig',
    metadata: { name: 'mesh', namespace: 'istio-system' },
    spec,
  } as MeshObject;
}

/** A real telemetry whose access log goes to memory, counting the requests it recorded. */
function loggingTelemetry(): { telemetry: Telemetry; lines: () => string[]; recorded: () => number } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const inner = createTelemetry({ accessLog: { stream: out, flushIntervalMs: 1 } });
  let recorded = 0;
  const telemetry: Telemetry = {
    ...inner,
    recordHttp(rec, span) {
      inner.recordHttp(rec, span);
      recorded++;
    },
  };
  return { telemetry, lines: () => text.split('\n').filter((l) => l !== ''), recorded: () => recorded };
}

/** A Zipkin collector on loopback that keeps every span it is sent. */
async function startCollector(): Promise<{
  url: string;
  spans: { traceId: string }[];
  close(): Promise<void>;
}> {
  const spans: { traceId: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      spans.push(...(JSON.parse(body) as { traceId: string }[]));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api/v2/spans`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('MeshConfig telemetry settings applied by the sidecar', () => {
  let pki: TestPki;
  let app: EchoServer;
  let server: Sidecar;
  const peers: PeerPorts = new Map();
  const started: Sidecar[] = [];
  const base: MeshObject[] = [];
  let sleep: WorkloadInstance;
  let workloads: WorkloadInstance[];
  let version = 1;

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('reviews-v1');
    const reviews = pod({ name: 'reviews-v1-0', app: 'reviews', version: 'v1', ports: [app.port] });
    sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    base.push(service('reviews', [{ port: 9080, targetPort: app.port }]));
    base.push(service('sleep', [{ port: 80, targetPort: 8080 }]));
    workloads = [reviews, sleep];
    server = await startSidecar({
      pod: reviews,
      objects: base,
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'reviews')] }),
    });
  });

  afterAll(async () => {
    for (const s of started) await s.proxy.stop();
    await server?.proxy.stop();
    await app?.close();
    pki?.cleanup();
  });

  async function client(mesh: MeshConfigSpec, options: Partial<ProxyOptionsInput>): Promise<Sidecar> {
    const s = await startSidecar({
      pod: sleep,
      objects: [...base, meshConfig(mesh)],
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
      options,
    });
    started.push(s);
    await waitFor(() => s.proxy.isReady());
    return s;
  }

  function push(s: Sidecar, mesh: MeshConfigSpec): Promise<void> {
    version++;
    return s.snapshots.push(snapshot(proxyOf(sleep), [...base, meshConfig(mesh)], workloads, version));
  }

  async function call(s: Sidecar, headers: Record<string, string> = {}): Promise<Record<string, string>> {
    const res = await send(s.ports.outbound, '/reviews/1', { host: 'reviews:9080', headers });
    expect(res.status).toBe(200);
    return JSON.parse(res.body).headers;
  }

  it('writes no access-log line with accessLogging false, one with true, following later snapshots', async () => {
    const t = loggingTelemetry();
    // accessLog left unset: no flag, so MeshConfig decides.
    const s = await client({ accessLogging: false }, { telemetry: t.telemetry, accessLog: undefined });
    await call(s);
    await waitFor(() => t.recorded() >= 1);
    t.telemetry.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.lines()).toEqual([]);

    await push(s, { accessLogging: true });
    await call(s);
    await waitFor(() => t.lines().length >= 1);
    expect(t.lines()).toHaveLength(1);
    expect(t.lines()[0]).toContain('/reviews/1');

    await push(s, { accessLogging: false });
    await call(s);
    await waitFor(() => t.recorded() >= 3);
    t.telemetry.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.lines()).toHaveLength(1);
  });

  it('keeps the access log off under --no-access-log, whatever MeshConfig says', async () => {
    // accessLog: false is what `tsmesh proxy --no-access-log` passes.
    const s = await client({ accessLogging: true }, { accessLog: false });
    await push(s, { accessLogging: true });
    await call(s);
    await waitFor(() => s.proxy.telemetry.metricsText().includes('istio_requests_total{'));
    s.proxy.telemetry.flush();
    expect(s.proxy.telemetry.accessLog.enabled).toBe(false);
    expect(s.proxy.telemetry.accessLog.written).toBe(0);
  });

  it('samples every new trace with traceSampling 100 and none with 0, following later snapshots', async () => {
    const s = await client({ traceSampling: 100 }, {});
    for (let i = 0; i < 5; i++)
      expect((await call(s)).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await push(s, { traceSampling: 0 });
    for (let i = 0; i < 5; i++)
      expect((await call(s)).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    // The caller's decision still wins over the mesh percentage.
    const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect((await call(s, { traceparent: incoming })).traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/,
    );
    await push(s, { traceSampling: 100 });
    expect((await call(s)).traceparent).toMatch(/-01$/);
  });

  it('rejects a snapshot with traceSampling outside 0..100 and keeps the last one', async () => {
    const s = await client({ traceSampling: 0 }, {});
    await expect(push(s, { traceSampling: 150 })).rejects.toThrow(/traceSampling.*between 0 and 100.*150/);
    expect(s.proxy.telemetry.tracer.sampling).toBe(0);
    expect((await call(s)).traceparent).toMatch(/-00$/);
  });

  it('exports spans to the MeshConfig tracingCollector unless a collector is given explicitly', async () => {
    const meshCollector = await startCollector();
    const flagCollector = await startCollector();
    try {
      const s = await client({ traceSampling: 100, tracingCollector: meshCollector.url }, {});
      const traceId = (await call(s)).traceparent?.split('-')[1];
      await s.proxy.traceExporter?.flush();
      await waitFor(() => meshCollector.spans.some((sp) => sp.traceId === traceId));

      const fixed = await client(
        { traceSampling: 100, tracingCollector: meshCollector.url },
        { traceExport: { endpoint: flagCollector.url } },
      );
      const before = meshCollector.spans.length;
      const fixedTrace = (await call(fixed)).traceparent?.split('-')[1];
      await fixed.proxy.traceExporter?.flush();
      await waitFor(() => flagCollector.spans.some((sp) => sp.traceId === fixedTrace));
      expect(meshCollector.spans.slice(before).some((sp) => sp.traceId === fixedTrace)).toBe(false);
    } finally {
      await meshCollector.close();
      await flagCollector.close();
    }
  });
});

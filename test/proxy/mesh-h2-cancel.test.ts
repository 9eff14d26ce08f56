import { request } from 'node:http';
import { connect as connectH2, constants } from 'node:http2';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRequestRecord, Telemetry } from '../../runtime/proxy/telemetry/index.js';
import { type PeerPorts, type Sidecar, send, waitFor } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { type SlowApp, startSlowApp, startSlowH2App } from './helpers/slow-app.js';
import { pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/**
 * Starts a request through the client sidecar's outbound listener and destroys it `afterMs`
 * later; resolves with whether any answer came first. With `body`, the request is a POST whose
 * body is still being sent when the client goes away.
 */
function abandon(port: number, path: string, afterMs: number, body?: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: body === undefined ? 'GET' : 'POST',
      headers: { host: 'reviews:9080', ...(body === undefined ? {} : { 'transfer-encoding': 'chunked' }) },
      agent: false,
    });
    req.on('error', () => undefined);
    req.on('response', () => {
      answered = true;
    });
    if (body === undefined) req.end();
    else req.write(body);
    setTimeout(() => {
      req.destroy();
      resolve(answered);
    }, afterMs);
  });
}

/**
 * The same over h2c from the app (prior knowledge): the stream is reset with CANCEL `afterMs`
 * later, the way an HTTP/2 client gives up on a request.
 */
function abandonH2(port: number, path: string, afterMs: number, body?: string): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const session = connectH2(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    const stream = session.request(
      { ':method': body === undefined ? 'GET' : 'POST', ':path': path, ':authority': 'reviews:9080' },
      { endStream: body === undefined },
    );
    stream.on('error', () => undefined);
    stream.on('response', () => {
      answered = true;
    });
    if (body !== undefined) stream.write(body);
    setTimeout(() => {
      stream.close(constants.NGHTTP2_CANCEL, () => session.close());
      resolve(answered);
    }, afterMs);
  });
}

/** A GET over h2c from the app: status, body bytes and the stream's reset code (0 when it ended cleanly). */
function getH2(port: number, path: string): Promise<{ status: number; bytes: number; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const session = connectH2(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': 'reviews:9080' });
    let status = 0;
    let bytes = 0;
    stream.on('error', () => undefined);
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    stream.on('close', () => {
      resolve({ status, bytes, rstCode: stream.rstCode ?? 0 });
      session.close();
    });
  });
}

/** The abandoned request's app-side life: how long after the client left the app saw it go. */
async function appAbortDelay(app: SlowApp, path: string, leftAt: number): Promise<number> {
  await waitFor(() => app.find(path)?.abortedAt !== undefined, 2000);
  const seen = app.find(path)!;
  expect(seen.answered).toBe(false);
  return seen.abortedAt! - leftAt;
}

/** A sidecar telemetry writing its access log into `lines` (one parsed JSON object per request). */
function loggingTelemetry(): {
  telemetry: Telemetry;
  records: HttpRequestRecord[];
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { ...capturingTelemetry({ stream, flushIntervalMs: 10 }), lines };
}

/** The sidecars of a pair speaking `meshAlpn`, in front of a slow app (HTTP/1.1, or h2c with `h2`). */
function pairFixture(meshAlpn: string, app: { h2?: boolean } = {}) {
  const state = {} as {
    pki: TestPki;
    app: SlowApp;
    client: Sidecar;
    server: Sidecar;
    clientRecords: HttpRequestRecord[];
    serverRecords: HttpRequestRecord[];
    /** The server sidecar's access log lines. */
    serverLog: Record<string, unknown>[];
  };
  beforeAll(async () => {
    const peers: PeerPorts = new Map();
    state.pki = createTestPki();
    state.app = app.h2 ? await startSlowH2App() : await startSlowApp();
    const reviews = pod({ name: 'reviews-v1-0', app: 'reviews', version: 'v1', ports: [state.app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const objects = [
      service('reviews', [
        { port: 9080, targetPort: state.app.port, name: app.h2 ? 'http2-reviews' : 'http-reviews' },
      ]),
      service('sleep', [{ port: 80, targetPort: 8080 }]),
    ];
    const clientTelemetry = capturingTelemetry();
    const serverTelemetry = loggingTelemetry();
    state.clientRecords = clientTelemetry.records;
    state.serverRecords = serverTelemetry.records;
    state.serverLog = serverTelemetry.lines;
    ({ server: state.server, client: state.client } = await startPair({
      pki: state.pki,
      peers,
      objects,
      workloads: [reviews, sleep],
      server: reviews,
      client: sleep,
      clientOptions: { meshAlpn, telemetry: clientTelemetry.telemetry },
      serverOptions: { telemetry: serverTelemetry.telemetry },
    }));
  });
  afterAll(async () => {
    await state.client?.proxy.stop();
    await state.server?.proxy.stop();
    await state.app?.close();
    state.pki?.cleanup();
  });
  return state;
}

/**
 * An upload larger than the client sidecar's retry buffer (64 KiB), so it streams to the app
 * before it ends instead of being buffered whole.
 */
const UPLOAD = 'u'.repeat(100_000);

const flagsOf = (records: { path: string; responseFlags: string }[], path: string) =>
  records.find((r) => r.path === path)?.responseFlags;

describe('a client that goes away, with HTTP/2 between sidecars (meshAlpn tsmesh-h2)', () => {
  const s = pairFixture('tsmesh-h2');

  it('cancels the app request on the server sidecar within 2 s, flagged DC on both sides', async () => {
    expect(await abandon(s.client.ports.outbound, '/hang/get', 200)).toBe(false);
    const leftAt = Date.now();
    expect(s.app.find('/hang/get')).toBeDefined();
    expect(await appAbortDelay(s.app, '/hang/get', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/get') !== undefined, 2000);
    const server = s.serverRecords.find((r) => r.path === '/hang/get')!;
    expect(server.responseFlags).toBe('DC');
    expect(server.reporter).toBe('destination');
    expect(server.httpProtocol).toBe('HTTP/2');
    expect(server.status).toBe(0);
    await waitFor(() => s.serverLog.some((l) => l.path === '/hang/get'), 2000);
    expect(s.serverLog.find((l) => l.path === '/hang/get')).toMatchObject({
      response_flags: 'DC',
      protocol: 'HTTP/2',
    });
    const stats = await send(s.server.ports.stats, '/stats/prometheus', { host: 'localhost' });
    const dc = stats.body
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{') && l.includes('response_flags="DC"'));
    expect(dc.some((l) => l.includes('reporter="destination"'))).toBe(true);
    await waitFor(() => flagsOf(s.clientRecords, '/hang/get') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/hang/get')).toBe('DC');
  });

  it('cancels an upload whose body is still arriving (the stream is reset, not left open)', async () => {
    expect(await abandon(s.client.ports.outbound, '/hang/post', 200, UPLOAD)).toBe(false);
    const leftAt = Date.now();
    expect(s.app.find('/hang/post')?.bodyBytes).toBeGreaterThan(0);
    expect(await appAbortDelay(s.app, '/hang/post', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/post') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/post')).toBe('DC');
    await waitFor(() => flagsOf(s.clientRecords, '/hang/post') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/hang/post')).toBe('DC');
  });

  it('cancels a response being streamed when the client goes away mid-body, DC on both sides', async () => {
    expect(await abandon(s.client.ports.outbound, '/drip/h1', 300)).toBe(true);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/drip/h1', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/drip/h1') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/drip/h1')).toBe('DC');
    expect(s.serverRecords.find((r) => r.path === '/drip/h1')?.status).toBe(200);
    await waitFor(() => flagsOf(s.clientRecords, '/drip/h1') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/drip/h1')).toBe('DC');
  });

  it('closes the app connections of cancelled requests and keeps serving', async () => {
    const paths = Array.from({ length: 10 }, (_, i) => `/hang/many${i}`);
    await Promise.all(paths.map((p) => abandon(s.client.ports.outbound, p, 200)));
    await waitFor(() => paths.every((p) => s.app.find(p)?.socketClosedAt !== undefined), 2000);
    expect(await s.app.connections()).toBe(0);
    await waitFor(() => paths.every((p) => flagsOf(s.serverRecords, p) === 'DC'), 2000);
    const res = await send(s.client.ports.outbound, '/after', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('ok /after');
    await waitFor(() => flagsOf(s.serverRecords, '/after') !== undefined, 2000);
    expect(['', '-']).toContain(flagsOf(s.serverRecords, '/after'));
  });

  it('passes an app reset mid-response to the client as a truncated response (UC)', async () => {
    const res = await send(s.client.ports.outbound, '/cut', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeGreaterThanOrEqual(2000);
    expect(res.body.length).toBeLessThan(100_000);
    await waitFor(() => flagsOf(s.serverRecords, '/cut') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/cut')).toBe('UC');
    const again = await send(s.client.ports.outbound, '/after-cut', { host: 'reviews:9080' });
    expect(again.status).toBe(200);
  });
});

describe('an HTTP/2 app that resets its stream, HTTP/2 between sidecars, HTTP/1.1 app', () => {
  const s = pairFixture('tsmesh-h2');

  it('cancels the app request within 2 s, flagged DC on both sides', async () => {
    expect(await abandonH2(s.client.ports.outbound, '/hang/h2-get', 200)).toBe(false);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/hang/h2-get', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/h2-get') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/h2-get')).toBe('DC');
    await waitFor(() => flagsOf(s.clientRecords, '/hang/h2-get') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/hang/h2-get')).toBe('DC');
  });

  it('cancels an upload whose body is still arriving', async () => {
    expect(await abandonH2(s.client.ports.outbound, '/hang/h2-post', 200, UPLOAD)).toBe(false);
    const leftAt = Date.now();
    expect(s.app.find('/hang/h2-post')?.bodyBytes).toBeGreaterThan(0);
    expect(await appAbortDelay(s.app, '/hang/h2-post', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/h2-post') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/h2-post')).toBe('DC');
    expect(await s.app.connections()).toBe(0);
  });

  it('cancels a response being streamed when the stream is reset mid-body, DC on both sides', async () => {
    expect(await abandonH2(s.client.ports.outbound, '/drip/h2', 300)).toBe(true);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/drip/h2', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/drip/h2') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/drip/h2')).toBe('DC');
    await waitFor(() => flagsOf(s.clientRecords, '/drip/h2') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/drip/h2')).toBe('DC');
    expect(s.clientRecords.find((r) => r.path === '/drip/h2')?.status).toBe(200);
  });

  it('resets the stream when the app resets mid-response (UC), then keeps serving', async () => {
    const res = await getH2(s.client.ports.outbound, '/cut-h2');
    expect(res.status).toBe(200);
    expect(res.rstCode).not.toBe(constants.NGHTTP2_NO_ERROR);
    expect(res.bytes).toBeLessThan(100_000);
    await waitFor(() => flagsOf(s.serverRecords, '/cut-h2') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/cut-h2')).toBe('UC');
    const ok = await getH2(s.client.ports.outbound, '/after-h2');
    expect(ok).toEqual({ status: 200, bytes: 'ok /after-h2'.length, rstCode: constants.NGHTTP2_NO_ERROR });
  });
});

describe('a client that goes away, with HTTP/1.1 between sidecars (the default mesh ALPN)', () => {
  const s = pairFixture('tsmesh-http/1.1');

  it('cancels the app request on the server sidecar within 2 s, flagged DC on both sides', async () => {
    expect(await abandon(s.client.ports.outbound, '/hang/get', 200)).toBe(false);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/hang/get', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/get') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/get')).toBe('DC');
    expect(s.serverRecords.find((r) => r.path === '/hang/get')?.httpProtocol).toBe('HTTP/1.1');
    await waitFor(() => flagsOf(s.clientRecords, '/hang/get') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/hang/get')).toBe('DC');
  });

  it('cancels an upload whose body is still arriving', async () => {
    expect(await abandon(s.client.ports.outbound, '/hang/post', 200, UPLOAD)).toBe(false);
    const leftAt = Date.now();
    expect(s.app.find('/hang/post')?.bodyBytes).toBeGreaterThan(0);
    expect(await appAbortDelay(s.app, '/hang/post', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/post') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/post')).toBe('DC');
  });

  it('cancels a response being streamed when the client goes away mid-body, DC on both sides', async () => {
    expect(await abandon(s.client.ports.outbound, '/drip/h1', 300)).toBe(true);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/drip/h1', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/drip/h1') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/drip/h1')).toBe('DC');
    await waitFor(() => flagsOf(s.clientRecords, '/drip/h1') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/drip/h1')).toBe('DC');
  });

  it('closes the connections of cancelled requests and keeps serving', async () => {
    const paths = Array.from({ length: 10 }, (_, i) => `/hang/many${i}`);
    await Promise.all(paths.map((p) => abandon(s.client.ports.outbound, p, 200)));
    await waitFor(() => paths.every((p) => s.app.find(p)?.socketClosedAt !== undefined), 2000);
    const res = await send(s.client.ports.outbound, '/after', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
  });

  it('passes an app reset mid-response to the client as a truncated response (UC)', async () => {
    const res = await send(s.client.ports.outbound, '/cut', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    await waitFor(() => flagsOf(s.serverRecords, '/cut') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/cut')).toBe('UC');
  });
});

describe('a client that goes away, in front of an h2c app (port declared http2)', () => {
  const s = pairFixture('tsmesh-h2', { h2: true });

  it('resets the app stream within 2 s, flagged DC on both sides', async () => {
    expect(await abandon(s.client.ports.outbound, '/hang/to-h2', 200)).toBe(false);
    const leftAt = Date.now();
    expect(await appAbortDelay(s.app, '/hang/to-h2', leftAt)).toBeLessThan(2000);
    await waitFor(() => flagsOf(s.serverRecords, '/hang/to-h2') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/hang/to-h2')).toBe('DC');
    await waitFor(() => flagsOf(s.clientRecords, '/hang/to-h2') !== undefined, 2000);
    expect(flagsOf(s.clientRecords, '/hang/to-h2')).toBe('DC');
    const res = await send(s.client.ports.outbound, '/after', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('ok /after');
  });

  it('passes an app stream reset mid-response to the client as a truncated response (UC)', async () => {
    const res = await send(s.client.ports.outbound, '/cut', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThan(100_000);
    await waitFor(() => flagsOf(s.serverRecords, '/cut') !== undefined, 2000);
    expect(flagsOf(s.serverRecords, '/cut')).toBe('UC');
  });
});

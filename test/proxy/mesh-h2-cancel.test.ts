import { createServer, request, type Server } from 'node:http';
import {
  connect as connectH2,
  constants,
  createServer as createH2Server,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTelemetry,
  type HttpRequestRecord,
  type Telemetry,
} from '../../runtime/proxy/telemetry/index.js';
import { type PeerPorts, type Sidecar, send, waitFor } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, service } from './helpers/snapshot.js';
import { capturingTelemetry } from './helpers/telemetry.js';

/** What the app saw of one request. */
interface AppRequest {
  path: string;
  arrivedAt: number;
  /** When the request's `close` fired before an answer was sent (the client side went away). */
  abortedAt?: number;
  /** When the connection that carried it closed. */
  socketClosedAt?: number;
  answered: boolean;
  bodyBytes: number;
}

/**
 * An HTTP/1.1 app on loopback: `/hang...` never answers, `/drip...` answers 200 and sends 100
 * bytes every 20 ms without ever ending, `/cut...` sends headers and part of a body then resets
 * its connection, anything else answers 200 at once. It records when each
 * request's client went away.
 */
interface SlowApp {
  port: number;
  requests: AppRequest[];
  find(path: string): AppRequest | undefined;
  /** Connections open to the app now. */
  connections(): Promise<number>;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

async function startSlowApp(): Promise<SlowApp> {
  const requests: AppRequest[] = [];
  const server: Server = createServer((req, res) => {
    const seen: AppRequest = { path: req.url ?? '', arrivedAt: Date.now(), answered: false, bodyBytes: 0 };
    requests.push(seen);
    req.on('data', (c: Buffer) => {
      seen.bodyBytes += c.length;
    });
    res.once('close', () => {
      if (!seen.answered) seen.abortedAt = Date.now();
    });
    req.socket.once('close', () => {
      seen.socketClosedAt ??= Date.now();
    });
    const path = req.url ?? '/';
    if (path.startsWith('/hang')) return;
    if (path.startsWith('/drip')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('d'.repeat(100)), 20);
      res.once('close', () => clearInterval(timer));
      return;
    }
    if (path.startsWith('/cut')) {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      res.write('c'.repeat(2000), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    req.resume();
    req.on('end', () => {
      seen.answered = true;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`ok ${path}`);
    });
  });
  let accepted = 0;
  server.on('connection', () => {
    accepted++;
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    accepted: () => accepted,
    port: (server.address() as AddressInfo).port,
    requests,
    find: (path) => requests.find((r) => r.path === path),
    connections: () =>
      new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The same app over h2c (a port declared `http2`): `/hang`, `/cut` (stream reset, INTERNAL_ERROR) and 200. */
async function startSlowH2App(): Promise<SlowApp> {
  const requests: AppRequest[] = [];
  const server = createH2Server();
  let accepted = 0;
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    accepted++;
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    const path = String(headers[':path'] ?? '/');
    const seen: AppRequest = { path, arrivedAt: Date.now(), answered: false, bodyBytes: 0 };
    requests.push(seen);
    stream.on('error', () => undefined);
    stream.on('data', (c: Buffer) => {
      seen.bodyBytes += c.length;
    });
    stream.once('close', () => {
      if (!seen.answered) seen.abortedAt = Date.now();
    });
    if (path.startsWith('/hang')) return;
    if (path.startsWith('/cut')) {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      // destroy, not close(code): Node's close() ends the stream (END_STREAM) before resetting it.
      stream.write('c'.repeat(2000), () => setTimeout(() => stream.destroy(new Error('app reset')), 50));
      return;
    }
    stream.resume();
    stream.on('end', () => {
      seen.answered = true;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`ok ${path}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    find: (path) => requests.find((r) => r.path === path),
    connections: async () => sessions.size,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

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
  const inner = createTelemetry({ accessLog: { stream, flushIntervalMs: 10 } });
  const records: HttpRequestRecord[] = [];
  const telemetry: Telemetry = {
    ...inner,
    recordHttp(rec, span) {
      records.push({ ...rec });
      inner.recordHttp(rec, span);
    },
  };
  return { telemetry, records, lines };
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

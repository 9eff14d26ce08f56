import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogFormatter } from '../../../runtime/proxy/telemetry/access-log.js';
import {
  AccessLog,
  createTelemetry,
  type HttpRequestRecord,
  serviceFacts,
  workloadFacts,
} from '../../../runtime/proxy/telemetry/index.js';
import { find, parseExposition } from './prom-parse.js';

const rec = (over: Partial<HttpRequestRecord> = {}): HttpRequestRecord => ({
  reporter: 'destination',
  startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 67),
  durationMs: 1.23456,
  method: 'POST',
  path: '/api/v1/items?x=1',
  authority: 'items.shop:8080',
  httpProtocol: 'HTTP/1.1',
  requestProtocol: 'http',
  status: 201,
  responseFlags: '',
  requestBytes: 12,
  responseBytes: 34,
  requestId: 'a0b1c2d3-0000-4000-8000-000000000001',
  upstreamHost: '127.0.0.1:8080',
  upstreamCluster: 'inbound|8080||',
  routeName: 'default',
  source: workloadFacts('web', 'shop', {}),
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/web',
  destination: workloadFacts('items', 'shop', {}),
  destinationPrincipal: 'spiffe://cluster.local/ns/shop/sa/items',
  service: serviceFacts('items.shop.svc.cluster.local'),
  mtls: true,
  ...over,
});

/** A writable that records each write() call. */
function recorder(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      writes.push(chunk.toString());
      cb();
    },
  });
  return { stream, writes };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('access log', () => {
  it('writes one JSON line per request with the documented fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    dirs.push(dir);
    const file = join(dir, 'access.log');
    const log = new AccessLog({ path: file });
    log.log(rec());
    log.log(
      rec({ reporter: 'source', status: 503, responseFlags: 'UF,URX', method: 'GET', path: '/a"b\\c\u0001' }),
    );
    await log.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]);
    expect(first).toEqual({
      time: '2026-01-02T03:04:05.067Z',
      reporter: 'destination',
      method: 'POST',
      path: '/api/v1/items?x=1',
      protocol: 'HTTP/1.1',
      status: 201,
      response_flags: '-',
      bytes_received: 12,
      bytes_sent: 34,
      duration_ms: 1.235,
      upstream_host: '127.0.0.1:8080',
      upstream_cluster: 'inbound|8080||',
      route_name: 'default',
      request_id: 'a0b1c2d3-0000-4000-8000-000000000001',
      peer_identity: 'spiffe://cluster.local/ns/shop/sa/web',
      authority: 'items.shop:8080',
    });
    const second = JSON.parse(lines[1]);
    expect(second).toMatchObject({
      status: 503,
      response_flags: 'UF,URX',
      path: '/a"b\\c\u0001',
      peer_identity: 'spiffe://cluster.local/ns/shop/sa/items',
    });
  });

  it('encodes each line into the batch byte for byte as JSON.stringify spells its fields', () => {
    const cases: Partial<HttpRequestRecord>[] = [
      {},
      { reporter: 'source', startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 0) + 0.75, durationMs: 0 },
      { durationMs: 12, status: 0, requestBytes: 0, responseBytes: 9_007_199_254_740_991 },
      { durationMs: 1234.5678, responseFlags: 'UF,URX', upstreamHost: undefined, routeName: undefined },
      { durationMs: 1e-9, requestId: 'quote " back \\ slash \u0001', path: '/caf\u00e9/\u{1f600}?q=\u00fc' },
      {
        durationMs: Number.NaN,
        status: 503,
        requestBytes: 1.5,
        responseBytes: -1,
        authority: 'h\u00f6st:80',
      },
      { method: 'GET', path: `/${'x'.repeat(70_000)}`, requestId: undefined, sourcePrincipal: undefined },
      ...[
        0.001, 0.01, 0.1, 0.0004, 0.0005, 1.2, 1.23, 999.999, 1000, 86_400_000.5, 123_456_789.0125, -2.5,
        1e13,
      ].map((durationMs) => ({ durationMs, requestId: '' })),
    ];
    // The fields in order, as JSON.stringify writes them: the independent reference.
    const dash = (v: string | undefined) => (v === undefined || v === '' ? '-' : v);
    const reference = (r: HttpRequestRecord) =>
      JSON.stringify({
        time: new Date(Math.floor(r.startTime)).toISOString(),
        reporter: r.reporter,
        method: dash(r.method),
        path: dash(r.path),
        protocol: dash(r.httpProtocol),
        status: r.status,
        response_flags: dash(r.responseFlags),
        bytes_received: r.requestBytes,
        bytes_sent: r.responseBytes,
        duration_ms: Math.round(r.durationMs * 1000) / 1000,
        upstream_host: dash(r.upstreamHost),
        upstream_cluster: dash(r.upstreamCluster),
        route_name: dash(r.routeName),
        request_id: dash(r.requestId),
        peer_identity: dash(r.reporter === 'destination' ? r.sourcePrincipal : r.destinationPrincipal),
        authority: dash(r.authority),
      });
    const formatter = new AccessLogFormatter();
    const encoder = new AccessLogFormatter();
    for (const over of cases) {
      const r = rec(over);
      const expected = `${reference(r)}\n`;
      expect(formatter.format(r)).toBe(reference(r));
      const need = encoder.prepare(r);
      const buf = Buffer.alloc(need + 8, 0xff);
      const end = encoder.encodeInto(buf, 5);
      expect(buf.subarray(5, end).toString('utf8')).toBe(expected);
      expect(end - 5).toBe(Buffer.byteLength(expected));
      expect(end).toBeLessThanOrEqual(need + 5);
      expect(buf[end]).toBe(0xff);
    }
    // NaN and infinities are not JSON numbers: they are written as null.
    expect(
      JSON.parse(formatter.format(rec({ durationMs: Number.NaN, status: Number.POSITIVE_INFINITY }))),
    ).toMatchObject({
      duration_ms: null,
      status: null,
    });
  });

  it('writes the pending lines with one write at the end of the turn that reaches flushBytes', async () => {
    const { stream, writes } = recorder();
    const log = new AccessLog({ stream, flushBytes: 4000 });
    for (let i = 0; i < 50; i++) log.log(rec({ status: 200 + (i % 3) }));
    expect(writes).toHaveLength(0); // nothing written synchronously
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(writes[0].trim().split('\n')).toHaveLength(50);
    expect(log.written).toBe(50);
    expect(log.dropped).toBe(0);
  });

  it('keeps multi-byte and very long lines intact in a batch, and starts the next batch afresh', async () => {
    const { stream, writes } = recorder();
    const log = new AccessLog({ stream, flushBytes: 1000 });
    const long = `/caf\u00e9/${'\u{1F600}'.repeat(12_000)}/\u00fcber`; // ~48 KB of UTF-8, beyond one buffer
    log.log(rec({ path: '/first' }));
    log.log(rec({ path: long }));
    log.log(rec({ path: '/na\u00efve' }));
    await nextTurn();
    expect(writes).toHaveLength(1);
    const paths = writes[0]
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).path);
    expect(paths).toEqual(['/first', long, '/na\u00efve']);
    log.log(rec({ path: '/after' }));
    log.flush();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(`${writes[1].trim()}\n`);
    expect(JSON.parse(writes[1]).path).toBe('/after');
  });

  it('writes a lone line within flushIntervalMs', async () => {
    const { stream, writes } = recorder();
    const log = new AccessLog({ stream, flushIntervalMs: 20 });
    log.log(rec());
    await nextTurn();
    expect(writes).toHaveLength(0); // below flushBytes: waits for the interval
    await new Promise((r) => setTimeout(r, 80));
    expect(writes).toHaveLength(1);
    log.log(rec());
    log.flush();
    expect(writes).toHaveLength(2);
  });

  it('drops and counts lines while a real pipe nobody reads is full, without blocking', async () => {
    // The child never reads its stdin: the pipe fills (64 KiB) and the socket buffers up.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    try {
      const telemetry = createTelemetry({ accessLog: { stream: child.stdin, highWaterMark: 16 * 1024 } });
      const started = performance.now();
      for (let turn = 0; turn < 200; turn++) {
        for (let i = 0; i < 20; i++)
          telemetry.recordHttp(rec({ path: `/item/${turn}/${i}/${'p'.repeat(200)}` }));
        await nextTurn();
      }
      const elapsed = performance.now() - started;
      const { dropped, written } = telemetry.accessLog;
      expect(written + dropped).toBe(4000);
      expect(written).toBeGreaterThan(0);
      expect(dropped).toBeGreaterThan(0);
      // Generous bound: 200 turns must not have waited for the pipe.
      expect(elapsed).toBeLessThan(5000);
      const e = parseExposition(telemetry.metricsText());
      expect(find(e, 'tsmesh_access_log_dropped_total')[0].value).toBe(dropped);
      // Metrics were still recorded for every request.
      expect(find(e, 'istio_requests_total')[0].value).toBe(4000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('never blocks on its default output, stdout, when that pipe is full', async () => {
    const fixture = join(import.meta.dirname, 'fixtures', 'blocked-stdout.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pause(); // never read: the 64 KiB pipe buffer fills up
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdout.destroy();
    expect(code).toBe(0);
    const report = JSON.parse(err.trim().split('\n').pop()!);
    expect(report.written + report.dropped).toBe(20000);
    expect(report.dropped).toBeGreaterThan(0);
    // A blocked write would stall a turn forever; generous bound for a loaded machine.
    expect(report.maxTurnMs).toBeLessThan(2000);
  });

  it('resumes writing once the output drains', async () => {
    let release: (() => void) | undefined;
    const writes: string[] = [];
    const stream = new Writable({
      highWaterMark: 10,
      write(chunk, _enc, cb) {
        writes.push(chunk.toString());
        release = cb; // complete only when the test says so
      },
    });
    const log = new AccessLog({ stream, flushBytes: 1 });
    log.log(rec());
    await nextTurn();
    expect(writes).toHaveLength(1);
    log.log(rec());
    await nextTurn();
    expect(log.dropped).toBe(1);
    release?.();
    await nextTurn();
    log.log(rec());
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(log.dropped).toBe(1);
  });

  it('drops lines beyond maxBatchLines waiting for a write', async () => {
    const { stream, writes } = recorder();
    const log = new AccessLog({ stream, maxBatchLines: 10, flushBytes: 1 });
    for (let i = 0; i < 25; i++) log.log(rec());
    await nextTurn();
    expect(writes[0].trim().split('\n')).toHaveLength(10);
    expect(log.dropped).toBe(15);
  });

  it('survives a broken output and counts the lost lines', async () => {
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EPIPE'));
      },
    });
    const log = new AccessLog({ stream, flushBytes: 1 });
    log.log(rec());
    await nextTurn();
    await nextTurn();
    log.log(rec());
    await nextTurn();
    expect(log.dropped).toBeGreaterThanOrEqual(1);
  });

  it('writes nothing when disabled', async () => {
    const { stream, writes } = recorder();
    const log = new AccessLog({ enabled: false, stream });
    log.log(rec());
    await nextTurn();
    expect(log.enabled).toBe(false);
    expect(writes).toHaveLength(0);
  });

  it('rejects bad options with the field and value', () => {
    expect(() => new AccessLog({ maxBatchLines: 0 })).toThrow(
      /maxBatchLines must be a positive integer, got 0/,
    );
    expect(() => new AccessLog({ highWaterMark: 1.5 })).toThrow(
      /highWaterMark must be a positive integer, got 1.5/,
    );
    expect(() => new AccessLog({ flushBytes: -1 })).toThrow(/flushBytes must be a positive integer, got -1/);
    expect(() => new AccessLog({ flushIntervalMs: Number.NaN })).toThrow(
      /flushIntervalMs must be >= 0, got NaN/,
    );
  });
});

import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../runtime/proxy/forward.js';
import {
  checkRawHeaders,
  filterRawResponseHeaders,
  filterRequestHeaders,
  filterResponseHeaders,
} from '../../runtime/proxy/hygiene.js';
import { MemoryCertificateSource, MemorySnapshotSource } from '../../runtime/proxy/memory-sources.js';
import { resolveProxyOptions } from '../../runtime/proxy/options.js';
import { peekClientHello } from '../../runtime/proxy/tls/client-hello.js';
import { formatMeshSni, parseMeshSni } from '../../runtime/proxy/tls/sni.js';
import { LeastRequestBalancer, RoundRobinBalancer } from '../../runtime/proxy/upstream/balancer.js';
import { newOutlierState, OutlierDetector } from '../../runtime/proxy/upstream/outlier.js';

describe('mesh SNI', () => {
  it('round-trips port, subset and host', () => {
    const sni = formatMeshSni(9080, 'v2', 'reviews.default.svc.cluster.local');
    expect(sni).toBe('outbound_.9080_.v2_.reviews.default.svc.cluster.local');
    expect(parseMeshSni(sni)).toEqual({
      port: 9080,
      subset: 'v2',
      host: 'reviews.default.svc.cluster.local',
    });
    expect(parseMeshSni(formatMeshSni(80, undefined, 'a.b'))).toEqual({ port: 80, host: 'a.b' });
  });
  it('rejects other names and bad ports', () => {
    expect(parseMeshSni('reviews.default')).toBeUndefined();
    expect(parseMeshSni('outbound_.99999_._.x')).toBeUndefined();
    expect(parseMeshSni(false)).toBeUndefined();
  });
});

describe('ClientHello peeking', () => {
  it('reads the ALPN list and SNI from a real ClientHello', async () => {
    const first = await new Promise<Buffer>((resolve) => {
      const server = createServer((s) => {
        s.once('data', (d: Buffer) => {
          resolve(d);
          s.destroy();
          server.close();
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const port = (server.address() as { port: number }).port;
        const c = tlsConnect({
          host: '127.0.0.1',
          port,
          servername: 'outbound_.1_._.x',
          ALPNProtocols: ['tsmesh-http/1.1', 'h2'],
        });
        c.on('error', () => undefined);
      });
    });
    expect(peekClientHello(first)).toEqual({
      state: 'ok',
      alpn: ['tsmesh-http/1.1', 'h2'],
      sni: 'outbound_.1_._.x',
    });
    expect(peekClientHello(first.subarray(0, 20))).toEqual({ state: 'incomplete' });
    expect(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ state: 'invalid' });
  });
});

describe('hygiene', () => {
  const limits = { maxHeadersCount: 100 };
  it('counts header lines on the raw list', () => {
    const raw = Array.from({ length: 101 }, (_, i) => [`x-${i}`, 'v']).flat();
    expect(checkRawHeaders(raw, limits)?.status).toBe(431);
    expect(checkRawHeaders(raw.slice(0, 200), limits)).toBeUndefined();
  });
  it('refuses ambiguous framing and two Host headers', () => {
    expect(checkRawHeaders(['Host', 'a', 'host', 'b'], limits)?.message).toBe('more than one Host header');
    expect(checkRawHeaders(['Content-Length', '1', 'Transfer-Encoding', 'chunked'], limits)?.status).toBe(
      400,
    );
    expect(checkRawHeaders(['content-length', '1', 'Content-Length', '1'], limits)?.status).toBe(400);
    expect(checkRawHeaders(['x', 'a\u0001b'], limits)?.status).toBe(400);
  });
  it('drops hop-by-hop and mesh-internal headers, keeps allow-listed ones as trusted', () => {
    const out = filterRequestHeaders(
      [
        'Connection',
        'close, X-Secret',
        'X-Secret',
        '1',
        'Keep-Alive',
        '5',
        'Upgrade',
        'h2c',
        'Proxy-Authorization',
        'x',
        'X-Envoy-Upstream-Rq-Timeout-Ms',
        '100',
        'x-envoy-foo',
        'bar',
        'X-Forwarded-Client-Cert',
        'forged',
        'x-tsmesh-peer-metadata',
        'forged',
        'TE',
        'trailers, deflate',
        'Accept',
        '*/*',
      ],
      { allowInternal: new Set(['x-envoy-upstream-rq-timeout-ms']) },
    );
    expect(out.list).toEqual(['Accept', '*/*', 'te', 'trailers']);
    expect([...out.trusted]).toEqual([['x-envoy-upstream-rq-timeout-ms', '100']]);
  });
  it('filters hop-by-hop response headers and expands repeated ones', () => {
    expect(
      filterResponseHeaders({
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'set-cookie': ['a=1', 'b=2'],
        'x-a': 'b',
      }),
    ).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-a', 'b']);
  });
  it('filters a raw response header list: hop-by-hop, proxy-* and Connection-named ones go, the rest keep order and case', () => {
    const raw = [
      'Content-Type',
      'text/plain',
      'Connection',
      'keep-alive, X-Internal',
      'Keep-Alive',
      'timeout=5',
      'Set-Cookie',
      'a=1',
      'Proxy-Authenticate',
      'Basic',
      'x-internal',
      'secret',
      'Set-Cookie',
      'b=2',
      'Transfer-Encoding',
      'chunked',
      'grpc-status',
      '14',
    ].map((v, i) => (i % 4 === 0 ? Buffer.from(v, 'latin1') : v));
    const out = filterRawResponseHeaders(raw);
    expect(out.list).toEqual([
      'Content-Type',
      'text/plain',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'grpc-status',
      '14',
    ]);
    expect(out.grpcStatus).toBe('14');
    expect(filterRawResponseHeaders([Buffer.from('x-a'), Buffer.from('b')]).grpcStatus).toBeUndefined();
  });
});

describe('backoff', () => {
  it('is jittered, exponential from the base and capped at ten times the base', () => {
    expect(backoffMs(25, 1, () => 0.999)).toBe(24);
    expect(backoffMs(25, 2, () => 0.999)).toBe(74);
    expect(backoffMs(25, 10, () => 0.999)).toBe(249);
    expect(backoffMs(25, 3, () => 0)).toBe(0);
  });
});

describe('balancers', () => {
  it('least request prefers the endpoint with fewer requests in flight of the two it samples', () => {
    const eps = [{ active: 5 }, { active: 0 }];
    const b = new LeastRequestBalancer();
    for (let i = 0; i < 20; i++) expect(b.pick(eps, { random: Math.random })).toBe(eps[1]);
  });
  it('round robin cycles', () => {
    const eps = [{ active: 0 }, { active: 0 }, { active: 0 }];
    const b = new RoundRobinBalancer();
    expect([0, 1, 2, 3].map(() => eps.indexOf(b.pick(eps)!))).toEqual([0, 1, 2, 0]);
  });
});

describe('outlier detector', () => {
  const policy = {
    consecutive5xxErrors: 3,
    consecutiveGatewayErrors: 0,
    intervalMs: 1000,
    baseEjectionTimeMs: 2000,
    maxEjectionPercent: 100,
    minHealthPercent: 0,
  };
  it('ejects at the threshold, returns after base × count, caps the count-based time', () => {
    let now = 0;
    const hosts = [{ outlier: newOutlierState() }, { outlier: newOutlierState() }];
    const d = new OutlierDetector(
      policy,
      () => hosts,
      () => now,
    );
    d.report(hosts[0], 500);
    d.report(hosts[0], 0);
    expect(d.isEjected(hosts[0])).toBe(false);
    d.report(hosts[0], 503);
    expect(d.isEjected(hosts[0])).toBe(true);
    now = 1999;
    d.sweep();
    expect(d.isEjected(hosts[0])).toBe(true);
    now = 2000;
    d.sweep();
    expect(d.isEjected(hosts[0])).toBe(false);
    for (const s of [500, 500, 500]) d.report(hosts[0], s);
    expect(hosts[0].outlier.ejectionMs).toBe(4000);
  });
  it('a success resets the consecutive count', () => {
    const hosts = [{ outlier: newOutlierState() }];
    const d = new OutlierDetector(policy, () => hosts);
    d.report(hosts[0], 500);
    d.report(hosts[0], 500);
    d.report(hosts[0], 200);
    d.report(hosts[0], 500);
    expect(d.isEjected(hosts[0])).toBe(false);
  });
  it('respects maxEjectionPercent', () => {
    const hosts = [
      { outlier: newOutlierState() },
      { outlier: newOutlierState() },
      { outlier: newOutlierState() },
    ];
    const d = new OutlierDetector({ ...policy, maxEjectionPercent: 10 }, () => hosts);
    for (let i = 0; i < 5; i++) d.report(hosts[0], 500);
    expect(d.isEjected(hosts[0])).toBe(false);
  });
});

describe('options', () => {
  const sources = {
    snapshotSource: new MemorySnapshotSource(),
    certificateSource: new MemoryCertificateSource(),
  };
  it('merges defaults', () => {
    const o = resolveProxyOptions(sources);
    expect(o.ports).toEqual({ outbound: 15001, inbound: 15006, admin: 15000, stats: 15020, health: 15021 });
    expect(o.drainSeconds).toBe(5);
  });
  it('names every bad option at once and refuses a non-loopback admin address', () => {
    expect(() =>
      resolveProxyOptions({ ...sources, adminHost: '0.0.0.0', address: 'pod', ports: { outbound: 70000 } }),
    ).toThrow(
      /adminHost must be a loopback address.*\n.*address must be an IP address|address must be an IP address[\s\S]*adminHost/,
    );
    expect(() => resolveProxyOptions({ ...sources, ports: { outbound: 70000 } })).toThrow(
      'ports.outbound must be an integer in 0..65535, got 70000',
    );
  });
});

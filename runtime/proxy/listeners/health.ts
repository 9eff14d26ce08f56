/**
 * 15021 `/healthz/ready` (ready = a valid certificate, a first applied snapshot, not draining)
 * and 15020: merged Prometheus metrics and the rewritten app probes, which the kubelet calls
 * in place of the app's own (plaintext) probes under STRICT mTLS.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import type { ProxyContext } from '../context.js';
import type { AppProbe } from '../options.js';
import { PROMETHEUS_CONTENT_TYPE } from '../telemetry/index.js';

export function createHealthServer(ready: () => boolean): Server {
  return createServer((req, res) => {
    req.resume();
    if (req.url === '/healthz/ready' && (req.method === 'GET' || req.method === 'HEAD')) {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}

function probeApp(host: string, probe: AppProbe): Promise<number> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  return new Promise((resolve) => {
    if (probe.tcpSocket) {
      const s = connect({ host, port: probe.tcpSocket.port });
      s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
      s.once('connect', () => {
        s.destroy();
        resolve(200);
      });
      s.once('error', () => resolve(503));
      return;
    }
    const g = probe.httpGet;
    if (!g) return resolve(500);
    const headers: Record<string, string> = {};
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    const r = httpRequest(
      { host, port: g.port, path: g.path ?? '/', method: 'GET', headers, timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 500);
      },
    );
    r.once('timeout', () => r.destroy(new Error('timeout')));
    r.once('error', () => resolve(503));
    r.end();
  });
}

export function createStatsServer(ctx: ProxyContext, ready: () => boolean): Server {
  return createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/stats/prometheus') {
      const text = ctx.telemetry.metricsText();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (path === '/healthz/ready') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    const m = /^\/app-health\/([^/]+)\/(readyz|livez|startupz)$/.exec(path);
    const probe = m ? ctx.options.appProbes[path] : undefined;
    if (probe) {
      void probeApp(ctx.options.appHost, probe).then((status) => {
        res.writeHead(status >= 200 && status < 400 ? 200 : status, { 'content-type': 'text/plain' });
        res.end(`app probe ${m![1]}/${m![2]}: ${status}\n`);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}

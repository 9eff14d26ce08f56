#!/usr/bin/env node
/**
 * A small load generator that runs inside a pod (`tsmesh exec sleep -- node build/runtime/local/load.js ...`)
 * and prints one JSON summary: status codes, distinct bodies with counts, chosen response headers.
 * It honours HTTP_PROXY/http_proxy (the loopback fallback's explicit proxy) like the example apps.
 *
 *   node load.js --url http://reviews:9080/reviews/0 --requests 1000 --concurrency 8 -H 'end-user: jason'
 */
import { realpathSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface LoadSummary {
  url: string;
  total: number;
  durationMs: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  bodies: { status: number; count: number; body: string }[];
  headers: Record<string, Record<string, number>>;
  /** GETs sent again because a reused keep-alive connection had just been closed by the server. */
  staleConnectionRetries: number;
}

export interface LoadOptions {
  url: string;
  requests: number;
  concurrency: number;
  headers: Record<string, string>;
  method: string;
  timeoutMs: number;
  countHeaders: string[];
  /** Bodies longer than this are cut before counting. */
  bodyBytes: number;
  env: NodeJS.ProcessEnv;
}

function proxyFor(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const raw = env.HTTP_PROXY || env.http_proxy;
  if (!raw) return undefined;
  const noProxy = (env.NO_PROXY || env.no_proxy || '').split(',').map((s) => s.trim());
  if (noProxy.includes(target.hostname)) return undefined;
  return new URL(raw);
}

export async function runLoad(o: LoadOptions): Promise<LoadSummary> {
  const target = new URL(o.url);
  const proxy = proxyFor(target, o.env);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const summary: LoadSummary = {
    url: o.url,
    total: 0,
    durationMs: 0,
    statuses: {},
    errors: {},
    bodies: [],
    headers: {},
    staleConnectionRetries: 0,
  };
  const bodies = new Map<string, { status: number; count: number; body: string }>();
  const one = (attempt = 0): Promise<void> =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          agent,
          host: proxy ? proxy.hostname : target.hostname,
          port: proxy ? Number(proxy.port || 80) : Number(target.port || 80),
          method: o.method,
          path: proxy ? target.href : `${target.pathname}${target.search}`,
          headers: { host: target.host, ...o.headers },
          timeout: o.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', () => {});
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            summary.statuses[status] = (summary.statuses[status] ?? 0) + 1;
            const body = Buffer.concat(chunks).toString('utf8').slice(0, o.bodyBytes);
            const key = `${status} ${body}`;
            const entry = bodies.get(key) ?? { status, count: 0, body };
            entry.count++;
            bodies.set(key, entry);
            for (const name of o.countHeaders) {
              const value = String(res.headers[name] ?? '-');
              summary.headers[name] ??= {};
              summary.headers[name][value] = (summary.headers[name][value] ?? 0) + 1;
            }
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed just as it was reused: like browsers, send
        // an idempotent request once more on a fresh connection (counted apart, never hidden).
        if (
          attempt === 0 &&
          req.reusedSocket &&
          (err.code === 'ECONNRESET' || err.code === 'EPIPE') &&
          o.method === 'GET'
        ) {
          summary.staleConnectionRetries++;
          one(1).then(resolve);
          return;
        }
        const code = err.code ?? err.message;
        summary.errors[code] = (summary.errors[code] ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, o.requests) }, async () => {
      while (next < o.requests) {
        next++;
        await one();
      }
    }),
  );
  agent.destroy();
  summary.total = o.requests;
  summary.durationMs = Date.now() - started;
  summary.bodies = [...bodies.values()].sort((a, b) => b.count - a.count);
  return summary;
}

export function parseLoadArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      requests: { type: 'string', short: 'n', default: '100' },
      concurrency: { type: 'string', short: 'c', default: '4' },
      header: { type: 'string', short: 'H', multiple: true, default: [] },
      method: { type: 'string', short: 'X', default: 'GET' },
      'timeout-ms': { type: 'string', default: '10000' },
      'count-header': { type: 'string', multiple: true, default: [] },
      'body-bytes': { type: 'string', default: '2000' },
    },
  });
  if (!values.url) throw new Error('--url is required');
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`-H expects 'name: value', got '${h}'`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const int = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${v}'`);
    return n;
  };
  return {
    url: values.url,
    requests: int('requests', values.requests),
    concurrency: int('concurrency', values.concurrency),
    headers,
    method: values.method ?? 'GET',
    timeoutMs: int('timeout-ms', values['timeout-ms']),
    countHeaders: (values['count-header'] ?? []).map((h) => h.toLowerCase()),
    bodyBytes: int('body-bytes', values['body-bytes']),
    env,
  };
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    const summary = await runLoad(parseLoadArgs(process.argv.slice(2)));
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } catch (e) {
    process.stderr.write(`load: ${(e as Error).message}\n`);
    process.exitCode = 2;
  }
}

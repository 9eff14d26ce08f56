/**
 * The outbound HTTP call every example app makes: through the proxy named by `HTTP_PROXY` /
 * `http_proxy` when set (absolute-form request, as an explicit proxy expects), otherwise directly
 * (where the sidecar captures it transparently), with a timeout per call.
 */
import http from 'node:http';

export interface CallOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** The whole call, from connect to the last body byte. */
  readonly timeoutMs: number;
  readonly body?: string;
  /** The environment to read the proxy from. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

export interface CallResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** The proxy URL from the environment, if any (HTTP_PROXY wins over http_proxy). */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const raw = env.HTTP_PROXY || env.http_proxy;
  if (!raw) return undefined;
  const url = new URL(raw.includes('://') ? raw : `http://${raw}`);
  if (url.protocol !== 'http:') throw new Error(`HTTP_PROXY must be an http:// URL, got ${raw}`);
  return url;
}

export function call(url: string, options: CallOptions): Promise<CallResult> {
  const target = new URL(url);
  if (target.protocol !== 'http:')
    return Promise.reject(new Error(`only http:// URLs are supported, got ${url}`));
  const proxy = proxyFromEnv(options.env);
  const headers: Record<string, string> = { ...options.headers, host: target.host };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  const request: http.RequestOptions = proxy
    ? {
        host: proxy.hostname,
        port: proxy.port || 80,
        path: target.href,
        method: options.method ?? 'GET',
        headers,
      }
    : {
        host: target.hostname,
        port: target.port || 80,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        headers,
      };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...request, agent: false, signal: AbortSignal.timeout(options.timeoutMs) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err: Error) =>
      reject(
        err.name === 'AbortError' ? new Error(`timed out after ${options.timeoutMs} ms calling ${url}`) : err,
      ),
    );
    req.end(options.body);
  });
}

/** Calls `url` up to `attempts` times; a try fails on a network error, timeout or 5xx. */
export async function callWithRetries(
  url: string,
  options: CallOptions & { attempts: number },
): Promise<CallResult> {
  let last: unknown;
  for (let i = 0; i < options.attempts; i++) {
    try {
      const res = await call(url, options);
      if (res.status < 500) return res;
      last = new Error(`${url} answered ${res.status}`);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** Headers every app forwards from the request it serves to the calls it makes. */
export const TRACE_HEADERS = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
] as const;

/** Picks the trace headers (and `end-user` when asked) from an incoming request. */
export function forwardedHeaders(
  incoming: http.IncomingHttpHeaders,
  extra: readonly string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...TRACE_HEADERS, ...extra]) {
    const v = incoming[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/**
 * A small JSON-over-HTTP client for the admin endpoints on Unix sockets (the control plane's
 * admin API and each sidecar's admin socket).
 */
import { request } from 'node:http';

export interface AdminResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export interface AdminRequest {
  method?: string;
  path: string;
  body?: unknown;
  /** @default 30000 */
  timeoutMs?: number;
}

export function adminRequest<T = unknown>(socketPath: string, req: AdminRequest): Promise<AdminResponse<T>> {
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  return new Promise((resolve, reject) => {
    const r = request(
      {
        socketPath,
        path: req.path,
        method: req.method ?? (payload ? 'POST' : 'GET'),
        headers: {
          host: 'localhost',
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
        timeout: req.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') || /^\s*[[{]/.test(text)) {
            try {
              body = JSON.parse(text);
            } catch {}
          }
          resolve({ status: res.statusCode ?? 0, body: body as T, text });
        });
      },
    );
    r.on('timeout', () =>
      r.destroy(new Error(`no answer from ${socketPath} within ${req.timeoutMs ?? 30_000} ms`)),
    );
    r.on('error', (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? ' (is the mesh running? start it with tsmesh up)'
          : '';
      reject(new AdminError(`cannot reach ${socketPath}: ${err.code ?? err.message}${hint}`));
    });
    r.end(payload);
  });
}

/** Like adminRequest, but a non-2xx answer is an AdminError carrying the server's message. */
export async function adminCall<T = unknown>(socketPath: string, req: AdminRequest): Promise<T> {
  const res = await adminRequest<T>(socketPath, req);
  if (res.status < 200 || res.status >= 300) {
    throw new AdminError(errorMessage(res.body, res.text, res.status), res.status, res.body);
  }
  return res.body;
}

function errorMessage(body: unknown, text: string, status: number): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const msg = b.error ?? b.message ?? b.reason;
    if (typeof msg === 'string') return msg;
    if (msg && typeof msg === 'object' && typeof (msg as any).message === 'string')
      return (msg as any).message;
  }
  return text.trim() || `HTTP ${status}`;
}

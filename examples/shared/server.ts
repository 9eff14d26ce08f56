/**
 * The small shell every example app shares: listen on `PORT` at `TSMESH_POD_IP` (or all
 * addresses), log one line per request, close cleanly on SIGTERM.
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

/** Wraps a handler with per-request logging and a 500 for unexpected errors. */
export function createAppServer(
  name: string,
  handler: Handler,
  log: (line: string) => void = console.log,
): http.Server {
  return http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`${name} ${req.method} ${req.url} ${res.statusCode} ${ms.toFixed(1)}ms`);
    });
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: Error) => {
        if (!res.headersSent) sendJson(res, 500, { error: err.message });
        else res.destroy(err);
      });
  });
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function readBody(req: http.IncomingMessage, limit = 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Listens on PORT (default `fallbackPort`) at TSMESH_POD_IP or 0.0.0.0 and exits 0 on SIGTERM. */
export function runApp(name: string, server: http.Server, fallbackPort: number): void {
  const port = Number(process.env.PORT ?? fallbackPort);
  const host = process.env.TSMESH_POD_IP ?? '0.0.0.0';
  server.listen(port, host, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    console.log(`${name} listening on ${host}:${actual}`);
  });
  const stop = () => {
    console.log(`${name} stopping`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** True when `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const path = fileURLToPath(moduleUrl);
  return path === entry || path.replace(/\.[cm]?[jt]s$/, '') === entry.replace(/\.[cm]?[jt]s$/, '');
}

/**
 * Slow apps for cancellation tests: an HTTP/1.1 and an h2c server on loopback that hang, drip or
 * reset on request, and record when each request's client went away.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createH2Server, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** What the app saw of one request. */
export interface AppRequest {
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
 * its connection, anything else answers 200 at once.
 */
export interface SlowApp {
  port: number;
  requests: AppRequest[];
  find(path: string): AppRequest | undefined;
  /** Connections open to the app now. */
  connections(): Promise<number>;
  /** Connections accepted so far. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startSlowApp(): Promise<SlowApp> {
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
export async function startSlowH2App(): Promise<SlowApp> {
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

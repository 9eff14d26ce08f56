/**
 * An echo upstream for proxy tests: answers every request with JSON describing what it received
 * (method, url, headers, raw headers, body, its own name), and keeps a log of received and
 * aborted requests. Special paths:
 *   .../status/<code>     answer with that status (anywhere in the path)
 *   /slow/<ms>            answer after <ms> milliseconds (aborts are logged)
 *   /reset-mid-body       send headers and part of the body, then destroy the socket
 *   /reset-before-headers destroy the socket without answering
 *   /hold...              answer only once `release()` is called
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  server: string;
}

export interface EchoServer {
  server: Server;
  port: number;
  name: string;
  /** Requests seen, in arrival order. */
  received: Received[];
  /** URLs of requests whose client went away before the answer was sent. */
  aborted: string[];
  /** Requests in flight. */
  inFlight: () => number;
  /** Answers every /hold request received so far (and later ones at once). */
  release(): void;
  close(): Promise<void>;
}

export interface EchoOptions {
  /** Answer every request with this status (a failing endpoint). */
  fixedStatus?: number;
}

export async function startEcho(
  name = 'echo',
  host = '127.0.0.1',
  options: EchoOptions = {},
): Promise<EchoServer> {
  const received: Received[] = [];
  const aborted: string[] = [];
  let inFlight = 0;
  let released = false;
  const held: (() => void)[] = [];
  const server = createServer((req, res) => {
    inFlight++;
    let done = false;
    res.once('close', () => {
      inFlight--;
      if (!done) aborted.push(req.url ?? '');
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const rec: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        server: name,
      };
      received.push(rec);
      const url = req.url ?? '/';
      const send = (status: number) => {
        const text = JSON.stringify(rec);
        done = true;
        res.writeHead(status, { 'content-type': 'application/json', 'x-echo-server': name });
        res.end(text);
      };
      const status = /\/status\/(\d{3})/.exec(url);
      const slow = /^\/slow\/(\d+)/.exec(url);
      if (options.fixedStatus) send(options.fixedStatus);
      else if (slow) {
        // `/slow/<ms>` answers 200 after a delay; `/slow/<ms>/status/<code>` that code.
        const t = setTimeout(() => send(status ? Number(status[1]) : 200), Number(slow[1]));
        res.once('close', () => clearTimeout(t));
      } else if (status) send(Number(status[1]));
      else if (url.startsWith('/reset-mid-body')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
        res.write('x'.repeat(1000), () => setTimeout(() => req.socket.destroy(), 20));
      } else if (url.startsWith('/hold')) {
        if (released) send(200);
        else held.push(() => send(200));
      } else if (url.startsWith('/reset-before-headers')) {
        req.socket.destroy();
      } else send(200);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    name,
    received,
    aborted,
    inFlight: () => inFlight,
    release: () => {
      released = true;
      for (const f of held.splice(0)) f();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * HTTP/2 in, HTTP/1.1 out: the server sidecar's last hop when a request arrived over HTTP/2 (from
 * a client sidecar, or h2c from a plaintext client) but the app port is not declared HTTP/2 or
 * gRPC. The stream's headers become an HTTP/1.1 request (`:authority` → Host), bodies stream both
 * ways with backpressure, HTTP/1.1 trailers (rare) become HTTP/2 trailers, and a reset on either
 * side cancels the other. Keep-alive connections to the app are pooled per port.
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { LOCAL_REPLY } from '../exchange.js';
import type { H2Exchange } from './forward.js';
import { H2 } from './http2.js';
import { localReplyH2 } from './reply.js';

const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** App ports whose protocol makes the server sidecar speak h2c to the app. */
export function appSpeaksH2(protocol: string | undefined, grpc: boolean): boolean {
  if (protocol === 'http2' || protocol === 'grpc' || protocol === 'grpc-web') return true;
  // An undeclared port: a gRPC request can only be served over HTTP/2.
  return (protocol === undefined || protocol === 'auto') && grpc;
}

export class Http1Bridge {
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });

  constructor(private readonly appHost: string) {}

  /**
   * Forwards one stream to the app on `port`; resolves when the downstream stream is done.
   *
   * Aborts travel both ways. The stream closing before its response was complete (the client
   * sidecar reset it, or its session went away) destroys the app request and its connection,
   * flag `DC`. The app failing mid-response (`UC`) resets the stream.
   *
   * Bodies are relayed by hand rather than with `stream.pipeline`: a request the app fails before
   * answering still gets a local reply on the stream, which a pipeline would have destroyed, and
   * on Node 20 each pipeline allocates an AbortController and an AbortError, which cost this hop
   * 35–90 µs CPU per request in a measurement (pipeline for the response against this relay).
   */
  forward(
    down: ServerHttp2Stream,
    port: number,
    headers: OutgoingHttpHeaders,
    ex: H2Exchange,
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      ex.upstreamCluster = `inbound|${port}||`;
      ex.upstreamHost = `${this.appHost}:${port}`;
      const out: OutgoingHttpHeaders = {};
      for (const name in headers) if (!name.startsWith(':')) out[name] = headers[name];
      out.host = String(headers[':authority'] ?? '');
      const req = httpRequest({
        host: this.appHost,
        port,
        method: String(headers[':method'] ?? 'GET'),
        path: String(headers[':path'] ?? '/'),
        headers: out,
        agent: this.agent,
      });
      /** The app side ended the exchange: answered in full, failed, or reset mid-response. */
      let upstreamSettled = false;
      /** The stream closed first: the app request is being cancelled. */
      let cancelled = false;
      let responded = false;
      req.on('response', (res: IncomingMessage) => {
        responded = true;
        const status = res.statusCode ?? 502;
        ex.status = status;
        const h: OutgoingHttpHeaders = {};
        for (const name in res.headers) if (!RESPONSE_DROP.has(name)) h[name] = res.headers[name];
        if (ex.requestId && h['x-request-id'] === undefined) h['x-request-id'] = ex.requestId;
        try {
          down.respond({ ':status': status, ...h }, { waitForTrailers: true });
        } catch {
          upstreamSettled = true;
          res.destroy();
          ex.flag('UPE');
          return;
        }
        down.on('wantTrailers', () => {
          const t: OutgoingHttpHeaders = {};
          for (const name in res.trailers) t[name] = res.trailers[name];
          try {
            down.sendTrailers(t);
          } catch {
            down.close();
          }
        });
        res.on('data', (chunk: Buffer) => {
          ex.responseBytes += chunk.length;
          if (!down.write(chunk)) {
            res.pause();
            down.once('drain', () => res.resume());
          }
        });
        res.once('end', () => {
          upstreamSettled = true;
          down.end();
        });
        res.once('error', () => {
          if (cancelled || upstreamSettled) return;
          upstreamSettled = true;
          ex.flag('UC');
          // A reset, not an end: the response has trailers pending, so no END_STREAM goes first.
          down.close(H2.NGHTTP2_INTERNAL_ERROR);
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (responded || cancelled || upstreamSettled) return;
        upstreamSettled = true;
        const refused = err.code === 'ECONNREFUSED';
        ex.flag(refused ? 'UF' : 'UC');
        localReplyH2(
          down,
          ex,
          503,
          refused ? LOCAL_REPLY.connectFailure : LOCAL_REPLY.connectionTermination,
          { grpc: ex.grpc },
        );
      });
      down.on('data', (chunk: Buffer) => {
        ex.requestBytes += chunk.length;
        if (!req.write(chunk)) {
          down.pause();
          req.once('drain', () => down.resume());
        }
      });
      down.on('end', () => req.end());
      down.once('close', () => {
        // Node ends a reset stream's writable side itself, so `writableFinished` cannot tell a
        // complete response from a cut one: what the app side did can.
        if (!upstreamSettled) {
          cancelled = true;
          ex.flag('DC');
          req.destroy();
        }
        resolve();
      });
      down.resume();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * What the forwarder needs from a connection pool to one endpoint. undici's Pool serves
 * HTTP/1.1 (plaintext or mesh mTLS with `tsmesh-http/1.1`); H2Client serves `tsmesh-h2`: one
 * multiplexed HTTP/2 session per endpoint over mesh mTLS.
 */
import { EventEmitter } from 'node:events';
import type { ClientHttp2Session } from 'node:http2';
import { pipeline, type Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { H2, http2 } from '../h2/http2.js';
import type { RawHeaders } from '../hygiene.js';
import type { Connector } from './connector.js';
import { poolRequest } from './undici-pool.js';

/**
 * Cancels one upstream request. An EventEmitter with `aborted` is enough for undici and costs
 * far less per request than an AbortController (measured in the request path's CPU profile).
 */
export class AbortHandle extends EventEmitter {
  aborted = false;
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

export interface UpstreamRequest {
  method: string;
  /** Path with query. */
  path: string;
  /** Flat `[name, value, ...]` list, Host included. */
  headers: string[];
  body?: Buffer | NodeJS.ReadableStream;
  signal: AbortHandle;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** A request for `dispatch`: cancelled through the handler's `onConnect` abort function. */
export type DispatchRequest = Omit<UpstreamRequest, 'signal'>;

/**
 * Receives one upstream response as it arrives: undici's dispatch handler contract, which the
 * forwarder implements directly, so a response costs no Promise, no response stream object and
 * no header object on the way through.
 */
export interface ResponseHandler {
  /** The request is bound to a connection; `abort` cancels it (`onError` follows). */
  onConnect(abort: (err?: Error) => void): void;
  /** Status line and raw headers (1xx included); false pauses the response until `resume`. */
  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void, statusText?: string): boolean;
  /** A body chunk; false pauses the response until `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: RawHeaders | null): void;
  onError(err: Error): void;
}

export interface UpstreamClient {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  /** Sends a request and streams the response into `handler`. */
  dispatch(req: DispatchRequest, handler: ResponseHandler): void;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** Reads and discards a response body so its connection can be reused. */
export function discardBody(body: Readable): void {
  const dump = (body as Readable & { dump?: () => Promise<void> }).dump;
  if (typeof dump === 'function') dump.call(body).catch(() => undefined);
  else body.resume();
}

/** `dispatch` on top of a client's `request` (clients without a native streaming API). */
export function dispatchViaRequest(
  client: Pick<UpstreamClient, 'request'>,
  req: DispatchRequest,
  handler: ResponseHandler,
): void {
  const signal = new AbortHandle();
  handler.onConnect(() => signal.abort());
  client.request({ ...req, signal }).then(
    (res) => {
      const raw: string[] = [];
      for (const name in res.headers) {
        const v = res.headers[name];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const item of v) raw.push(name, item);
        else raw.push(name, v);
      }
      const body = res.body;
      let ended = false;
      const go = handler.onHeaders(res.statusCode, raw, () => body.resume());
      body.on('data', (chunk: Buffer) => {
        if (!ended && !handler.onData(chunk)) body.pause();
      });
      body.once('end', () => {
        if (ended) return;
        ended = true;
        handler.onComplete(null);
      });
      const fail = (err: Error) => {
        if (ended) return;
        ended = true;
        handler.onError(err);
      };
      body.once('error', fail);
      body.once('close', () => fail(new Error('upstream closed before the end of the response')));
      if (!go) body.pause();
    },
    (err: Error) => handler.onError(err),
  );
}

/** HTTP/1.1 through undici's Pool (keep-alive, one request per connection at a time). */
export class Http1Client implements UpstreamClient {
  constructor(private readonly pool: Pool) {}

  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    return poolRequest(this.pool, {
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body as never,
      signal: req.signal as never,
    }) as unknown as Promise<UpstreamResponse>;
  }

  dispatch(req: DispatchRequest, handler: ResponseHandler): void {
    // undici calls a handler without `onRequestStart` through its original (raw) interface.
    this.pool.dispatch(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: req.path,
        headers: req.headers,
        body: req.body as never,
      },
      handler as unknown as Dispatcher.DispatchHandler,
    );
  }

  close(): Promise<void> {
    return this.pool.close().catch(() => undefined);
  }

  destroy(): Promise<void> {
    return this.pool.destroy().catch(() => undefined);
  }
}

/** Marks an error as a connect failure (UF), as opposed to a reset (UC). */
function connectError(err: Error): Error {
  (err as Error & { tsmeshConnect?: boolean }).tsmeshConnect = true;
  return err;
}

const FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

function abortError(): Error {
  return Object.assign(new Error('request aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

export class H2Client implements UpstreamClient {
  private session: ClientHttp2Session | undefined;
  private connecting: Promise<ClientHttp2Session> | undefined;
  private closed = false;

  constructor(
    private readonly connector: Connector,
    private readonly origin: string,
  ) {}

  private getSession(): Promise<ClientHttp2Session> {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
    this.connecting ??= new Promise<ClientHttp2Session>((resolve, reject) => {
      this.connector(undefined, (err, socket) => {
        this.connecting = undefined;
        if (err || !socket) {
          reject(connectError(err ?? new Error('no socket')));
          return;
        }
        const session = http2().connect(this.origin, {
          createConnection: () => socket,
          settings: { initialWindowSize: 1 << 20 },
        });
        session.setLocalWindowSize(4 << 20);
        session.on('error', () => undefined);
        session.once('close', () => {
          if (this.session === session) this.session = undefined;
        });
        session.once('goaway', () => {
          if (this.session === session) this.session = undefined;
        });
        this.session = session;
        resolve(session);
      });
    });
    return this.connecting;
  }

  dispatch(req: DispatchRequest, handler: ResponseHandler): void {
    dispatchViaRequest(this, req, handler);
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (this.closed) throw connectError(new Error('client closed'));
    const session = await this.getSession();
    const headers: Record<string, string | string[]> = {
      [':method']: req.method,
      [':path']: req.path,
      [':scheme']: 'http',
    };
    const list = req.headers;
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i].toLowerCase();
      if (name === 'host') {
        headers[':authority'] = list[i + 1];
        continue;
      }
      if (FORBIDDEN.has(name)) continue;
      const prev = headers[name];
      if (prev === undefined) headers[name] = list[i + 1];
      else headers[name] = Array.isArray(prev) ? [...prev, list[i + 1]] : [prev, list[i + 1]];
    }
    if (req.signal.aborted) throw new Error('request aborted');
    const stream = session.request(headers, { endStream: req.body === undefined });
    // Destroyed with an AbortError, the stream is reset with CANCEL at once; `close(CANCEL)`
    // while a request body is still being piped in never sent the reset on Node 20.
    req.signal.once('abort', () => stream.destroy(abortError()));
    if (Buffer.isBuffer(req.body)) stream.end(req.body);
    else if (req.body) pipeline(req.body as Readable, stream, () => undefined);
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let answered = false;
      stream.once('response', (h) => {
        answered = true;
        const out: Record<string, string | string[] | undefined> = {};
        for (const name in h) if (name.charCodeAt(0) !== 0x3a) out[name] = h[name] as string | string[];
        resolve({ statusCode: Number(h[':status']), headers: out, body: stream });
      });
      stream.once('error', (err) => {
        if (!answered) reject(err);
      });
      stream.once('close', () => {
        if (!answered) {
          const code = stream.rstCode;
          const err = new Error(`upstream stream closed before the response (code ${code})`);
          // A stream refused before processing is safe to retry elsewhere, as a connect failure.
          reject(code === H2.NGHTTP2_REFUSED_STREAM ? connectError(err) : err);
        }
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (s && !s.closed) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async destroy(): Promise<void> {
    this.closed = true;
    this.session?.destroy();
    this.session = undefined;
  }
}

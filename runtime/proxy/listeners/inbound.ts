/**
 * The inbound listener (15006). The first bytes of a connection decide what it is:
 * - a TLS ClientHello offering a mesh ALPN: mesh mTLS, terminated here (client certificate
 *   required, chained to the trust bundle, one SPIFFE URI SAN, not a CA); the SNI names the
 *   app port;
 * - TLS without a mesh ALPN: the app's own TLS, passed through untouched (PERMISSIVE only);
 * - anything else: plaintext HTTP (PERMISSIVE only), app port from the Host header.
 * STRICT closes everything but mesh mTLS, with no HTTP response. Requests are then checked
 * against AuthorizationPolicy with the verified peer identity and forwarded to the app.
 */
import type { X509Certificate } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from 'node:net';
import { type Duplex, pipeline } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { HEADERS, MESH_ALPN, MESH_ALPN_VALUES } from '../../../lib/constants.js';
import { streamBody } from '../body.js';
import type { ActiveConfig } from '../config.js';
import type { CertificateState, ProxyContext } from '../context.js';
import { LOCAL_REPLY, localReply } from '../exchange.js';
import { forward, NO_RETRY } from '../forward.js';
import { filterRequestHeaders } from '../hygiene.js';
import {
  PeerMetadataDecoder,
  type SpanRecord,
  TRACE_HEADER_NAMES,
  UNKNOWN_WORKLOAD,
  type WorkloadFacts,
} from '../telemetry/index.js';
import { certificateHash, checkPeerCertificate, meshTlsOptions } from '../tls/certs.js';
import { MAX_CLIENT_HELLO_BYTES, peekClientHello } from '../tls/client-hello.js';
import { parseMeshSni } from '../tls/sni.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import { admitInbound, NO_APP_PORT, PLAINTEXT_REFUSED } from './admission.js';
import { firstValues, prepareOrReject, startExchange, tagRequest } from './prepare.js';
import { recordInbound } from './records.js';

/** How long a new connection may take to send its first bytes. */
const SNIFF_TIMEOUT_MS = 10_000;

interface ConnectionInfo {
  mtls: boolean;
  peerIdentity?: string;
  /** x-forwarded-client-cert value for the app. */
  xfcc?: string;
  /** App port named by the SNI (mesh mTLS). */
  port?: number;
}

export interface InboundListener {
  server: NetServer;
  http: Server;
  /** Stops keep-alive reuse: idle connections close, busy ones close after their response. */
  drain(): void;
  close(): void;
}

export interface InboundDeps {
  appCluster(port: number): UpstreamCluster;
  /** Takes mesh mTLS connections with another ALPN than HTTP/1.1 (dispatch.ts); false: refuse. */
  meshConnection?(alpn: string, socket: Socket, conn: ConnectionInfo): boolean;
  /** Takes plaintext connections that are not HTTP/1.1 (HTTP/2 prior knowledge); false: HTTP/1.1. */
  plaintextConnection?(socket: Socket, first: Buffer): boolean;
  /** Takes HTTP/1.1 upgrade requests (WebSocket, websocket.ts); absent: the connection is closed. */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, conn: ConnectionInfo): void;
}

export function createInboundListener(ctx: ProxyContext, deps: InboundDeps): InboundListener {
  const info = new WeakMap<Socket, ConnectionInfo>();
  const sockets = new Set<Socket>();
  const decoder = new PeerMetadataDecoder();
  const http = createHttpServer(
    {
      maxHeaderSize: ctx.options.maxHeaderBytes,
      insecureHTTPParser: false,
      requestTimeout: 0,
      keepAliveTimeout: ctx.options.downstreamIdleTimeoutMs,
    },
    (req, res) => {
      // Requests in flight per connection, so a drain can close the idle ones.
      const state = busy.get(req.socket);
      if (state) {
        state.active++;
        res.once('close', () => {
          state.active--;
        });
      }
      handleRequest(ctx, deps, decoder, info.get(req.socket) ?? { mtls: false }, req, res);
    },
  );
  http.maxHeadersCount = ctx.options.maxHeadersCount + 1;
  http.on('clientError', (err: NodeJS.ErrnoException, socket) => rejectMalformed(err, socket));
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (deps.upgrade) deps.upgrade(req, socket, head, info.get(req.socket) ?? { mtls: false });
    else socket.destroy();
  });

  // The HTTP server never listens itself, so Node does not track its connections
  // (closeIdleConnections would do nothing): track them here.
  const busy = new Map<Socket, { active: number }>();
  const handOver = (socket: Socket, conn: ConnectionInfo) => {
    info.set(socket, conn);
    busy.set(socket, { active: 0 });
    socket.once('close', () => busy.delete(socket));
    http.emit('connection', socket);
  };

  const server = createNetServer({ pauseOnConnect: false, noDelay: true }, (socket) => {
    ctx.counters.inboundConnections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (buffered[0] !== 0x16) return decide('plaintext');
      const hello = peekClientHello(buffered);
      if (hello.state === 'incomplete' && buffered.length < MAX_CLIENT_HELLO_BYTES) return;
      if (hello.state === 'ok' && hello.alpn.some((p) => MESH_ALPN_VALUES.includes(p))) return decide('mesh');
      return decide('tls');
    };
    const decide = (kind: 'plaintext' | 'mesh' | 'tls') => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(buffered);
      const cfg = ctx.config();
      if (kind === 'mesh') return acceptMesh(socket);
      if (!cfg || cfg.inbound.allStrict) return refuse(socket);
      if (kind === 'tls') return passthroughTls(socket, cfg);
      if (deps.plaintextConnection?.(socket, buffered)) return;
      handOver(socket, { mtls: false });
      // The HTTP server reads the handle directly; resuming replays the sniffed bytes.
      socket.resume();
    };
    socket.on('data', onData);
  });

  const refuse = (socket: Socket) => {
    ctx.counters.inboundRefusedConnections++;
    socket.destroy();
  };

  // Mesh mTLS is terminated by a tls.Server that never listens: it is handed the sniffed
  // sockets. Unlike a bare TLSSocket it enforces rejectUnauthorized, and the sockets it emits
  // work with both the HTTP/1.1 and the HTTP/2 servers.
  const tlsServer = createTlsServer({
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: deps.meshConnection ? [MESH_ALPN.http11, MESH_ALPN.h2, MESH_ALPN.tcp] : [MESH_ALPN.http11],
  });
  let contextOf: CertificateState | undefined;
  tlsServer.on('tlsClientError', (err, tls) => {
    ctx.counters.inboundRefusedConnections++;
    ctx.options.log('warn', `inbound mTLS refused: ${err.message}`);
    tls.destroy();
  });
  tlsServer.on('secureConnection', (tls: TLSSocket) => {
    tls.on('error', () => tls.destroy());
    const cert = ctx.certificate();
    if (!cert) return refuse(tls);
    const peer = tls.getPeerX509Certificate();
    const check = checkPeerCertificate(peer);
    const sni = parseMeshSni(tls.servername);
    const alpn = typeof tls.alpnProtocol === 'string' ? tls.alpnProtocol : '';
    if (!check.ok || !MESH_ALPN_VALUES.includes(alpn)) {
      ctx.options.log(
        'warn',
        `inbound mTLS refused: ${check.ok ? `ALPN ${tls.alpnProtocol}` : check.reason}`,
      );
      return refuse(tls);
    }
    ctx.counters.inboundMtlsConnections++;
    const own = cert.bundle.spiffeId;
    const conn: ConnectionInfo = {
      mtls: true,
      peerIdentity: check.spiffeId,
      xfcc: `By=${own};Hash=${certificateHash(peer as X509Certificate)};URI=${check.spiffeId}`,
    };
    if (sni) conn.port = sni.port;
    if (alpn !== MESH_ALPN.http11) {
      if (!deps.meshConnection?.(alpn, tls, conn)) refuse(tls);
      return;
    }
    handOver(tls, conn);
  });

  const acceptMesh = (socket: Socket) => {
    const cert = ctx.certificate();
    if (!cert) return refuse(socket);
    if (contextOf !== cert) {
      // A new workload certificate applies to new connections from now on.
      tlsServer.setSecureContext(meshTlsOptions(cert.bundle));
      contextOf = cert;
    }
    tlsServer.emit('connection', socket);
  };

  const passthroughTls = (socket: Socket, cfg: ActiveConfig) => {
    const port = cfg.inbound.appPorts.length === 1 ? cfg.inbound.appPorts[0] : cfg.inbound.portMap.get(443);
    if (port === undefined || cfg.inbound.mtlsMode(port) === 'STRICT') return refuse(socket);
    ctx.counters.passthroughConnections++;
    const upstream = netConnect({ host: ctx.options.appHost, port, noDelay: true });
    pipeline(socket, upstream, socket, () => {
      socket.destroy();
      upstream.destroy();
    });
  };

  return {
    server,
    http,
    drain() {
      for (const [socket, state] of busy) if (state.active === 0) socket.destroy();
    },
    close() {
      for (const socket of busy.keys()) socket.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}

function rejectMalformed(err: NodeJS.ErrnoException, socket: Socket | import('node:stream').Duplex): void {
  if (!socket.writable || (err.code === 'ECONNRESET' && !('bytesParsed' in err))) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = status === 431 ? 'request headers too large' : 'bad request';
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export { rejectMalformed };

function handleRequest(
  ctx: ProxyContext,
  deps: InboundDeps,
  decoder: PeerMetadataDecoder,
  conn: ConnectionInfo,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const ex = startExchange(ctx, req);
  ex.mtls = conn.mtls;
  ex.peerIdentity = conn.peerIdentity;
  const cfg = ctx.config();
  let span: SpanRecord | undefined;
  let source: WorkloadFacts = UNKNOWN_WORKLOAD;
  const close = () => ctx.draining();
  const finish = () => recordInbound(ctx, cfg, ex, source, span);
  const prepared = prepareOrReject(ctx, cfg, req, res, ex, true);
  if (prepared === undefined || cfg === undefined) {
    finish();
    return;
  }
  if (conn.mtls) source = decoder.decode(req.headers[HEADERS.peerMetadata]) ?? UNKNOWN_WORKLOAD;
  const port = admitInbound(cfg, conn, prepared, ex.method, firstValues(req), req.socket.remoteAddress);
  if (port < 0) {
    if (port === PLAINTEXT_REFUSED) {
      // STRICT: plaintext gets no HTTP response at all.
      ctx.counters.inboundRefusedConnections++;
      req.socket.destroy();
      return;
    }
    if (port === NO_APP_PORT) {
      ex.flag('NR');
      localReply(res, ex, 404, `no app port for ${prepared.authority}`, { close: close() });
    } else localReply(res, ex, 403, LOCAL_REPLY.rbacDenied, { close: close() });
    req.resume();
    finish();
    return;
  }
  const filtered = filterRequestHeaders(req.rawHeaders, { drop: TRACE_HEADER_NAMES });
  const headers = filtered.list;
  if (conn.xfcc) headers.push(HEADERS.forwardedClientCert, conn.xfcc);
  span = tagRequest(ctx, ex, headers, req.headers, req.headers[HEADERS.requestId], 'destination');
  const cluster = deps.appCluster(port);
  // No retries inbound: the body streams to the app without buffering.
  const body = streamBody(req, (n) => {
    ex.requestBytes += n;
  });
  // forward() settles once, when the response is over (it never rejects).
  forward(
    req,
    res,
    {
      cluster,
      method: ex.method,
      path: prepared.target,
      headers,
      body,
      retry: NO_RETRY,
      timeoutMs: null,
      random: ctx.options.random,
      closeConnection: close,
    },
    ex,
  ).then(finish, finish);
}

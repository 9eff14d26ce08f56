/**
 * The HTTP/2 side of a sidecar: two HTTP/2 servers fed with connections the listeners already
 * accepted (outbound h2c from the app; inbound mesh mTLS with `tsmesh-h2` or plaintext h2c),
 * and the pooled client sessions to peer sidecars and to the local app. Windows are raised
 * above Node's 64 KiB default on both sides.
 */
import type { Http2Server, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Cluster, ClusterEndpoint } from '../../../lib/routing/types.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { appPortProtocols } from '../tcp/app-ports.js';
import { PeerMetadataDecoder } from '../telemetry/index.js';
import { formatMeshSni } from '../tls/sni.js';
import { UpstreamEndpoint } from '../upstream/cluster.js';
import { UpstreamTlsError } from '../upstream/connector.js';
import type { H2Upstream } from './forward.js';
import { Http1Bridge } from './http1-bridge.js';
import { http2 } from './http2.js';
import { type H2Connection, handleInboundStream } from './inbound.js';
import { handleOutboundStream } from './outbound.js';
import { H2_WINDOW_DEFAULTS, type H2Target, type H2WindowOptions, SessionPool } from './sessions.js';

export interface H2Options extends H2WindowOptions {
  /** Most concurrent streams a downstream connection may open. */
  maxConcurrentStreams: number;
}

export const H2_DEFAULTS: H2Options = { ...H2_WINDOW_DEFAULTS, maxConcurrentStreams: 1000 };

const CONNECTION = Symbol('tsmesh.h2.connection');

type Tagged = Socket & { [CONNECTION]?: H2Connection };

/** Cluster protocols that are HTTP/2 end to end (sidecars speak HTTP/2 to each other for them). */
export const H2_PROTOCOLS: ReadonlySet<string> = new Set(['http2', 'grpc', 'grpc-web']);

export class H2Proxy {
  private readonly options: H2Options;
  /** The two servers, created with the first HTTP/2 connection (node:http2 is loaded then). */
  private servers: { outbound: Http2Server; inbound: Http2Server } | undefined;
  private readonly sessions = new Set<Http2Session>();
  /** Sessions of the inbound server (peer sidecars, plaintext h2c clients): a drain closes them. */
  private readonly inboundSessions = new Set<Http2Session>();
  private draining = false;
  private readonly pool: SessionPool;
  private readonly appEndpoints = new Map<number, UpstreamEndpoint>();
  private readonly decoder = new PeerMetadataDecoder();
  private readonly http1: Http1Bridge;
  private readonly protocolsByConfig = new WeakMap<ActiveConfig, Map<number, string>>();
  /** Bytes already read from the connection being handed over (the sniffed preface). */
  private replay: Buffer | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    options: Partial<H2Options> = {},
  ) {
    this.options = { ...H2_DEFAULTS, ...options } satisfies H2Options;
    this.pool = new SessionPool(this.options);
    this.http1 = new Http1Bridge(ctx.options.appHost);
  }

  private h2Servers(): { outbound: Http2Server; inbound: Http2Server } {
    if (this.servers) return this.servers;
    const ctx = this.ctx;
    const settings = {
      initialWindowSize: this.options.streamWindowBytes,
      maxConcurrentStreams: this.options.maxConcurrentStreams,
      maxHeaderListSize: ctx.options.maxHeaderBytes,
      enablePush: false,
    };
    const replayBytes = ctx.options.retryBufferBytes;
    const outbound = http2().createServer({ settings, maxSessionMemory: 64 });
    const inbound = http2().createServer({ settings, maxSessionMemory: 64 });
    for (const server of [outbound, inbound]) {
      server.on('session', (session: Http2Session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
        session.on('error', () => undefined);
        if (this.replay) {
          feedSession(session, this.replay);
          this.replay = null;
        }
        try {
          session.setLocalWindowSize(this.options.connectionWindowBytes);
        } catch {
          // closed meanwhile
        }
      });
    }
    inbound.on('session', (session: Http2Session) => {
      if (this.draining) {
        closeGracefully(session);
        return;
      }
      this.inboundSessions.add(session);
      session.once('close', () => this.inboundSessions.delete(session));
    });
    outbound.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _f: number, raw: string[]) =>
        handleOutboundStream(
          ctx,
          { upstream: (cfg, key, hashKey) => this.clusterUpstream(cfg, key, hashKey), replayBytes },
          stream,
          headers,
          raw,
        ),
    );
    inbound.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _f: number, raw: string[]) => {
        const conn = (stream.session?.socket as Tagged | undefined)?.[CONNECTION] ?? { mtls: false };
        handleInboundStream(
          ctx,
          {
            app: (port) => this.appUpstream(port),
            appProtocol: (cfg, port) => this.appProtocols(cfg).get(port),
            http1: this.http1,
            decoder: this.decoder,
            replayBytes,
          },
          conn,
          stream,
          headers,
          raw,
        );
      },
    );
    this.servers = { outbound, inbound };
    return this.servers;
  }

  /** An h2c connection from the local app (outbound). */
  acceptOutbound(socket: Socket): void {
    this.adopt(this.h2Servers().outbound, socket);
  }

  /** A mesh mTLS (`tsmesh-h2`) or plaintext h2c connection at the inbound listener. */
  acceptInbound(socket: Socket, conn: H2Connection): void {
    (socket as Tagged)[CONNECTION] = conn;
    this.adopt(this.h2Servers().inbound, socket);
  }

  /**
   * Hands a paused connection to an HTTP/2 server. The session reads the socket's handle
   * directly, so bytes the listener already read (and put back) would be lost: they are taken
   * out here and fed to the new session first.
   */
  private adopt(server: Http2Server, socket: Socket): void {
    const buffered = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
    this.replay = buffered;
    server.emit('connection', socket);
    this.replay = null;
    socket.resume();
  }

  /** True when a client sidecar should speak HTTP/2 to this cluster's peers. */
  static speaksH2(protocol: string): boolean {
    return H2_PROTOCOLS.has(protocol);
  }

  private clusterUpstream(cfg: ActiveConfig, key: string, hashKey?: string): H2Upstream | undefined {
    const cluster = cfg.clusters.get(key);
    if (!cluster) return undefined;
    const random = this.ctx.options.random;
    return {
      key,
      cluster,
      pick: (tried) => cluster.pick(tried, random, hashKey),
      session: (ep) => this.pool.get(`${key}|${ep.key}`, () => this.meshTarget(ep.endpoint, cluster.cluster)),
    };
  }

  private meshTarget(e: ClusterEndpoint, c: Cluster): H2Target {
    const o = this.ctx.options;
    if (!e.mtls)
      return { address: e.address, port: e.port, connectTimeoutMs: c.connectionPool.connectTimeoutMs };
    const peer = o.peerAddress?.(e) ?? { address: e.address, port: o.peerInboundPort };
    const secureContext = this.ctx.certificate()?.secureContext;
    if (!secureContext) throw new UpstreamTlsError('no workload certificate yet');
    return {
      address: peer.address,
      port: peer.port,
      connectTimeoutMs: c.connectionPool.connectTimeoutMs,
      tls: {
        secureContext,
        sni: formatMeshSni(e.port, c.subset, c.host),
        acceptedIdentities: new Set(c.serverIdentities),
      },
    };
  }

  /** App port → declared protocol (tcp/app-ports.ts), once per snapshot. */
  private appProtocols(cfg: ActiveConfig): Map<number, string> {
    let map = this.protocolsByConfig.get(cfg);
    if (!map) this.protocolsByConfig.set(cfg, (map = appPortProtocols(cfg)));
    return map;
  }

  private appUpstream(port: number): H2Upstream {
    let ep = this.appEndpoints.get(port);
    if (!ep) {
      const endpoint: ClusterEndpoint = {
        address: this.ctx.options.appHost,
        port,
        meshed: false,
        labels: {},
        pod: 'local-app',
        mtls: false,
      };
      ep = new UpstreamEndpoint(`inbound|${port}`, endpoint, () => {
        throw new Error('HTTP/2 app endpoints have no HTTP/1.1 pool');
      });
      this.appEndpoints.set(port, ep);
    }
    const app = ep;
    return {
      key: `inbound|${port}||`,
      pick: () => app,
      session: () =>
        this.pool.get(`app|${port}`, () => ({
          address: this.ctx.options.appHost,
          port,
          connectTimeoutMs: 10_000,
        })),
    };
  }

  /**
   * Starts draining the inbound side: every inbound session gets GOAWAY now, busy or idle, so
   * peers open new streams elsewhere while the streams in flight finish. Sessions accepted
   * from now on get GOAWAY at once. The outbound side (the app's calls) keeps working.
   */
  drainInbound(): void {
    this.draining = true;
    for (const s of this.inboundSessions) closeGracefully(s);
    this.inboundSessions.clear();
  }

  /** Resets every stream and closes every session. */
  close(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.pool.destroy();
    this.http1.close();
  }
}

/** GOAWAY, then the session closes once its open streams have finished. */
function closeGracefully(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  try {
    session.close();
  } catch {
    session.destroy();
  }
}

/** Node's native session handle accepts bytes read before the session existed (`receive`). */
function feedSession(session: Http2Session, data: Buffer): void {
  const key = Object.getOwnPropertySymbols(session).find((k) => k.description === 'kHandle');
  const handle = key
    ? (session as unknown as Record<symbol, { receive?: (b: Buffer) => void }>)[key]
    : undefined;
  if (typeof handle?.receive !== 'function') {
    session.destroy(new Error('cannot replay the HTTP/2 preface on this Node version'));
    return;
  }
  handle.receive(data);
}

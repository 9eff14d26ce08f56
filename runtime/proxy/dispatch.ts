/**
 * Protocol dispatch beyond the core's HTTP/1.1 path: which module takes a connection.
 *
 * - Outbound (15001): the capture front looks up the original destination; TCP service ports go
 *   to the TCP proxy, HTTP/2 prior-knowledge connections to the HTTP/2 side, the rest to the
 *   core's HTTP/1.1 server. Explicit TCP listeners serve hosts without capture.
 * - Inbound (15006): mesh mTLS connections are told apart by the negotiated ALPN
 *   (`tsmesh-tcp` → TCP proxy, `tsmesh-h2` → HTTP/2), plaintext ones by the HTTP/2 preface.
 *
 * The proxy builds one `ProtocolDispatch` and calls it at these points; nothing here is global.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyContext } from './context.js';
import type { H2Connection } from './h2/inbound.js';
import { type H2Options, H2Proxy } from './h2/proxy.js';
import { createOutboundFront, createTcpListener, H2_PREFACE, type TcpListenerSpec } from './tcp/listeners.js';
import {
  createOriginalDestinationResolver,
  createSyncOriginalDestination,
  type OriginalDestinationOptions,
  type OriginalDestinationResolver,
} from './tcp/original-dst.js';
import { type MeshConnection, TcpProxy, type TcpProxyOptions } from './tcp/proxy.js';
import { type UpgradeConnection, WebSocketProxy } from './websocket.js';

export type { TcpListenerSpec } from './tcp/listeners.js';
export type { MeshConnection } from './tcp/proxy.js';

export interface ProtocolOptions {
  /** Explicit TCP listeners (hosts without traffic capture). */
  tcpListeners: readonly TcpListenerSpec[];
  /** How the outbound listener finds a captured connection's original destination. */
  originalDestination: Partial<OriginalDestinationOptions>;
  tcp: Partial<TcpProxyOptions>;
  /** HTTP/2 windows and stream limits. */
  h2: Partial<H2Options>;
  /**
   * How long the outbound listener waits for the first bytes of a connection to a destination
   * no service claims before treating it as opaque TCP (server-first protocols). Seconds, not
   * milliseconds: an HTTP client on a busy machine may write its request well after connecting,
   * and taking it for opaque TCP would send its plaintext past the mesh.
   */
  protocolDetectionTimeoutMs: number;
}

export const PROTOCOL_DEFAULTS: ProtocolOptions = {
  tcpListeners: [],
  originalDestination: {},
  tcp: {},
  h2: {},
  protocolDetectionTimeoutMs: 5_000,
};

export type ProtocolOptionsInput = Partial<ProtocolOptions>;

export class ProtocolDispatch {
  readonly options: ProtocolOptions;
  readonly tcp: TcpProxy;
  readonly h2: H2Proxy;
  readonly websocket: WebSocketProxy;
  private readonly resolve: OriginalDestinationResolver;
  private readonly originalDestinationSync:
    | ((socket: Socket) => { address: string; port: number } | undefined)
    | undefined;
  private readonly servers: NetServer[] = [];
  private readonly sockets = new Set<Socket>();
  private front: NetServer | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    input: ProtocolOptionsInput = {},
  ) {
    this.options = { ...PROTOCOL_DEFAULTS, ...input } satisfies ProtocolOptions;
    this.tcp = new TcpProxy(ctx, this.options.tcp);
    this.h2 = new H2Proxy(ctx, this.options.h2);
    this.websocket = new WebSocketProxy(ctx);
    this.resolve = createOriginalDestinationResolver(this.options.originalDestination);
    const methods = this.options.originalDestination.methods;
    this.originalDestinationSync =
      methods === undefined || methods.includes('so_original_dst')
        ? createSyncOriginalDestination(this.options.originalDestination.addonPath)
        : undefined;
  }

  /** The outbound listener: wraps the core's HTTP/1.1 server. */
  outboundFront(http: Server): NetServer {
    this.front = createOutboundFront(
      this.ctx,
      {
        tcp: this.tcp,
        protocolDetectionTimeoutMs: this.options.protocolDetectionTimeoutMs,
        resolve: this.resolve,
        http1: (socket) => handOver(http, socket),
        h2: (socket) => this.h2.acceptOutbound(socket),
      },
      this.sockets,
    );
    return this.front;
  }

  /** Mesh mTLS connections whose ALPN is not HTTP/1.1; returns false when not handled. */
  meshConnection(alpn: string, socket: Socket, conn: MeshConnection & H2Connection): boolean {
    if (alpn === 'tsmesh-tcp') {
      this.tcp.inbound(socket, conn);
      return true;
    }
    if (alpn === 'tsmesh-h2') {
      this.h2.acceptInbound(socket, conn);
      return true;
    }
    return false;
  }

  /**
   * A plaintext inbound connection (PERMISSIVE) whose first bytes are `first`: HTTP/2 with prior
   * knowledge goes to the HTTP/2 side; returns false for HTTP/1.1.
   */
  plaintextConnection(socket: Socket, first: Buffer): boolean {
    if (!startsLikeH2(first)) {
      // A TCP app port (clients without a sidecar under PERMISSIVE); needs the addon to know it.
      const dst = this.originalDestinationSync?.(socket);
      return dst !== undefined && this.tcp.plaintextInbound(socket, dst);
    }
    this.h2.acceptInbound(socket, { mtls: false });
    return true;
  }

  /** An HTTP/1.1 upgrade request from the local app. */
  upgradeOutbound(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.websocket.outbound(req, socket, head);
  }

  /** An HTTP/1.1 upgrade request at the inbound listener. */
  upgradeInbound(req: IncomingMessage, socket: Duplex, head: Buffer, conn: UpgradeConnection): void {
    this.websocket.inbound(req, socket, head, conn);
  }

  /** Binds the explicit TCP listeners. */
  async start(): Promise<void> {
    for (const spec of this.options.tcpListeners) {
      const server = createTcpListener(this.ctx, this.tcp, spec, this.sockets);
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) =>
          reject(new Error(`cannot listen for TCP ${spec.destination} on port ${spec.port}: ${err.message}`));
        server.once('error', onError);
        server.listen(
          { port: spec.port, host: spec.host ?? this.ctx.options.address, exclusive: true },
          () => {
            server.off('error', onError);
            resolve();
          },
        );
      });
      this.servers.push(server);
    }
  }

  /** Bound ports of the explicit TCP listeners, by destination. */
  tcpListenerPorts(): Record<string, number> {
    const out: Record<string, number> = {};
    this.servers.forEach((s, i) => {
      out[this.options.tcpListeners[i].destination] = (s.address() as AddressInfo).port;
    });
    return out;
  }

  /** Draining: inbound HTTP/2 sessions get GOAWAY (HTTP/1.1 is drained by the inbound listener). */
  drain(): void {
    this.h2.drainInbound();
  }

  async close(): Promise<void> {
    this.tcp.close();
    this.h2.close();
    this.websocket.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** True when `first` starts like the HTTP/2 connection preface (at least `PRI`). */
function startsLikeH2(first: Buffer): boolean {
  const n = Math.min(first.length, H2_PREFACE.length);
  return n >= 3 && first.subarray(0, n).compare(H2_PREFACE, 0, n) === 0;
}

/** Gives a paused socket to an HTTP server and lets it read (sniffed bytes are replayed). */
export function handOver(server: NetServer, socket: Socket): void {
  server.emit('connection', socket);
  socket.resume();
}

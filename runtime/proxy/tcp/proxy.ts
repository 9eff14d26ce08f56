/**
 * TCP passthrough for `tcp` ports (and tls, mongo, mysql, redis ...), both sides of the mesh:
 *
 * - outbound: a connection to a TCP service port (its original destination, or an explicit
 *   listener's destination) follows the VirtualService `tcp` rules (weighted), then the
 *   cluster's balancer; at `connectionPool.tcp.maxConnections` a new connection is closed at
 *   once (flag UO). Meshed endpoints are reached over mesh mTLS with ALPN `tsmesh-tcp` and the
 *   `outbound_.<port>_.<subset>_.<host>` SNI; the client sidecar first sends a short preamble
 *   carrying its workload metadata (telemetry only, as for HTTP).
 * - inbound: a verified `tsmesh-tcp` connection is authorized with lib/policy's TCP semantics
 *   (HTTP-only fields make ALLOW rules fail and DENY rules hold, so policies fail closed), then
 *   piped to the app port the SNI names. A denied connection is closed.
 *
 * Both sides report Istio's `istio_tcp_*` metrics through the telemetry module.
 */
import type { Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import { pipeline } from 'node:stream';
import { MESH_ALPN } from '../../../lib/constants.js';
import { authorize, type CompiledAuthorization, compileAuthorization } from '../../../lib/policy/index.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import {
  encodePeerMetadata,
  PeerMetadataDecoder,
  type TcpConnectionHandle,
  type TcpConnectionRecord,
  UNKNOWN_SERVICE,
  UNKNOWN_WORKLOAD,
  type WorkloadFacts,
} from '../telemetry/index.js';
import { formatMeshSni } from '../tls/sni.js';
import type { UpstreamCluster, UpstreamEndpoint } from '../upstream/cluster.js';
import { createConnector } from '../upstream/connector.js';
import { hashKeyFor } from '../upstream/consistent-hash.js';
import { appPortProtocols } from './app-ports.js';
import { TCP_PROTOCOLS, type TcpRouteDecision, TcpRouteTable } from './routes.js';

/** A verified mesh mTLS connection handed over by the inbound listener. */
export interface MeshConnection {
  peerIdentity?: string;
  /** The app port the SNI names. */
  port?: number;
}

export interface TcpProxyOptions {
  /** How often bytes of long-lived connections are added to the metrics. */
  reportIntervalMs: number;
  /** Longest wait for the client sidecar's metadata preamble. */
  preambleTimeoutMs: number;
  /** Idle time after which an outbound TCP connection closes, when the config sets none. */
  idleTimeoutMs: number;
}

export const TCP_PROXY_DEFAULTS: TcpProxyOptions = {
  reportIntervalMs: 5_000,
  preambleTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
};

/** Most bytes of the metadata preamble (2-byte length + value). */
const MAX_PREAMBLE = 1024;

interface Compiled {
  routes: TcpRouteTable;
  authz: CompiledAuthorization;
}

interface OpenConnection {
  socket: Socket;
  handle: TcpConnectionHandle;
  sent: number;
  received: number;
}

export interface TcpCounters {
  outboundConnections: number;
  inboundConnections: number;
  overflows: number;
  connectFailures: number;
  denied: number;
  /** Connections to destinations outside the registry, passed through (ALLOW_ANY). */
  passthrough: number;
  /** Connections to destinations outside the registry, closed (REGISTRY_ONLY). */
  blackholed: number;
}

export class TcpProxy {
  private readonly options: TcpProxyOptions;
  private readonly compiled = new WeakMap<ActiveConfig, Compiled>();
  private readonly connections = new WeakMap<UpstreamCluster, number>();
  private readonly open = new Set<OpenConnection>();
  private readonly decoder = new PeerMetadataDecoder();
  private readonly appPorts = new WeakMap<ActiveConfig, Map<number, string>>();
  private timer: NodeJS.Timeout | undefined;
  readonly counters: TcpCounters = {
    outboundConnections: 0,
    inboundConnections: 0,
    overflows: 0,
    connectFailures: 0,
    denied: 0,
    passthrough: 0,
    blackholed: 0,
  };

  constructor(
    private readonly ctx: ProxyContext,
    options: Partial<TcpProxyOptions> = {},
  ) {
    this.options = { ...TCP_PROXY_DEFAULTS, ...options } satisfies TcpProxyOptions;
  }

  private of(cfg: ActiveConfig): Compiled {
    let c = this.compiled.get(cfg);
    if (!c) {
      const proxy = cfg.snapshot.proxy;
      c = {
        routes: new TcpRouteTable(cfg.table),
        authz: compileAuthorization(
          cfg.snapshot.objects,
          { namespace: proxy.namespace, labels: proxy.labels },
          { rootNamespaces: cfg.table.mesh.rootNamespaces },
        ),
      };
      this.compiled.set(cfg, c);
    }
    return c;
  }

  /**
   * What a captured connection to `address:port` is: a TCP service port (with the engine's
   * decision), an HTTP service port, or a destination no service claims (the caller sniffs it:
   * HTTP goes to the HTTP side, anything else to `unknownDestination`).
   */
  classify(
    address: string,
    port: number,
  ): { kind: 'tcp'; decision: TcpRouteDecision } | { kind: 'http' | 'unknown' } {
    const cfg = this.ctx.config();
    if (!cfg) return { kind: 'http' };
    const c = this.of(cfg);
    const ref = c.routes.serviceAt(address, port);
    if (!ref) return { kind: 'unknown' };
    if (!TcpRouteTable.isTcp(ref)) return { kind: 'http' };
    return { kind: 'tcp', decision: c.routes.decide(ref, address, this.ctx.options.random) };
  }

  /** The decision for non-HTTP traffic to a destination no service claims (passthrough or blackhole). */
  unknownDestination(address: string, port: number): TcpRouteDecision | undefined {
    const cfg = this.ctx.config();
    return cfg ? this.of(cfg).routes.unknown(address, port) : undefined;
  }

  /** The TCP route for a named service port (explicit listeners), whatever its protocol. */
  routeForHost(host: string, port: number): TcpRouteDecision | undefined {
    const cfg = this.ctx.config();
    if (!cfg) return undefined;
    const c = this.of(cfg);
    const ref = c.routes.serviceNamed(host, port);
    return ref ? c.routes.decide(ref, undefined, this.ctx.options.random) : undefined;
  }

  /**
   * Carries one outbound connection along `decision`: to the chosen cluster, or (passthrough)
   * straight to `original`, or (blackhole) nowhere.
   */
  outbound(
    downstream: Socket,
    decision: TcpRouteDecision,
    original?: { address: string; port: number },
  ): void {
    this.counters.outboundConnections++;
    const cfg = this.ctx.config();
    downstream.on('error', () => downstream.destroy());
    if (!cfg) {
      downstream.destroy();
      return;
    }
    const random = this.ctx.options.random;
    if (decision.kind !== 'route') {
      this.external(cfg, downstream, decision.kind, original);
      return;
    }
    const cluster = decision.clusterKey ? cfg.clusters.get(decision.clusterKey) : undefined;
    const service = (decision.service && cfg.serviceFacts.get(decision.service.host)) ?? UNKNOWN_SERVICE;
    const base: TcpConnectionRecord = {
      reporter: 'source',
      source: cfg.localFacts,
      sourcePrincipal: this.ctx.certificate()?.bundle.spiffeId,
      destination: UNKNOWN_WORKLOAD,
      service,
      mtls: false,
    };
    const refuse = (flag: string) => {
      const handle = this.ctx.telemetry.recordTcpOpen({ ...base, responseFlags: flag });
      this.ctx.telemetry.recordTcpClose(handle, 0, 0);
      downstream.destroy();
    };
    const hashKey = cluster
      ? hashKeyFor(cluster.cluster.loadBalancer, { headers: {}, sourceAddress: downstream.remoteAddress }).key
      : undefined;
    const ep = cluster?.pick(undefined, random, hashKey);
    if (!cluster || !ep) {
      refuse('UH');
      return;
    }
    const count = this.connections.get(cluster) ?? 0;
    if (count >= cluster.cluster.connectionPool.maxConnections) {
      this.counters.overflows++;
      cluster.stats.overflows++;
      refuse('UO');
      return;
    }
    this.connections.set(cluster, count + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.connections.set(cluster, (this.connections.get(cluster) ?? 1) - 1);
    };
    downstream.pause();
    this.connectUpstream(cluster, ep, (err, upstream) => {
      const facts = cfg.endpointFacts.get(ep.endpoint.pod) ?? UNKNOWN_WORKLOAD;
      const rec: TcpConnectionRecord = {
        ...base,
        destination: facts,
        mtls: ep.endpoint.mtls,
      };
      if (ep.endpoint.mtls && ep.endpoint.identity) rec.destinationPrincipal = ep.endpoint.identity;
      if (err || !upstream) {
        release();
        this.counters.connectFailures++;
        cluster.stats.connectFailures++;
        cluster.report(ep, 0);
        const handle = this.ctx.telemetry.recordTcpOpen({ ...rec, responseFlags: 'UF' });
        this.ctx.telemetry.recordTcpClose(handle, 0, 0);
        downstream.destroy();
        return;
      }
      if (downstream.destroyed) {
        release();
        upstream.destroy();
        return;
      }
      if (ep.endpoint.mtls) upstream.write(preamble(encodePeerMetadata(cfg.localFacts)));
      ep.active++;
      // connectionPool idleTimeout (Istio's TCP default: 1 h): a connection silent both ways closes.
      const idleMs = cluster.cluster.connectionPool.idleTimeoutMs ?? this.options.idleTimeoutMs;
      downstream.setTimeout(idleMs, () => {
        downstream.destroy();
        upstream.destroy();
      });
      this.splice(downstream, upstream, rec, () => {
        ep.active--;
        release();
      });
    });
  }

  /**
   * Traffic to a destination outside the registry: under ALLOW_ANY it goes to its original
   * destination as is (PassthroughCluster); under REGISTRY_ONLY it is closed (BlackHoleCluster).
   */
  private external(
    cfg: ActiveConfig,
    downstream: Socket,
    kind: 'passthrough' | 'blackhole',
    original: { address: string; port: number } | undefined,
  ): void {
    const name = kind === 'passthrough' ? 'PassthroughCluster' : 'BlackHoleCluster';
    const rec: TcpConnectionRecord = {
      reporter: 'source',
      source: cfg.localFacts,
      sourcePrincipal: this.ctx.certificate()?.bundle.spiffeId,
      destination: UNKNOWN_WORKLOAD,
      service: { host: name, name, namespace: UNKNOWN_SERVICE.namespace },
      mtls: false,
    };
    if (kind === 'blackhole' || !original) {
      this.counters.blackholed++;
      const handle = this.ctx.telemetry.recordTcpOpen({ ...rec, responseFlags: 'NR' });
      this.ctx.telemetry.recordTcpClose(handle, 0, 0);
      downstream.destroy();
      return;
    }
    downstream.pause();
    const up = netConnect({
      host: original.address,
      port: original.port,
      noDelay: true,
      allowHalfOpen: true,
    });
    up.once('connect', () => {
      this.counters.passthrough++;
      this.splice(downstream, up, rec, () => undefined);
    });
    up.once('error', () => {
      if (!up.connecting) return;
      const handle = this.ctx.telemetry.recordTcpOpen({ ...rec, responseFlags: 'UF' });
      this.ctx.telemetry.recordTcpClose(handle, 0, 0);
      downstream.destroy();
    });
  }

  /**
   * A plaintext connection captured by the inbound listener (a client without a sidecar) whose
   * original destination is `dst`. Takes it when `dst.port` is an app port declared as TCP: STRICT
   * closes it, otherwise AuthorizationPolicy decides (no principal: rules naming principals or
   * namespaces do not match) and it is piped to the app. Returns false for other ports (HTTP).
   */
  plaintextInbound(socket: Socket, dst: { address: string; port: number }): boolean {
    const cfg = this.ctx.config();
    if (!cfg) return false;
    let ports = this.appPorts.get(cfg);
    if (!ports) this.appPorts.set(cfg, (ports = appPortProtocols(cfg)));
    const protocol = ports.get(dst.port);
    if (protocol === undefined || !TCP_PROTOCOLS.has(protocol)) return false;
    this.counters.inboundConnections++;
    socket.allowHalfOpen = true;
    socket.on('error', () => socket.destroy());
    if (cfg.inbound.mtlsMode(dst.port) === 'STRICT') {
      socket.destroy();
      return true;
    }
    const rec: TcpConnectionRecord = {
      reporter: 'destination',
      source: UNKNOWN_WORKLOAD,
      destination: cfg.localFacts,
      destinationPrincipal: this.ctx.certificate()?.bundle.spiffeId,
      service: cfg.localService,
      mtls: false,
    };
    const verdict = authorize(this.of(cfg).authz, {
      ...(socket.remoteAddress ? { sourceIp: stripV4Mapped(socket.remoteAddress) } : {}),
      host: dst.address,
      port: dst.port,
      protocol: 'tcp',
    });
    if (!verdict.allowed) {
      this.counters.denied++;
      const handle = this.ctx.telemetry.recordTcpOpen(rec);
      this.ctx.telemetry.recordTcpClose(handle, 0, 0);
      socket.destroy();
      return true;
    }
    const app = netConnect({
      host: this.ctx.options.appHost,
      port: dst.port,
      noDelay: true,
      allowHalfOpen: true,
    });
    app.once('connect', () => this.splice(socket, app, rec, () => undefined));
    app.once('error', () => {
      if (!app.connecting) return;
      const handle = this.ctx.telemetry.recordTcpOpen({ ...rec, responseFlags: 'UF' });
      this.ctx.telemetry.recordTcpClose(handle, 0, 0);
      socket.destroy();
    });
    return true;
  }

  /** Carries one verified `tsmesh-tcp` connection to the app, if policy allows it. */
  inbound(socket: Socket, conn: MeshConnection): void {
    this.counters.inboundConnections++;
    socket.allowHalfOpen = true;
    socket.on('error', () => socket.destroy());
    const cfg = this.ctx.config();
    const port = conn.port;
    if (!cfg || port === undefined) {
      socket.destroy();
      return;
    }
    const verdict = authorize(this.of(cfg).authz, {
      ...(conn.peerIdentity ? { principal: conn.peerIdentity } : {}),
      ...(socket.remoteAddress ? { sourceIp: stripV4Mapped(socket.remoteAddress) } : {}),
      host: stripV4Mapped(socket.localAddress ?? ''),
      port,
      protocol: 'tcp',
    });
    readPreamble(socket, this.options.preambleTimeoutMs, (value, length) => {
      const source: WorkloadFacts = (value && this.decoder.decode(value)) || UNKNOWN_WORKLOAD;
      const rec: TcpConnectionRecord = {
        reporter: 'destination',
        source,
        destination: cfg.localFacts,
        destinationPrincipal: this.ctx.certificate()?.bundle.spiffeId,
        service: cfg.localService,
        mtls: true,
      };
      if (conn.peerIdentity) rec.sourcePrincipal = conn.peerIdentity;
      if (!verdict.allowed) {
        this.counters.denied++;
        const handle = this.ctx.telemetry.recordTcpOpen(rec);
        this.ctx.telemetry.recordTcpClose(handle, 0, 0);
        socket.destroy();
        return;
      }
      const app = netConnect({ host: this.ctx.options.appHost, port, noDelay: true, allowHalfOpen: true });
      app.once('connect', () => this.splice(socket, app, rec, () => undefined, length));
      app.once('error', () => {
        if (app.connecting) {
          const handle = this.ctx.telemetry.recordTcpOpen({ ...rec, responseFlags: 'UF' });
          this.ctx.telemetry.recordTcpClose(handle, 0, 0);
          socket.destroy();
        }
      });
    });
  }

  /** Pipes both directions, counting bytes as seen from the downstream side. */
  private splice(
    downstream: Socket,
    upstream: Socket,
    rec: TcpConnectionRecord,
    onClose: () => void,
    skipReceived = 0,
  ): void {
    const handle = this.ctx.telemetry.recordTcpOpen(rec);
    // `skipReceived`: bytes already read that were not payload (the metadata preamble).
    const entry: OpenConnection = { socket: downstream, handle, sent: 0, received: skipReceived };
    this.open.add(entry);
    this.startReporting();
    let closed = 0;
    const finish = () => {
      if (++closed < 2) return;
      this.open.delete(entry);
      const sent = downstream.bytesWritten - entry.sent;
      const received = downstream.bytesRead - entry.received;
      this.ctx.telemetry.recordTcpClose(handle, Math.max(0, sent), Math.max(0, received));
      onClose();
    };
    upstream.setNoDelay(true);
    pipeline(downstream, upstream, (err) => {
      if (err) {
        upstream.destroy();
        downstream.destroy();
      }
      finish();
    });
    pipeline(upstream, downstream, (err) => {
      if (err) {
        upstream.destroy();
        downstream.destroy();
      }
      finish();
    });
    downstream.resume();
  }

  private startReporting(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      for (const c of this.open) {
        const sent = c.socket.bytesWritten;
        const received = c.socket.bytesRead;
        this.ctx.telemetry.recordTcpBytes(c.handle, sent - c.sent, received - c.received);
        c.sent = sent;
        c.received = received;
      }
      if (this.open.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, this.options.reportIntervalMs);
    this.timer.unref();
  }

  private connectUpstream(
    cluster: UpstreamCluster,
    ep: UpstreamEndpoint,
    done: (err: Error | null, socket?: Socket) => void,
  ): void {
    const e = ep.endpoint;
    const o = this.ctx.options;
    const peer = e.mtls ? (o.peerAddress?.(e) ?? { address: e.address, port: o.peerInboundPort }) : undefined;
    const c = cluster.cluster;
    const connect = createConnector({
      address: peer ? peer.address : e.address,
      port: peer ? peer.port : e.port,
      connectTimeoutMs: c.connectionPool.connectTimeoutMs,
      tls: peer
        ? {
            secureContext: () => this.ctx.certificate()?.secureContext,
            alpn: MESH_ALPN.tcp,
            sni: formatMeshSni(e.port, c.subset, c.host),
            acceptedIdentities: () => new Set(cluster.cluster.serverIdentities),
          }
        : undefined,
    });
    connect(undefined, (err, socket) => {
      if (err || !socket) return done(err ?? new Error('no socket'));
      // A half-close (FIN) travels end to end: the other direction keeps flowing.
      (socket as Socket).allowHalfOpen = true;
      done(null, socket as Socket);
    });
  }

  /** Closes every open connection. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.open) c.socket.destroy();
  }
}

function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function preamble(value: string): Buffer {
  const body = Buffer.from(value, 'latin1');
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

/** Reads the client sidecar's preamble, then hands over the socket with the rest unread. */
function readPreamble(
  socket: Socket,
  timeoutMs: number,
  done: (value: string | undefined, length: number) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => {
    cleanup();
    socket.destroy();
  }, timeoutMs);
  const cleanup = () => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
  };
  const onClose = () => cleanup();
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length < 2) return;
    const len = buf.readUInt16BE(0);
    if (len + 2 > MAX_PREAMBLE) {
      cleanup();
      socket.destroy();
      return;
    }
    if (buf.length < 2 + len) return;
    cleanup();
    socket.pause();
    const rest = buf.subarray(2 + len);
    if (rest.length > 0) socket.unshift(rest);
    done(buf.subarray(2, 2 + len).toString('latin1'), 2 + len);
  };
  socket.on('data', onData);
  socket.on('close', onClose);
}

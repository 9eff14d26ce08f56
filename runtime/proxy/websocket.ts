import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HEADERS, MESH_ALPN } from '../../lib/constants.js';
import { route } from '../../lib/routing/route.js';
import type { RouteDecision } from '../../lib/routing/types.js';
import type { ActiveConfig } from './config.js';
import type { ProxyContext } from './context.js';
import { Exchange, LOCAL_REPLY } from './exchange.js';
import { filterRequestHeaders } from './hygiene.js';
import { admitInbound, NO_APP_PORT, PLAINTEXT_REFUSED } from './listeners/admission.js';
import {
  firstValues,
  isHygieneError,
  type PreparedRequest,
  prepareRequest,
  routeNameOf,
  tagRequest,
} from './listeners/prepare.js';
import { recordInbound, recordOutbound } from './listeners/records.js';
import { applyRequestEdits, rewritePath } from './listeners/route-forward.js';
import {
  encodePeerMetadata,
  PeerMetadataDecoder,
  type SpanRecord,
  TRACE_HEADER_NAMES,
  UNKNOWN_WORKLOAD,
  type WorkloadFacts,
} from './telemetry/index.js';
import { formatMeshSni } from './tls/sni.js';
import type { UpstreamCluster, UpstreamEndpoint } from './upstream/cluster.js';
import { createConnector } from './upstream/connector.js';
import { hashKeyFor } from './upstream/consistent-hash.js';

/** What the inbound listener knows about the connection an upgrade arrived on. */
export interface UpgradeConnection {
  mtls: boolean;
  peerIdentity?: string;
  xfcc?: string;
  port?: number;
}

/** True for `Upgrade: websocket` (case-insensitive, possibly in a list). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const up = req.headers.upgrade;
  return typeof up === 'string' && up.split(',').some((t) => t.trim().toLowerCase() === 'websocket');
}

function rawReply(socket: Duplex, ex: Exchange, status: number, body: string): void {
  ex.status = status;
  const reason =
    { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway' }[status] ?? 'Error';
  const extra = ex.requestId ? `x-request-id: ${ex.requestId}\r\n` : '';
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
    );
  }
  ex.responseBytes += Buffer.byteLength(body);
}

function requestHead(method: string, path: string, list: readonly string[]): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
  return Buffer.from(`${head}connection: Upgrade\r\nupgrade: websocket\r\n\r\n`, 'latin1');
}

/**
 * Splices the downstream socket and the upstream: sends the head (and any bytes read after
 * it), reads the status of the upstream's answer for telemetry, then copies bytes both ways.
 */
function splice(down: Duplex, up: Socket, head: Buffer, rest: Buffer, ex: Exchange, done: () => void): void {
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    down.destroy();
    up.destroy();
    done();
  };
  up.write(head);
  if (rest.length > 0) up.write(rest);
  let first = true;
  up.on('data', (chunk: Buffer) => {
    if (first) {
      first = false;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(chunk.subarray(0, 16).toString('latin1'));
      ex.status = m ? Number(m[1]) : 0;
      if (!m) ex.flag('UPE');
    }
    ex.responseBytes += chunk.length;
    if (!down.write(chunk)) {
      up.pause();
      down.once('drain', () => up.resume());
    }
  });
  down.on('data', (chunk: Buffer) => {
    ex.requestBytes += chunk.length;
    if (!up.write(chunk)) {
      down.pause();
      up.once('drain', () => down.resume());
    }
  });
  up.once('end', () => down.end());
  down.once('end', () => up.end());
  up.once('close', finish);
  down.once('close', finish);
  up.on('error', () => finish());
  down.on('error', () => finish());
}

export class WebSocketProxy {
  private readonly decoder = new PeerMetadataDecoder();
  private readonly open = new Set<Duplex>();
  /** Upgraded connections currently open (both directions). */
  get openConnections(): number {
    return this.open.size;
  }

  /** Mesh-internal headers the local app may set (as at the outbound listener). */
  private readonly trusted: ReadonlySet<string>;

  constructor(private readonly ctx: ProxyContext) {
    this.trusted = new Set(ctx.options.trustedAppHeaders.map((h) => h.toLowerCase()));
  }

  /** Tracks an upgraded socket and starts its exchange. */
  private begin(req: IncomingMessage, socket: Duplex): Exchange {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    socket.on('error', () => socket.destroy());
    const ex = new Exchange();
    ex.method = req.method ?? 'GET';
    ex.path = req.url ?? '';
    return ex;
  }

  /**
   * The checks both directions start with: a config, a WebSocket upgrade, hygiene and
   * normalization.
   * Undefined when the upgrade was answered (and refused) here.
   */
  private prepare(
    req: IncomingMessage,
    socket: Duplex,
    ex: Exchange,
    cfg: ActiveConfig | undefined,
  ): PreparedRequest | undefined {
    if (!cfg) {
      rawReply(socket, ex, 502, LOCAL_REPLY.notReady);
      return undefined;
    }
    if (!isWebSocketUpgrade(req)) {
      rawReply(socket, ex, 400, 'only WebSocket upgrades are supported');
      return undefined;
    }
    const prepared = prepareRequest(req, cfg.table.mesh.pathNormalization, this.ctx.options.maxHeadersCount);
    if (isHygieneError(prepared)) {
      ex.flag('DPE');
      rawReply(socket, ex, prepared.status, prepared.message);
      return undefined;
    }
    ex.path = prepared.target;
    ex.authority = prepared.authority;
    return prepared;
  }

  /** An upgrade request from the local app (outbound). */
  outbound(req: IncomingMessage, socket: Duplex, rest: Buffer): void {
    const ctx = this.ctx;
    const ex = this.begin(req, socket);
    const cfg = ctx.config();
    let decision: RouteDecision | undefined;
    let span: SpanRecord | undefined;
    const finish = () => recordOutbound(this.ctx, cfg, ex, decision, span);
    const prepared = this.prepare(req, socket, ex, cfg);
    if (!cfg || !prepared) {
      finish();
      return;
    }
    const list = filterRequestHeaders(req.rawHeaders, {
      allowInternal: this.trusted,
      dropHost: true,
      drop: TRACE_HEADER_NAMES,
    }).list;
    const values = firstValues(req);
    span = tagRequest(ctx, ex, list, req.headers, values[HEADERS.requestId], 'source');
    decision = route(
      cfg.table,
      {
        authority: prepared.authority,
        port: prepared.port ?? 80,
        method: ex.method,
        path: prepared.path,
        query: prepared.query,
        headers: values,
        caller: cfg.snapshot.proxy,
        ...(req.socket.remoteAddress ? { sourceAddress: req.socket.remoteAddress } : {}),
      },
      ctx.options.random,
    );
    ex.routeName = routeNameOf(decision);
    if (decision.kind === 'no-route') {
      ex.flag('NR');
      rawReply(socket, ex, 404, '');
      finish();
      return;
    }
    if (decision.kind !== 'route') {
      ex.flag('NR');
      rawReply(
        socket,
        ex,
        decision.kind === 'direct-response' ? (decision.directResponse?.status ?? 502) : 502,
        '',
      );
      finish();
      return;
    }
    const fault = decision.fault;
    if (fault?.abort && ctx.options.random() * 100 < fault.abort.percent) {
      ex.flag('FI');
      rawReply(socket, ex, fault.abort.status, LOCAL_REPLY.faultAbort);
      finish();
      return;
    }
    const cluster = decision.clusterKey ? cfg.clusters.get(decision.clusterKey) : undefined;
    const hash = cluster
      ? hashKeyFor(cluster.cluster.loadBalancer, {
          headers: values,
          query: prepared.query,
          sourceAddress: req.socket.remoteAddress,
        })
      : {};
    const ep = cluster?.pick(undefined, ctx.options.random, hash.key);
    if (!cluster || !ep) {
      ex.flag('UH');
      rawReply(socket, ex, 503, LOCAL_REPLY.noHealthyUpstream);
      finish();
      return;
    }
    applyRequestEdits(list, decision.headers.request);
    list.push('host', decision.rewrite?.authority ?? prepared.authority);
    if (ep.endpoint.mtls) list.push(HEADERS.peerMetadata, encodePeerMetadata(cfg.localFacts));
    const path = rewritePath(prepared.path, decision);
    const head = requestHead(ex.method, prepared.query ? `${path}?${prepared.query}` : path, list);
    ex.upstreamCluster = cluster.key;
    ex.upstreamHost = ep.hostPort;
    this.connect(cluster, ep, (err, up) => {
      if (err || !up) {
        cluster.report(ep, 0);
        ex.flag('UF');
        rawReply(socket, ex, 503, LOCAL_REPLY.connectFailure);
        finish();
        return;
      }
      ep.active++;
      splice(socket, up, head, rest, ex, () => {
        ep.active--;
        finish();
      });
    });
  }

  /** An upgrade request arriving at the inbound listener. */
  inbound(req: IncomingMessage, socket: Duplex, rest: Buffer, conn: UpgradeConnection): void {
    const ctx = this.ctx;
    const ex = this.begin(req, socket);
    ex.mtls = conn.mtls;
    ex.peerIdentity = conn.peerIdentity;
    const cfg = ctx.config();
    let source: WorkloadFacts = UNKNOWN_WORKLOAD;
    let span: SpanRecord | undefined;
    const finish = () => recordInbound(this.ctx, cfg, ex, source, span);
    const prepared = this.prepare(req, socket, ex, cfg);
    if (!cfg || !prepared) {
      finish();
      return;
    }
    if (conn.mtls) source = this.decoder.decode(req.headers[HEADERS.peerMetadata]) ?? UNKNOWN_WORKLOAD;
    const values = firstValues(req);
    const port = admitInbound(cfg, conn, prepared, ex.method, values, req.socket.remoteAddress);
    if (port < 0) {
      if (port === PLAINTEXT_REFUSED) socket.destroy();
      else if (port === NO_APP_PORT) {
        ex.flag('NR');
        rawReply(socket, ex, 404, `no app port for ${prepared.authority}`);
        finish();
      } else {
        rawReply(socket, ex, 403, LOCAL_REPLY.rbacDenied);
        finish();
      }
      return;
    }
    const list = filterRequestHeaders(req.rawHeaders, { drop: TRACE_HEADER_NAMES }).list;
    if (conn.xfcc) list.push(HEADERS.forwardedClientCert, conn.xfcc);
    span = tagRequest(ctx, ex, list, req.headers, values[HEADERS.requestId], 'destination');
    const head = requestHead(ex.method, prepared.target, list);
    ex.upstreamCluster = `inbound|${port}||`;
    ex.upstreamHost = `${ctx.options.appHost}:${port}`;
    const app = netConnect({ host: ctx.options.appHost, port, noDelay: true });
    app.once('connect', () => splice(socket, app, head, rest, ex, finish));
    app.once('error', () => {
      if (!app.connecting) return;
      ex.flag('UF');
      rawReply(socket, ex, 503, LOCAL_REPLY.connectFailure);
      finish();
    });
  }

  private connect(
    cluster: UpstreamCluster,
    ep: UpstreamEndpoint,
    done: (err: Error | null, s?: Socket) => void,
  ) {
    const e = ep.endpoint;
    const o = this.ctx.options;
    const c = cluster.cluster;
    const peer = e.mtls ? (o.peerAddress?.(e) ?? { address: e.address, port: o.peerInboundPort }) : undefined;
    createConnector({
      address: peer ? peer.address : e.address,
      port: peer ? peer.port : e.port,
      connectTimeoutMs: c.connectionPool.connectTimeoutMs,
      tls: peer
        ? {
            secureContext: () => this.ctx.certificate()?.secureContext,
            alpn: MESH_ALPN.http11,
            sni: formatMeshSni(e.port, c.subset, c.host),
            acceptedIdentities: () => new Set(cluster.cluster.serverIdentities),
          }
        : undefined,
    })(undefined, (err, s) => (err ? done(err) : done(null, s as Socket)));
  }

  /** Closes every upgraded connection. */
  close(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }
}

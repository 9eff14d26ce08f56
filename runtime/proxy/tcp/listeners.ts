/**
 * Listeners that feed the TCP proxy: the outbound capture front (15001), which looks up each
 * connection's original destination and sends TCP service ports to the TCP proxy and
 * everything else to the HTTP side (HTTP/2 by its connection preface, else HTTP/1.1); and
 * explicit TCP listeners (`tcpListeners`), each bound for one destination service port, for
 * hosts without traffic capture.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { ProxyContext } from '../context.js';
import type { OriginalDestinationResolver } from './original-dst.js';
import type { TcpProxy } from './proxy.js';

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** How long a connection may take to send the bytes that tell HTTP/2 from HTTP/1.1. */
const SNIFF_TIMEOUT_MS = 10_000;

/** An explicit TCP listener: connections to `port` go to the service port `destination`. */
export interface TcpListenerSpec {
  /** Port to bind (0 for an ephemeral one). */
  port: number;
  /** Address to bind. @default the proxy's address */
  host?: string;
  /** `host:port` of the destination service, as a client would name it (`db:5432`). */
  destination: string;
}

export type ConnectionHandler = (socket: Socket) => void;

/**
 * Parses `LOCAL_PORT=HOST:PORT[,...]` (the `--tcp-listener` flag). Throws naming the entry and
 * what is allowed.
 */
export function parseTcpListeners(text: string): TcpListenerSpec[] {
  const out: TcpListenerSpec[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^([0-9]{1,5})=([A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(entry);
    const local = m ? Number(m[1]) : -1;
    const remote = m ? Number(m[3]) : -1;
    if (!m || local > 65535 || remote < 1 || remote > 65535) {
      throw new Error(`--tcp-listener: '${entry}' is not LOCAL_PORT=HOST:PORT (e.g. 5432=db:5432)`);
    }
    out.push({ port: local, destination: `${m[2]}:${remote}` });
  }
  return out;
}

/** 'h2' when `buf` starts with the HTTP/2 preface, 'http1' when it cannot, 'more' when undecided. */
export function sniffH2(buf: Buffer): 'h2' | 'http1' | 'more' {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).compare(H2_PREFACE, 0, n) !== 0) return 'http1';
  return n === H2_PREFACE.length ? 'h2' : 'more';
}

/**
 * Reads a connection's first bytes until HTTP/2 and HTTP/1.1 can be told apart, puts them back
 * and hands the paused socket to `h2` or `http1`.
 */
export function dispatchHttp(socket: Socket, h2: ConnectionHandler, http1: ConnectionHandler): void {
  let buffered: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const cleanup = () => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', cleanup);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const kind = sniffH2(buffered);
    if (kind === 'more') return;
    cleanup();
    socket.pause();
    socket.unshift(buffered);
    if (kind === 'h2') h2(socket);
    else http1(socket);
  };
  socket.on('data', onData);
  socket.on('close', cleanup);
  socket.resume();
}

/**
 * What the first bytes of a connection to an unknown destination are: HTTP/1.x (a method token
 * and a space), HTTP/2 (the preface), something else, or not enough bytes yet.
 */
export function sniffProtocol(buf: Buffer): 'http' | 'other' | 'more' {
  const h2 = sniffH2(buf);
  if (h2 === 'h2') return 'http';
  if (h2 === 'more') return buf.length < 4 ? 'more' : 'http';
  let i = 0;
  while (i < buf.length && i < 17 && buf[i] >= 0x41 && buf[i] <= 0x5a) i++;
  if (i === buf.length && i < 17) return 'more';
  return i > 0 && buf[i] === 0x20 ? 'http' : 'other';
}

export interface OutboundFrontDeps {
  /**
   * How long to wait for the first bytes of a connection to a destination no service claims
   * before treating it as opaque TCP (server-first protocols send nothing first).
   */
  protocolDetectionTimeoutMs: number;
  tcp: TcpProxy;
  resolve: OriginalDestinationResolver;
  /** Plain HTTP/1.1 (the core's outbound HTTP server). */
  http1: ConnectionHandler;
  /** HTTP/2 with prior knowledge (h2c). */
  h2: ConnectionHandler;
}

/** The outbound capture listener; `sockets` tracks its connections so a stop can close them. */
export function createOutboundFront(
  ctx: ProxyContext,
  deps: OutboundFrontDeps,
  sockets: Set<Socket>,
): NetServer {
  return createNetServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    deps.resolve(socket).then(
      (dst) => {
        if (socket.destroyed) return;
        if (dst && dst.method !== 'local') {
          const c = deps.tcp.classify(dst.address, dst.port);
          if (c.kind === 'tcp') return deps.tcp.outbound(socket, c.decision);
          if (c.kind === 'unknown') return sniffUnknown(socket, dst, deps);
        }
        dispatchHttp(socket, deps.h2, deps.http1);
      },
      (err: Error) => {
        ctx.options.log('warn', `outbound: original destination lookup failed: ${err.message}`);
        dispatchHttp(socket, deps.h2, deps.http1);
      },
    );
  });
}

/**
 * A captured connection to a destination no service claims: HTTP goes to the HTTP side (routed
 * by Host: egress passthrough or blackhole there), anything else (or silence until the detection
 * timeout) is opaque TCP, passed through or closed by the outbound traffic policy.
 */
function sniffUnknown(socket: Socket, dst: { address: string; port: number }, deps: OutboundFrontDeps): void {
  let buffered: Buffer = Buffer.alloc(0);
  let decided = false;
  const decide = (kind: 'http' | 'other') => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.pause();
    if (buffered.length > 0) socket.unshift(buffered);
    if (kind === 'http') return dispatchHttp(socket, deps.h2, deps.http1);
    const decision = deps.tcp.unknownDestination(dst.address, dst.port);
    if (!decision) return void socket.destroy();
    deps.tcp.outbound(socket, decision, dst);
  };
  const timer = setTimeout(() => decide('other'), deps.protocolDetectionTimeoutMs);
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const kind = sniffProtocol(buffered);
    if (kind !== 'more') decide(kind);
  };
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

/** An explicit TCP listener for one destination service port. */
export function createTcpListener(
  ctx: ProxyContext,
  tcp: TcpProxy,
  spec: TcpListenerSpec,
  sockets: Set<Socket>,
): NetServer {
  const colon = spec.destination.lastIndexOf(':');
  const host = spec.destination.slice(0, colon);
  const port = Number(spec.destination.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`tcpListeners: destination must be 'host:port', got '${spec.destination}'`);
  }
  return createNetServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const decision = tcp.routeForHost(host, port);
    if (!decision) {
      ctx.options.log('warn', `tcp listener: no service ${spec.destination} in the current config`);
      socket.destroy();
      return;
    }
    tcp.outbound(socket, decision);
  });
}

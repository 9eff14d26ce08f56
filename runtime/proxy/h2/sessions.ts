/**
 * HTTP/2 client sessions to upstreams, one per endpoint, reused for every stream: mesh mTLS with
 * the `tsmesh-h2` ALPN to a peer sidecar (the server's SPIFFE id must be an identity of the
 * destination), or cleartext h2c to an app or an unmeshed endpoint. Flow-control windows are
 * raised above Node's 64 KiB default. A session that received GOAWAY, failed or closed is
 * dropped from the pool, so new streams open a fresh one.
 */
import type { ClientHttp2Session, SecureClientSessionOptions } from 'node:http2';
import type { Socket } from 'node:net';
import { type SecureContext, connect as tlsConnect } from 'node:tls';
import { MESH_ALPN } from '../../../lib/constants.js';
import { checkServerCertificate, UpstreamTlsError } from '../upstream/connector.js';
import { http2 } from './http2.js';

export interface H2WindowOptions {
  /** SETTINGS_INITIAL_WINDOW_SIZE we announce (per stream). */
  streamWindowBytes: number;
  /** Connection-level receive window. */
  connectionWindowBytes: number;
}

export const H2_WINDOW_DEFAULTS: H2WindowOptions = {
  streamWindowBytes: 1 << 20,
  connectionWindowBytes: 16 << 20,
};

export interface H2Target {
  address: string;
  port: number;
  connectTimeoutMs: number;
  tls?: {
    secureContext: SecureContext;
    sni: string;
    acceptedIdentities: ReadonlySet<string>;
  };
}

/** A session plus what the forwarder needs to classify failures. */
export interface PooledSession {
  session: ClientHttp2Session;
  /** The transport connected (and, for mTLS, the peer was verified). */
  connected: boolean;
  /** Why the session failed, when it did before connecting. */
  error?: Error;
}

export function openSession(target: H2Target, windows: H2WindowOptions): PooledSession {
  const host = target.address.includes(':') ? `[${target.address}]` : target.address;
  const tls = target.tls;
  const options: SecureClientSessionOptions = {
    settings: { initialWindowSize: windows.streamWindowBytes, enablePush: false },
    maxSessionMemory: 64,
  };
  if (tls) {
    options.createConnection = () => {
      const s = tlsConnect({
        host: target.address,
        port: target.port,
        servername: tls.sni,
        ALPNProtocols: [MESH_ALPN.h2],
        secureContext: tls.secureContext,
        rejectUnauthorized: true,
        checkServerIdentity: (_h, cert) => checkServerCertificate(cert, tls.acceptedIdentities),
      });
      s.once('secureConnect', () => {
        if (s.alpnProtocol !== MESH_ALPN.h2)
          s.destroy(new UpstreamTlsError(`upstream did not accept ALPN ${MESH_ALPN.h2}`));
      });
      s.setNoDelay(true);
      return s as Socket;
    };
  }
  const session = http2().connect(`${tls ? 'https' : 'http'}://${host}:${target.port}`, options);
  const pooled: PooledSession = { session, connected: false };
  const timer = setTimeout(() => {
    const err = Object.assign(new Error(`connect timeout after ${target.connectTimeoutMs} ms`), {
      code: 'UND_ERR_CONNECT_TIMEOUT',
    });
    pooled.error = err;
    session.destroy(err);
  }, target.connectTimeoutMs);
  session.once('connect', () => {
    clearTimeout(timer);
    pooled.connected = true;
    try {
      session.setLocalWindowSize(windows.connectionWindowBytes);
    } catch {
      // the session closed meanwhile
    }
  });
  session.on('error', (err) => {
    clearTimeout(timer);
    if (!pooled.connected) pooled.error ??= err;
  });
  session.once('close', () => clearTimeout(timer));
  return pooled;
}

/** Sessions by key; a dead or draining session is replaced on the next `get`. */
export class SessionPool {
  private readonly sessions = new Map<string, PooledSession>();

  constructor(private readonly windows: H2WindowOptions) {}

  get(key: string, target: () => H2Target): PooledSession {
    const existing = this.sessions.get(key);
    if (existing && !existing.session.closed && !existing.session.destroyed) return existing;
    const pooled = openSession(target(), this.windows);
    const drop = () => {
      if (this.sessions.get(key) === pooled) this.sessions.delete(key);
    };
    pooled.session.once('goaway', drop);
    pooled.session.once('close', drop);
    pooled.session.once('error', drop);
    pooled.session.setTimeout(120_000, () => pooled.session.close());
    this.sessions.set(key, pooled);
    return pooled;
  }

  /** Closes every session (streams in flight are reset). */
  destroy(): void {
    for (const p of this.sessions.values()) p.session.destroy();
    this.sessions.clear();
  }
}

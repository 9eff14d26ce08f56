/**
 * How a client sidecar opens a connection to an upstream endpoint: plain TCP to endpoints
 * without a sidecar, or mesh mTLS to the peer sidecar's inbound port with the mesh ALPN and the
 * `outbound_.<port>_.<subset>_.<host>` SNI. The server must chain to the trust bundle, carry one
 * SPIFFE URI SAN, not be a CA, and be one of the cluster's accepted identities. TLS sessions are
 * cached per endpoint so reconnects resume instead of doing a full handshake.
 */
import { type LookupFunction, connect as netConnect, type Socket } from 'node:net';
import { type PeerCertificate, type SecureContext, connect as tlsConnect } from 'node:tls';
import { parseSpiffeId } from '../../../lib/identity.js';
import { uriSans } from '../tls/certs.js';

export interface MeshTlsTarget {
  /** Current TLS context (our cert, key and the trust bundle). */
  secureContext: () => SecureContext | undefined;
  /** The mesh ALPN value to offer. */
  alpn: string;
  sni: string;
  /** SPIFFE ids the server may present. */
  acceptedIdentities: () => ReadonlySet<string>;
}

export interface ConnectTarget {
  address: string;
  port: number;
  connectTimeoutMs: number;
  tls?: MeshTlsTarget;
  /** Resolves a host-name address (ServiceEntry DNS endpoints); the system resolver when absent. */
  lookup?: LookupFunction;
}

export class UpstreamTlsError extends Error {
  readonly code = 'TSMESH_UPSTREAM_TLS';
}

/** Verifies a server certificate against the mesh rules; returns an Error to refuse it. */
export function checkServerCertificate(
  cert: PeerCertificate,
  accepted: ReadonlySet<string>,
): Error | undefined {
  if (!cert?.raw) return new UpstreamTlsError('upstream presented no certificate');
  if (cert.ca) return new UpstreamTlsError('upstream certificate is a CA');
  const uris = uriSans(cert.subjectaltname);
  if (uris.length !== 1 || !parseSpiffeId(uris[0])) {
    return new UpstreamTlsError(
      `upstream certificate must carry one SPIFFE URI SAN, got ${JSON.stringify(uris)}`,
    );
  }
  if (!accepted.has(uris[0])) {
    return new UpstreamTlsError(
      `upstream identity ${uris[0]} is not an identity of the destination (accepted: ${[...accepted].join(', ') || 'none'})`,
    );
  }
  return undefined;
}

export type ConnectCallback = (...args: [null, Socket] | [Error, null]) => void;

/** What one call of a connector may carry besides undici's own connect options. */
export interface ConnectCall {
  /** Sees the socket as soon as it exists, before it connects (to count it until it closes). */
  onSocket?: (socket: Socket) => void;
}

/** An undici `connect` function. */
export type Connector = (options: ConnectCall | undefined, callback: ConnectCallback) => void;

/** Returns an undici `connect` function for one endpoint. */
export function createConnector(target: ConnectTarget): Connector {
  let session: Buffer | undefined;
  return (options, callback) => {
    let done = false;
    const finish = (err: Error | null, socket?: Socket) => {
      if (done) return;
      done = true;
      socket?.setTimeout(0);
      if (err) callback(err, null);
      else callback(null, socket!);
    };
    const tls = target.tls;
    let socket: Socket;
    if (tls) {
      const secureContext = tls.secureContext();
      if (!secureContext) {
        callback(new UpstreamTlsError('no workload certificate yet'), null);
        return;
      }
      const accepted = tls.acceptedIdentities();
      const s = tlsConnect({
        host: target.address,
        port: target.port,
        servername: tls.sni,
        ALPNProtocols: [tls.alpn],
        secureContext,
        session,
        rejectUnauthorized: true,
        checkServerIdentity: (_host, cert) => checkServerCertificate(cert, accepted),
        ...(target.lookup ? { lookup: target.lookup } : {}),
      });
      s.on('session', (data: Buffer) => {
        session = data;
      });
      s.once('secureConnect', () => {
        if (s.alpnProtocol !== tls.alpn) {
          s.destroy();
          finish(new UpstreamTlsError(`upstream did not accept ALPN ${tls.alpn}`));
          return;
        }
        finish(null, s);
      });
      socket = s;
    } else {
      socket = netConnect({
        host: target.address,
        port: target.port,
        noDelay: true,
        ...(target.lookup ? { lookup: target.lookup } : {}),
      });
      socket.once('connect', () => finish(null, socket));
    }
    options?.onSocket?.(socket);
    socket.setNoDelay(true);
    socket.setTimeout(target.connectTimeoutMs, () => {
      const err = Object.assign(new Error(`connect timeout after ${target.connectTimeoutMs} ms`), {
        code: 'UND_ERR_CONNECT_TIMEOUT',
      });
      socket.destroy(err);
      finish(err);
    });
    socket.once('error', (err) => {
      if (tls && (err as NodeJS.ErrnoException).code?.startsWith('ERR_TLS')) session = undefined;
      finish(err);
    });
  };
}

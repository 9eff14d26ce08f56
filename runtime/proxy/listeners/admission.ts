/**
 * The checks every inbound protocol (HTTP/1.1, HTTP/2, WebSocket) makes before a request
 * reaches the app: which app port it is for, STRICT mTLS refusing plaintext, then
 * AuthorizationPolicy with the verified peer identity. Each listener answers a refusal in its
 * own protocol.
 */
import type { ActiveConfig } from '../config.js';
import { appPortFor } from '../inbound-policy.js';

/** No app port for the request's Host (answer 404 `NR`). */
export const NO_APP_PORT = -1;
/** Plaintext to a STRICT port: close the connection without an HTTP response. */
export const PLAINTEXT_REFUSED = -2;
/** AuthorizationPolicy denies it (answer 403 `RBAC: access denied`). */
export const DENIED = -3;

/** What the listener learnt about the connection: verified peer, and the app port its SNI named. */
export interface InboundConnection {
  mtls: boolean;
  peerIdentity?: string;
  port?: number;
}

/**
 * The app port the request may go to, or {@link NO_APP_PORT}, {@link PLAINTEXT_REFUSED} or
 * {@link DENIED}. The port comes from the mesh SNI, else from the Host's port mapped through the
 * Services that select the workload.
 */
export function admitInbound(
  cfg: ActiveConfig,
  conn: InboundConnection,
  request: { readonly port?: number; readonly path: string; readonly authority: string },
  method: string,
  headers: Readonly<Record<string, string | undefined>>,
  sourceAddress: string | undefined,
): number {
  const inbound = cfg.inbound;
  const port = conn.port ?? appPortFor(inbound, request.port);
  if (port === undefined) return NO_APP_PORT;
  if (!conn.mtls && inbound.mtlsMode(port) === 'STRICT') return PLAINTEXT_REFUSED;
  if (!inbound.hasAuthorization) return port;
  const verdict = inbound.authorize({
    port,
    peerIdentity: conn.peerIdentity,
    method,
    path: request.path,
    host: request.authority,
    headers,
    sourceAddress,
  });
  return verdict.allowed ? port : DENIED;
}

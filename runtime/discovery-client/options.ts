import {
  CONTROL_PLANE_SERVICE_ACCOUNT,
  DEFAULT_ROOT_NAMESPACE,
  DEFAULT_TRUST_DOMAIN,
} from '../../lib/constants.js';

/** The workload the proxy runs beside, as it registers it. */
export interface ClientIdentity {
  namespace: string;
  serviceAccount: string;
  workload: string;
  pod: string;
  labels: Record<string, string>;
  /** The pod address peers connect to; must be the address the control plane sees. */
  address: string;
  ports: { name?: string; containerPort: number; protocol?: string }[];
  /** `gateway` for a standalone gateway proxy (lib/protocol RegisterMessage.mode). @default 'sidecar' */
  mode?: 'sidecar' | 'gateway';
}

export interface ControlPlaneSourcesOptions {
  /** `host:port` of the control plane's discovery port (15012). */
  address: string;
  /** The mesh roots (PEM each) the control plane's certificate must chain to. */
  trustBundlePem: string[];
  /** Bootstrap credential: a token from `tsmesh token`, or a projected service-account token. */
  token: string | (() => string | Promise<string>);
  identity: ClientIdentity;
  /** Source address of the connection (the control plane checks it equals `identity.address`). */
  localAddress?: string;
  /** @default 'cluster.local' */
  trustDomain?: string;
  /** The control plane's namespace (its SPIFFE id and Service DNS name). @default 'tsmesh-system' */
  controlPlaneNamespace?: string;
  /** The control plane's service account. @default 'tsmesh-control-plane' */
  controlPlaneServiceAccount?: string;
  /** The DNS name the control plane's certificate must carry (also sent as SNI). @default '<sa>.<ns>.svc' */
  controlPlaneServerName?: string;
  /** Protocol version to speak (tests use the previous one). @default PROTOCOL_VERSION */
  protocolVersion?: number;
  /** Rotate when this fraction of the lifetime has passed, before jitter. @default 0.5 */
  rotationFraction?: number;
  /** Jitter added to or removed from the rotation time, as a fraction of the lifetime. @default 0.05 */
  rotationJitter?: number;
  /** First reconnect delay; doubles up to `maxBackoffMs`, each jittered ±50 %. @default 200 */
  initialBackoffMs?: number;
  /** @default 15000 */
  maxBackoffMs?: number;
  /** Heartbeat interval; the connection is dropped after three missed answers. @default 10000 */
  heartbeatMs?: number;
  /** RSA modulus length of the generated key. @default 2048 */
  keyBits?: number;
  /** Where log lines go. @default console.error with a `[discovery]` prefix */
  log?: (line: string) => void;
}

export interface ClientDefaults {
  trustDomain: string;
  controlPlaneNamespace: string;
  controlPlaneServiceAccount: string;
  rotationFraction: number;
  rotationJitter: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  heartbeatMs: number;
  keyBits: number;
}

export const CLIENT_DEFAULTS: Readonly<ClientDefaults> = {
  trustDomain: DEFAULT_TRUST_DOMAIN,
  controlPlaneNamespace: DEFAULT_ROOT_NAMESPACE,
  controlPlaneServiceAccount: CONTROL_PLANE_SERVICE_ACCOUNT,
  rotationFraction: 0.5,
  rotationJitter: 0.05,
  initialBackoffMs: 200,
  maxBackoffMs: 15_000,
  heartbeatMs: 10_000,
  keyBits: 2048,
};

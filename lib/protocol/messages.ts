/**
 * The messages between a sidecar and the control plane (DESIGN.md §4). One long-lived TLS
 * connection per sidecar to port 15012 carries length-prefixed JSON frames (./framing.ts).
 *
 * Versions: the control plane serves PROTOCOL_VERSION and PREVIOUS_PROTOCOL_VERSION. Version 1
 * has no snapshot hash: its `snapshot` frames carry `version` and `body` only and its `ack`
 * frames `version` only. Version 2 adds `hash` to both, so a proxy can prove which content it
 * applied. Version 3 adds `delta` frames (only the resources that changed since the snapshot the
 * proxy ACKed last) and hashes snapshots as resources (./resources.ts); its full `snapshot` frames
 * have the version 2 shape with that hash.
 */
import type { MeshObject } from '../api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../model.js';
import type { ProxySnapshot } from '../snapshot.js';

export const PROTOCOL_VERSION = 3;
export const PREVIOUS_PROTOCOL_VERSION = 2;
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [PREVIOUS_PROTOCOL_VERSION, PROTOCOL_VERSION];

/** ALPN value of discovery connections; `http/1.1` on the same port is the admin API. */
export const DISCOVERY_ALPN = 'tsmesh-discovery';
export const ADMIN_ALPN = 'http/1.1';

/** No frame may exceed this many bytes (4 MiB unless the caller chooses otherwise). */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** The first frame from the proxy. */
export interface HelloMessage {
  type: 'hello';
  protocolVersion: number;
  tsmeshVersion: string;
  /**
   * The snapshot the proxy already holds (after a reconnect). While the control plane warms up
   * after a restart it withholds pushes to such proxies until registrations have settled.
   */
  resume?: { version: number; hash?: string };
}

/** The control plane's answer to `hello`: the version it will speak on this connection. */
export interface WelcomeMessage {
  type: 'welcome';
  protocolVersion: number;
  tsmeshVersion: string;
  /** The SPIFFE id the control plane saw in the client certificate, if any. */
  peerIdentity?: string;
}

/**
 * A certificate request. On a connection without a client certificate `token` is required (a
 * bootstrap token minted by the control plane, or in Kubernetes a projected service-account
 * token with audience `tsmesh-ca`). On an mTLS connection the identity comes from the client
 * certificate and the token may be omitted (rotation). The identity is never taken from the CSR.
 */
export interface CsrMessage {
  type: 'csr';
  /** Correlates the answer; echoed in `certificate` or `error`. */
  requestId: string;
  csrPem: string;
  token?: string;
}

export interface CertificateMessage {
  type: 'certificate';
  requestId: string;
  certPem: string;
  /** Intermediates between the leaf and a root (may be empty). */
  chainPem: string;
  /** Every root the mesh accepts, PEM each. */
  trustBundle: string[];
}

export interface RegisterPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

/** The workload a proxy runs beside; accepted only when it fits the connection and the config. */
export interface RegisterMessage {
  type: 'register';
  namespace: string;
  serviceAccount: string;
  workload: string;
  pod: string;
  labels: Record<string, string>;
  address: string;
  ports: RegisterPort[];
  /**
   * What runs in the pod: `sidecar` (default) beside an application, or `gateway`, a standalone
   * proxy (`tsmesh proxy --gateway`). A gateway's endpoints are not meshed: peers reach them on
   * their service's target port in plaintext (or the application's TLS), not with mesh mTLS on
   * 15006, and its snapshot is scoped as a gateway's (no Sidecar narrowing).
   */
  mode?: ProxyMode;
}

export type ProxyMode = 'sidecar' | 'gateway';
export const PROXY_MODES: readonly ProxyMode[] = ['sidecar', 'gateway'];

export interface RegisteredMessage {
  type: 'registered';
  /** The SPIFFE id the registration is bound to. */
  identity: string;
}

export interface SnapshotMessage {
  type: 'snapshot';
  version: number;
  /** sha256 hex of the canonical JSON of the body's proxy, objects and workloads (v2 only). */
  hash?: string;
  body: ProxySnapshot;
}

/**
 * Protocol version 3: the resources that changed since the snapshot `base` (the last one the proxy
 * ACKed). The proxy applies it to that snapshot; `hash` is the resulting snapshot's hash.
 */
export interface DeltaMessage {
  type: 'delta';
  version: number;
  hash: string;
  base: { version: number; hash: string };
  /** The snapshot schema of the result. */
  schema: string;
  createdAt: string;
  /** The proxy identity, when it changed. */
  proxy?: ProxyIdentity;
  /** Config objects added or changed. */
  objects?: MeshObject[];
  /** Workload instances added or changed. */
  workloads?: WorkloadInstance[];
  /** Keys (`kind/namespace/name`) of objects removed. */
  removedObjects?: string[];
  /** Keys (`namespace/name`) of workload instances removed. */
  removedWorkloads?: string[];
}

export interface AckMessage {
  type: 'ack';
  version: number;
  /** The hash the proxy computed itself (v2 only). */
  hash?: string;
}

export interface NackMessage {
  type: 'nack';
  version: number;
  error: string;
  /** v3: the proxy cannot apply deltas to what it holds; send it a whole snapshot. */
  resync?: boolean;
}

export interface PingMessage {
  type: 'ping';
  /** Milliseconds since the epoch at the sender. */
  at: number;
}

export interface PongMessage {
  type: 'pong';
  at: number;
}

/** A refusal. `fatal` errors are followed by the connection closing. */
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  requestId?: string;
  fatal?: boolean;
}

export type ErrorCode =
  | 'bad-frame'
  | 'unsupported-protocol'
  | 'unauthenticated'
  | 'permission-denied'
  | 'invalid-request'
  | 'not-registered'
  | 'internal';

/** Frames a proxy sends. */
export type ProxyMessage =
  | HelloMessage
  | CsrMessage
  | RegisterMessage
  | AckMessage
  | NackMessage
  | PingMessage;
/** Frames the control plane sends. */
export type ControlPlaneMessage =
  | WelcomeMessage
  | CertificateMessage
  | RegisteredMessage
  | SnapshotMessage
  | DeltaMessage
  | ErrorMessage
  | PongMessage
  | PingMessage;
export type Message = ProxyMessage | ControlPlaneMessage;

/**
 * The admin API's request and response bodies (JSON over HTTP on the control plane's Unix
 * socket, or on port 15012 with ALPN `http/1.1` for an admin identity). See docs/control-plane.md.
 */
import type { Diagnostic } from '../api/diagnostics.js';
import type { MeshObject } from '../api/types.js';
import type { WorkloadInstance } from '../model.js';

export interface TokenRequest {
  namespace: string;
  serviceAccount: string;
  /** Lifetime in seconds (default 7 days). */
  ttlSeconds?: number;
}
export interface TokenResponse {
  token: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** Trusted registration of an unmeshed pod (`meshed` must be false). */
export type WorkloadRegistration = Omit<WorkloadInstance, 'identity'>;

export interface ApplyRequest {
  /** Either objects or a multi-document YAML text. */
  objects?: MeshObject[];
  yaml?: string;
  /** Give up waiting for ACKs after this many milliseconds (default 10000). */
  timeoutMs?: number;
}
export type DeleteRequest = ApplyRequest;

/** What validation says, naming the object, the field path, the value and what is allowed. */
export type { Diagnostic };

export interface ApplyResponse {
  /** The configuration version that resulted. */
  configVersion: number;
  /** `Kind namespace/name` of each object created, changed or deleted. */
  changed: string[];
  /** Proxies that ACKed the resulting snapshot (pod names). */
  acked: string[];
  warnings: Diagnostic[];
}

export interface ErrorResponse {
  error: string;
  diagnostics?: Diagnostic[];
  /** For a NACK: which proxy refused and why. */
  nacks?: { proxy: string; version: number; error: string }[];
  /** For a timeout: which proxies had not answered. */
  pending?: string[];
}

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED';

export interface ProxyStatus {
  /** SPIFFE id from the client certificate. */
  identity: string;
  namespace: string;
  pod: string;
  workload: string;
  address: string;
  peerAddress: string;
  protocolVersion: number;
  tsmeshVersion: string;
  /** `sidecar` or `gateway`, as registered. */
  mode: 'sidecar' | 'gateway';
  /** Last snapshot version sent and the one acknowledged. */
  sentVersion?: number;
  ackedVersion?: number;
  hash?: string;
  state: SyncState;
  error?: string;
  connectedAt: string;
  certificate?: { serial: string; notAfter: string };
}

export interface StatusResponse {
  tsmeshVersion: string;
  protocolVersions: readonly number[];
  kubernetes: boolean;
  trustDomain: string;
  /** Increases on every accepted configuration change. */
  configVersion: number;
  configLoadedAt?: string;
  lastConfigError?: { at: string; message: string; diagnostics: Diagnostic[] };
  counts: {
    objects: number;
    proxies: number;
    synced: number;
    stale: number;
    nacked: number;
    workloads: number;
  };
  warmingUp: boolean;
  /** The process's memory in bytes (Node's process.memoryUsage()). */
  memory?: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}

export interface CertificateStatus {
  serial: string;
  identity: string;
  notBefore: string;
  notAfter: string;
  /** The pod it was issued to, when known. */
  pod?: string;
}

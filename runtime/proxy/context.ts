/**
 * What the listeners share with the proxy object: its options, the active configuration, the
 * workload certificate, telemetry, and drain state. Listeners read it; only the Proxy writes.
 */
import type { X509Certificate } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import type { ActiveConfig } from './config.js';
import type { Egress } from './egress/egress.js';
import type { ProxyOptions } from './options.js';
import type { CertificateBundle } from './sources.js';
import type { Telemetry } from './telemetry/index.js';

export interface CertificateState {
  bundle: CertificateBundle;
  secureContext: SecureContext;
  x509: X509Certificate;
}

export interface ProxyCounters {
  downstreamRequests: number;
  localReplies: Record<string, number>;
  hygieneRejections: number;
  inboundConnections: number;
  inboundMtlsConnections: number;
  inboundRefusedConnections: number;
  passthroughConnections: number;
  snapshotsApplied: number;
  snapshotsRejected: number;
  certificatesApplied: number;
}

export interface ProxyContext {
  readonly options: ProxyOptions;
  readonly telemetry: Telemetry;
  readonly counters: ProxyCounters;
  config(): ActiveConfig | undefined;
  certificate(): CertificateState | undefined;
  draining(): boolean;
  /** Passthrough and blackhole for hosts outside the registry (egress/egress.ts). */
  egress?: Egress;
}

export function newCounters(): ProxyCounters {
  return {
    downstreamRequests: 0,
    localReplies: {},
    hygieneRejections: 0,
    inboundConnections: 0,
    inboundMtlsConnections: 0,
    inboundRefusedConnections: 0,
    passthroughConnections: 0,
    snapshotsApplied: 0,
    snapshotsRejected: 0,
    certificatesApplied: 0,
  };
}

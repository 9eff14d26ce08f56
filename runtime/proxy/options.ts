/**
 * The proxy's options: one typed object, defaults merged in one literal, validated at start-up
 * with errors that name the option, the value and what is allowed.
 */
import { isIP } from 'node:net';
import { HEADERS, MESH_ALPN, PORTS } from '../../lib/constants.js';
import type { ProtocolOptionsInput } from './dispatch.js';
import type { EgressOptionsInput } from './egress/egress.js';
import type { GatewayOptionsInput } from './gateway/options.js';
import type { CertificateSource, SnapshotSource } from './sources.js';
import type { Telemetry } from './telemetry/index.js';
import type { ZipkinExporterInput } from './telemetry-export/zipkin.js';

export interface ProxyPorts {
  outbound: number;
  inbound: number;
  admin: number;
  stats: number;
  health: number;
}

/** A rewritten app probe: 15020 `/app-health/<name>/<kind>` answers by probing the app. */
export interface AppProbe {
  httpGet?: { path?: string; port: number; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number };
  timeoutSeconds?: number;
}

export interface ProxyOptions {
  snapshotSource: SnapshotSource;
  certificateSource: CertificateSource;
  /** Address for the outbound, inbound, stats and health listeners (the pod address). */
  address: string;
  /** Where the app listens (127.0.0.1, or the pod address when apps bind it). */
  appHost: string;
  /** 0 picks an ephemeral port (tests). */
  ports: ProxyPorts;
  /** Admin listener host: loopback only. Ignored when `adminSocket` is set. */
  adminHost: string;
  /** Serve admin on this Unix socket instead of TCP. */
  adminSocket?: string;
  /** How long a drain keeps the app's outbound calls working before the proxy stops. */
  drainSeconds: number;
  /**
   * Protocol between sidecars for HTTP ports: `tsmesh-http/1.1` (default, cheaper per request in
   * bench/mesh-alpn.bench.ts) or `tsmesh-h2` (one multiplexed session per peer).
   */
  meshAlpn: string;
  /** Most header lines per request (counted on the raw headers): more gets 431. */
  maxHeadersCount: number;
  /** Most bytes of request headers: more gets 431. */
  maxHeaderBytes: number;
  /** Request bodies up to this size are buffered so retries can replay them. */
  retryBufferBytes: number;
  /** Upper bound of a cluster's pending queue when the config says unlimited. */
  maxPendingRequestsCap: number;
  /** Idle keep-alive time of upstream connections when the config sets none. */
  upstreamIdleTimeoutMs: number;
  /** Keep-alive time of downstream connections. */
  downstreamIdleTimeoutMs: number;
  /** Mesh-internal headers the local app may set on outbound requests. */
  trustedAppHeaders: readonly string[];
  /** Port of peer sidecars' inbound listener (their 15006). */
  peerInboundPort: number;
  /**
   * Where to reach a meshed endpoint's sidecar, when not `<endpoint address>:peerInboundPort`
   * (tests and the no-root local mode run several sidecars on one host).
   */
  peerAddress?: (endpoint: {
    address: string;
    port: number;
    pod: string;
  }) => { address: string; port: number } | undefined;
  /** Rewritten app probes by path (`/app-health/<container>/<readyz|livez|startupz>` on 15020). */
  appProbes: Record<string, AppProbe>;
  /** Metrics, access log and tracing; created with defaults when absent. */
  telemetry?: Telemetry;
  /**
   * Access log on or off, fixed (the `--no-access-log` flag). When unset, each snapshot's
   * MeshConfig `accessLogging` decides, and the log is on when MeshConfig does not say.
   */
  accessLog?: boolean;
  /** [0, 1) random source: balancers, weighted routes, faults, backoff jitter (tests seed it). */
  random: () => number;
  /** Operational log lines (not the access log). */
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** TCP, HTTP/2 and capture settings (dispatch.ts); defaults when absent. */
  protocols?: ProtocolOptionsInput;
  /**
   * Export sampled spans as Zipkin v2 JSON to this collector (telemetry-export/zipkin.ts), fixed
   * (the `--trace-collector` flag). When unset, MeshConfig `tracingCollector` decides.
   */
  traceExport?: ZipkinExporterInput;
  /**
   * Run as a standalone gateway (`tsmesh proxy --gateway`): no capture listeners; listeners on
   * the ports of the Gateway servers that select the proxy's labels (gateway/listeners.ts).
   */
  gateway?: GatewayOptionsInput;
  /** DNS resolution and ALLOW_ANY passthrough (egress/egress.ts); defaults when absent. */
  egress?: EgressOptionsInput;
}

export const DEFAULT_PROXY_OPTIONS = {
  address: '0.0.0.0',
  appHost: '127.0.0.1',
  ports: {
    outbound: PORTS.outbound,
    inbound: PORTS.inbound,
    admin: PORTS.admin,
    stats: PORTS.stats,
    health: PORTS.health,
  },
  adminHost: '127.0.0.1',
  drainSeconds: 5,
  meshAlpn: MESH_ALPN.http11,
  maxHeadersCount: 100,
  maxHeaderBytes: 60 * 1024,
  retryBufferBytes: 64 * 1024,
  maxPendingRequestsCap: 4096,
  upstreamIdleTimeoutMs: 60_000,
  downstreamIdleTimeoutMs: 300_000,
  trustedAppHeaders: [HEADERS.upstreamTimeout],
  peerInboundPort: PORTS.inbound,
  appProbes: {},
  random: Math.random,
  log: (level: string, message: string) => {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message })}\n`);
  },
} satisfies Omit<ProxyOptions, 'snapshotSource' | 'certificateSource'>;

export type ProxyOptionsInput = Pick<ProxyOptions, 'snapshotSource' | 'certificateSource'> &
  Partial<Omit<ProxyOptions, 'ports'>> & { ports?: Partial<ProxyPorts> };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Merges defaults and validates; throws one error listing every problem. */
export function resolveProxyOptions(input: ProxyOptionsInput): ProxyOptions {
  const o = {
    ...DEFAULT_PROXY_OPTIONS,
    ...input,
    ports: { ...DEFAULT_PROXY_OPTIONS.ports, ...input.ports },
  } satisfies ProxyOptions;
  const problems: string[] = [];
  if (!o.snapshotSource || typeof o.snapshotSource.start !== 'function')
    problems.push('snapshotSource is required');
  if (!o.certificateSource || typeof o.certificateSource.start !== 'function') {
    problems.push('certificateSource is required');
  }
  if (isIP(o.address) === 0) problems.push(`address must be an IP address, got '${o.address}'`);
  if (o.appHost === '' || /[\s/]/.test(o.appHost))
    problems.push(`appHost must be a host name or address, got '${o.appHost}'`);
  for (const [name, port] of Object.entries(o.ports)) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      problems.push(`ports.${name} must be an integer in 0..65535, got ${port}`);
    }
  }
  if (!o.adminSocket && !isLoopback(o.adminHost)) {
    problems.push(`adminHost must be a loopback address (admin is never exposed), got '${o.adminHost}'`);
  }
  if (!(o.drainSeconds >= 0)) problems.push(`drainSeconds must be >= 0, got ${o.drainSeconds}`);
  if (o.meshAlpn !== MESH_ALPN.http11 && o.meshAlpn !== MESH_ALPN.h2) {
    problems.push(`meshAlpn must be '${MESH_ALPN.http11}' or '${MESH_ALPN.h2}', got '${o.meshAlpn}'`);
  }
  for (const key of [
    'maxHeadersCount',
    'maxHeaderBytes',
    'retryBufferBytes',
    'maxPendingRequestsCap',
  ] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1)
      problems.push(`${key} must be a positive integer, got ${o[key]}`);
  }
  if (problems.length > 0) throw new Error(`invalid proxy options:\n  - ${problems.join('\n  - ')}`);
  return o;
}

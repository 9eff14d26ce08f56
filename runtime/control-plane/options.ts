import { join } from 'node:path';
import { DEFAULT_ROOT_NAMESPACE, PORTS } from '../../lib/constants.js';
import type { ConfigLoader, ConfigValidator } from './config-store.js';
import type { TokenReviewer } from './token-review.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ControlPlaneOptions {
  /** Files and folders of mesh objects. */
  configPaths: string[];
  stateDir: string;
  /** @default 127.0.0.1:15012 */
  listen?: HostPort;
  /** `null` disables it. @default 127.0.0.1:15014 */
  monitoring?: HostPort | null;
  /** @default <stateDir>/control-plane.sock */
  adminSocket?: string;
  /** @default <stateDir>/ca */
  caDir?: string;
  /** CA from a Secret (never created), TokenReview bootstrap, admin apply refused. @default false */
  kubernetes?: boolean;
  /** The control plane's own namespace. @default tsmesh-system */
  namespace?: string;
  /** Overrides MeshConfig trustDomain. */
  trustDomain?: string;
  /** Workload certificate lifetime; overrides MeshConfig certificateTtl. */
  certTtlMs?: number;
  /** Extra admin identities as `namespace/serviceAccount`. */
  adminServiceAccounts?: string[];
  /** Checks projected service-account tokens (Kubernetes mode). */
  tokenReviewer?: TokenReviewer;
  /** Push once changes pause this long. @default 100 */
  debounceMs?: number;
  /** ...but at most this long after the first change of a burst. @default 1000 */
  debounceMaxMs?: number;
  /** Snapshot bytes sent and not yet answered, across proxies; more pushes wait. @default 64 MiB */
  maxInflightBytes?: number;
  /** How long a disconnected sidecar's endpoints stay. @default 30000 */
  graceMs?: number;
  /** How long restored registry entries wait for their sidecars after a restart. @default 60000 */
  warmupMs?: number;
  /** Reconnected proxies get no push until registrations pause this long after start. @default 2000 */
  settleMs?: number;
  /** Default wait for ACKs in apply. @default 10000 */
  applyTimeoutMs?: number;
  /** @default 4 MiB */
  maxFrameBytes?: number;
  /** Drop a discovery connection silent for this long. @default 45000 */
  idleTimeoutMs?: number;
  /** How often the config paths are polled besides fs.watch. @default 2000 */
  configPollMs?: number;
  /**
   * Service virtual IPs (`namespace/name` → address) filled into Services that declare no
   * clusterIP, as an API server would assign them. @default none
   */
  serviceAddresses?: Readonly<Record<string, string>>;
  load?: ConfigLoader;
  validate?: ConfigValidator;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export const DEFAULT_CERT_TTL_MS = 24 * 3600_000;

export function withDefaults(o: ControlPlaneOptions) {
  return {
    listen: { host: '127.0.0.1', port: PORTS.controlPlane },
    monitoring: { host: '127.0.0.1', port: PORTS.controlPlaneMonitoring } as HostPort | null,
    adminSocket: join(o.stateDir, 'control-plane.sock'),
    caDir: join(o.stateDir, 'ca'),
    kubernetes: false,
    namespace: DEFAULT_ROOT_NAMESPACE,
    adminServiceAccounts: [] as string[],
    debounceMs: 100,
    debounceMaxMs: 1000,
    maxInflightBytes: 64 * 1024 * 1024,
    graceMs: 30_000,
    warmupMs: 60_000,
    settleMs: 2000,
    applyTimeoutMs: 10_000,
    maxFrameBytes: 4 * 1024 * 1024,
    idleTimeoutMs: 45_000,
    configPollMs: 2000,
    log: (level: string, message: string) => process.stderr.write(`[control-plane] ${level}: ${message}\n`),
    ...stripUndefined(o),
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Parses `HOST:PORT` (`[::1]:15012` for IPv6). */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new Error(`${what}: expected HOST:PORT (for example 127.0.0.1:15012), got ${JSON.stringify(text)}`);
  return { host: m[1] ?? m[2], port };
}

/**
 * `tsmesh proxy`: builds a SidecarProxy from flags and environment (lib/constants.ts ENV names),
 * runs it, and turns signals into a drain: SIGTERM drains for `--drain-seconds` then exits;
 * SIGINT stops at once; `POST /quitquitquit` on the admin port stops too.
 */
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect, isIP } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { ENV, PORTS } from '../../lib/constants.js';
import { FileCertificateSource, FileSnapshotSource } from './file-sources.js';
import { type GatewayOptionsInput, parsePortMap, resolveGatewayOptions } from './gateway/options.js';
import { startHeapPacer } from './heap-pacer.js';
import { type AppProbe, DEFAULT_PROXY_OPTIONS, type ProxyOptionsInput } from './options.js';
import { SidecarProxy } from './proxy.js';
import type { CertificateSource, SnapshotSource } from './sources.js';
import { parseTcpListeners } from './tcp/listeners.js';
import { resolveZipkinOptions } from './telemetry-export/zipkin.js';

export interface ProxyCliOptions {
  snapshot?: string;
  /** Protocol to peer sidecars for HTTP ports (options.ts meshAlpn). */
  meshAlpn?: string;
  certDir?: string;
  controlPlane?: string;
  trustBundle?: string;
  tokenFile?: string;
  address?: string;
  appHost?: string;
  adminSocket?: string;
  drainSeconds?: string;
  outboundPort?: string;
  inboundPort?: string;
  adminPort?: string;
  statsPort?: string;
  healthPort?: string;
  accessLog?: boolean;
  /** MB the old generation may hold above the last full collection's before the proxy starts one (heap-pacer.ts); '0' = off. */
  heapSlack?: string;
  /** Gateway mode (gateway/options.ts). */
  gateway?: boolean;
  credentialDir?: string;
  portOffset?: string;
  portMap?: string;
  /** Zipkin collector URL for span export (telemetry-export/zipkin.ts). */
  traceCollector?: string;
  /** Explicit TCP listeners, `LOCAL_PORT=HOST:PORT[,...]` (tcp/listeners.ts). */
  tcpListener?: string;
}

export class UsageError extends Error {}

type Env = Record<string, string | undefined>;

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} must be a port number (0..65535), got '${value}'`);
  return n;
}

function jsonEnv<T>(env: Env, name: string, fallback: T): T {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UsageError(`environment ${name} is not valid JSON: ${(err as Error).message}`);
  }
}

function required(env: Env, name: string, flag: string): string {
  const v = env[name];
  if (!v) throw new UsageError(`${flag} needs the environment variable ${name}`);
  return v;
}

/** PEM text from a value that is either PEM itself or a file path. */
function pemOrFile(value: string, what: string): string[] {
  const text = value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certs.length === 0) throw new UsageError(`${what}: no PEM certificate found`);
  return certs;
}

/** Builds the proxy's options; throws UsageError naming the flag or variable that is wrong. */
export async function proxyOptionsFromCli(
  o: ProxyCliOptions,
  env: Env = process.env,
  log: ProxyOptionsInput['log'] = undefined,
): Promise<{ options: ProxyOptionsInput; close: () => Promise<void> }> {
  const controlPlane = o.controlPlane ?? env[ENV.controlPlane];
  const fileMode = o.snapshot !== undefined || o.certDir !== undefined;
  if (fileMode && o.controlPlane)
    throw new UsageError('use either --snapshot/--cert-dir or --control-plane, not both');
  if (fileMode && (!o.snapshot || !o.certDir))
    throw new UsageError('file mode needs both --snapshot FILE and --cert-dir DIR');
  if (!fileMode && !controlPlane) {
    throw new UsageError(
      `no configuration source: give --snapshot FILE --cert-dir DIR, or --control-plane HOST:PORT (or ${ENV.controlPlane})`,
    );
  }
  const address = o.address ?? '0.0.0.0';
  if (isIP(address) === 0) throw new UsageError(`--address must be an IP address, got '${address}'`);
  const drainText = o.drainSeconds ?? env[ENV.drainSeconds];
  const drainSeconds = drainText === undefined ? 5 : Number(drainText);
  if (!(drainSeconds >= 0)) throw new UsageError(`--drain-seconds must be a number >= 0, got '${drainText}'`);
  const appProbes = jsonEnv<Record<string, AppProbe>>(env, ENV.appProbers, {});

  let snapshotSource: SnapshotSource;
  let certificateSource: CertificateSource;
  let close: () => Promise<void> = async () => undefined;
  if (fileMode) {
    snapshotSource = new FileSnapshotSource(o.snapshot!, { log });
    certificateSource = new FileCertificateSource(o.certDir!, { log });
  } else {
    const trustBundle = o.trustBundle ?? env[ENV.trustBundle];
    if (!trustBundle)
      throw new UsageError(
        `--control-plane needs the trust bundle: --trust-bundle FILE or ${ENV.trustBundle}`,
      );
    const tokenFile = o.tokenFile ?? env[ENV.tokenFile];
    const tokenValue = env[ENV.bootstrapToken];
    if (!tokenFile && !tokenValue) {
      throw new UsageError(
        `--control-plane needs a bootstrap credential: --token-file FILE, ${ENV.tokenFile} or ${ENV.bootstrapToken}`,
      );
    }
    const podIp =
      address !== '0.0.0.0' ? address : required(env, ENV.podIp, '--control-plane without --address');
    const namespace = required(env, ENV.namespace, '--control-plane');
    const serviceAccount = required(env, ENV.serviceAccount, '--control-plane');
    const pod = required(env, ENV.podName, '--control-plane');
    const labels = jsonEnv<Record<string, string>>(env, ENV.podLabels, {});
    const ports = jsonEnv<{ name?: string; containerPort: number; protocol?: string }[]>(
      env,
      ENV.podPorts,
      [],
    );
    const { createControlPlaneSources } = await import('../discovery-client/index.js');
    const sources = createControlPlaneSources({
      address: controlPlane!,
      trustBundlePem: pemOrFile(trustBundle, 'trust bundle'),
      token: tokenFile ? () => readFileSync(tokenFile, 'utf8').trim() : tokenValue!,
      identity: {
        namespace,
        serviceAccount,
        workload: env[ENV.workload] ?? pod,
        pod,
        labels,
        address: podIp,
        ports,
        ...(o.gateway ? { mode: 'gateway' as const } : {}),
      },
      localAddress: podIp,
      ...(env[ENV.trustDomain] ? { trustDomain: env[ENV.trustDomain] } : {}),
      ...(log ? { log: (line: string) => log('info', line) } : {}),
    });
    snapshotSource = sources.snapshots;
    certificateSource = sources.certificates;
    close = () => sources.close();
  }
  const options: ProxyOptionsInput = {
    snapshotSource,
    certificateSource,
    address,
    appHost: o.appHost ?? '127.0.0.1',
    drainSeconds,
    appProbes,
    // Only an explicit --no-access-log is fixed; otherwise MeshConfig accessLogging decides.
    ...(o.accessLog === false ? { accessLog: false } : {}),
    ...(o.meshAlpn !== undefined ? { meshAlpn: o.meshAlpn } : {}),
    ports: {
      outbound: port('outbound-port', o.outboundPort, PORTS.outbound),
      inbound: port('inbound-port', o.inboundPort, PORTS.inbound),
      admin: port('admin-port', o.adminPort, PORTS.admin),
      stats: port('stats-port', o.statsPort, PORTS.stats),
      health: port('health-port', o.healthPort, PORTS.health),
    },
  };
  if (o.gateway) options.gateway = gatewayOptionsFromCli(o);
  else if (o.credentialDir || o.portOffset || o.portMap)
    throw new UsageError('--credential-dir, --port-offset and --port-map need --gateway');
  if (o.traceCollector !== undefined) {
    try {
      options.traceExport = resolveZipkinOptions({ endpoint: o.traceCollector });
    } catch (err) {
      throw new UsageError(`--trace-collector: ${(err as Error).message}`);
    }
  }
  if (o.tcpListener !== undefined) {
    try {
      options.protocols = { tcpListeners: parseTcpListeners(o.tcpListener) };
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const adminSocket = o.adminSocket ?? env[ENV.adminSocket];
  if (adminSocket) options.adminSocket = adminSocket;
  if (log) options.log = log;
  return { options, close };
}

function gatewayOptionsFromCli(o: ProxyCliOptions): GatewayOptionsInput {
  const gateway: GatewayOptionsInput = {};
  if (o.credentialDir !== undefined) gateway.credentialDir = o.credentialDir;
  if (o.portOffset !== undefined) {
    const n = Number(o.portOffset);
    if (!/^[0-9]{1,5}$/.test(o.portOffset) || n > 65535)
      throw new UsageError(`--port-offset must be an integer in 0..65535, got '${o.portOffset}'`);
    gateway.portOffset = n;
  }
  if (o.portMap !== undefined) {
    try {
      gateway.portMap = parsePortMap(o.portMap);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  try {
    resolveGatewayOptions(gateway);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return gateway;
}

/**
 * V8 flags the proxy process sets for itself (flags that take effect at run time; the young
 * generation's size cannot, and comes from NODE_OPTIONS, lib/constants.ts PROXY_PROCESS_ENV).
 * - `--no-parallel-scavenge`: a sidecar's live young objects are ~200 KB per scavenge; copying
 *   them on helper threads costs more in synchronisation than it saves, most of all on one CPU.
 * - `--heap-growing-percent=30`: after a full collection the old generation may grow 30 % over
 *   what survived before the next one (V8's default lets a small heap grow about fourfold). Under
 *   load a proxy's requests are sometimes promoted wholesale; they then die in the old
 *   generation, which grew to 45–53 MB between collections with ~11 MB live.
 * - `--no-sparkplug`: no baseline machine code next to the bytecode and the optimized code of
 *   the hot path: −2 MB per sidecar, CPU per request unchanged in the harness.
 * - `--no-allocation-site-pretenuring`: V8 otherwise starts allocating the objects of a site
 *   straight in the old generation once enough of them survive; under load that fed on itself
 *   (old objects keep the young ones they point to alive until the next full collection, so
 *   those survive and get pretenured too), and a sidecar would flip into promoting ~530 KB per
 *   scavenge instead of ~15 KB, with a full collection every half second and 5 MB more heap.
 * See docs/telemetry.md, "Memory".
 */
export const PROXY_V8_FLAGS: readonly string[] = [
  '--no-parallel-scavenge',
  '--heap-growing-percent=30',
  '--no-sparkplug',
  '--no-allocation-site-pretenuring',
];

/** `--heap-slack`: MB ≥ 0 (0 turns the pacer off); 3 when absent. */
export function heapSlackMb(value: string | undefined): number {
  if (value === undefined) return 3;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1024)
    throw new UsageError(
      `--heap-slack must be a number of MB from 0 to 1024 (0 turns it off), got '${value}'`,
    );
  return n;
}

/** Runs the proxy until a signal or /quitquitquit; returns the exit code. */
export async function runProxy(o: ProxyCliOptions): Promise<number> {
  for (const flag of PROXY_V8_FLAGS) setFlagsFromString(flag);
  let built: Awaited<ReturnType<typeof proxyOptionsFromCli>>;
  let proxy: SidecarProxy;
  try {
    const slackMb = heapSlackMb(o.heapSlack);
    if (slackMb > 0) startHeapPacer({ slackMb });
    built = await proxyOptionsFromCli(o, process.env, DEFAULT_PROXY_OPTIONS.log);
    proxy = new SidecarProxy(built.options);
    if (proxy.options.adminSocket) await removeStaleSocket(proxy.options.adminSocket);
    await proxy.start();
  } catch (err) {
    process.stderr.write(`tsmesh proxy: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  const p = proxy.ports();
  proxy.options.log(
    'info',
    `proxy started on ${proxy.options.address}: outbound ${p.outbound}, inbound ${p.inbound}, stats ${p.stats}, health ${p.health}, admin ${proxy.options.adminSocket ?? `${proxy.options.adminHost}:${p.admin}`}`,
  );
  if (o.gateway) {
    const logPorts = () => {
      const bound = proxy.gatewayPorts();
      if (bound.length > 0)
        proxy.options.log(
          'info',
          `gateway listeners: ${bound.map((g) => `${g.protocol} ${g.port} → ${proxy.options.address}:${g.localPort} (${g.hosts.join(', ')})`).join('; ')}`,
        );
    };
    setTimeout(logPorts, 2000).unref();
  }
  const onTerm = () => {
    proxy.options.log('info', `SIGTERM: draining for ${proxy.options.drainSeconds} s`);
    void proxy.shutdown();
  };
  const onInt = () => void proxy.stop();
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  await proxy.stopped();
  await proxy.stop();
  await built.close().catch(() => undefined);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  return 0;
}

/** Removes a socket file a crashed proxy left behind; refuses one another process serves. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    if (!statSync(path).isSocket()) return;
  } catch {
    return;
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new Error(`admin socket ${path} is in use by another process`);
  unlinkSync(path);
}

/**
 * The sidecar proxy: `new SidecarProxy(options)` builds one from a snapshot source and a certificate
 * source; `start()` binds its listeners; `shutdown()` drains and stops. No global state, so a
 * test can run a client and a server sidecar in one process.
 *
 * @example
 * const proxy = new SidecarProxy({ snapshotSource, certificateSource, ports: { outbound: 0, inbound: 0, admin: 0, stats: 0, health: 0 } });
 * await proxy.start();
 * console.log(proxy.ports()); // the bound ports
 * await proxy.shutdown();
 */
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { UNLIMITED } from '../../lib/routing/policies.js';
import type { Cluster } from '../../lib/routing/types.js';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import { type ActiveConfig, buildActiveConfig, checkSnapshot, retireClusters } from './config.js';
import { type CertificateState, newCounters, type ProxyContext } from './context.js';
import { ProtocolDispatch } from './dispatch.js';
import { Egress } from './egress/egress.js';
import { GatewayListeners, type GatewayPortInfo } from './gateway/listeners.js';
import { createAdminServer } from './listeners/admin.js';
import { createHealthServer, createStatsServer } from './listeners/health.js';
import { createInboundListener, type InboundListener, rejectMalformed } from './listeners/inbound.js';
import { createOutboundHandler } from './listeners/outbound.js';
import { type MeshTelemetrySettings, meshTelemetrySettings } from './mesh-telemetry.js';
import {
  type ProxyOptions,
  type ProxyOptionsInput,
  type ProxyPorts,
  resolveProxyOptions,
} from './options.js';
import type { CertificateBundle } from './sources.js';
import { createTelemetry, type Telemetry } from './telemetry/index.js';
import { ZipkinExporter } from './telemetry-export/zipkin.js';
import { certificateValidAt, checkPeerCertificate, meshSecureContext } from './tls/certs.js';
import { type ClusterEnvironment, UpstreamCluster } from './upstream/cluster.js';

export type ProxyState = 'new' | 'running' | 'draining' | 'stopped';

export class SidecarProxy {
  readonly options: ProxyOptions;
  readonly telemetry: Telemetry;
  private readonly ctx: ProxyContext;
  private readonly counters = newCounters();
  private active: ActiveConfig | undefined;
  private cert: CertificateState | undefined;
  private state: ProxyState = 'new';
  private readonly env: ClusterEnvironment;
  private readonly appClusters = new Map<number, UpstreamCluster>();
  private outbound: Server | undefined;
  /** TCP, HTTP/2 and capture dispatch (dispatch.ts). */
  readonly protocols: ProtocolDispatch;
  private outboundFront: NetServer | undefined;
  private inbound: InboundListener | undefined;
  private admin: Server | undefined;
  private stats: Server | undefined;
  private health: Server | undefined;
  private applyChain: Promise<void> = Promise.resolve();
  private quitResolvers: (() => void)[] = [];
  private stopping: Promise<void> | undefined;
  /** Gateway mode (`options.gateway`): Gateway server listeners instead of capture listeners. */
  private readonly gateway: GatewayListeners | undefined;
  /** Zipkin span export (`options.traceExport`, else MeshConfig `tracingCollector`). */
  private exporter: ZipkinExporter | undefined;
  /** What telemetry falls back to when MeshConfig does not set a field. */
  private readonly telemetryDefaults: { accessLog: boolean; sampling: number };

  constructor(options: ProxyOptionsInput) {
    this.options = resolveProxyOptions(options);
    this.exporter = this.options.traceExport
      ? this.newExporter(this.options.traceExport.endpoint)
      : undefined;
    this.telemetry =
      this.options.telemetry ??
      createTelemetry({
        accessLog: { enabled: this.options.accessLog ?? true },
        tracing: { onSpan: (span) => this.exporter?.onSpan(span) },
      });
    this.telemetryDefaults = {
      accessLog: this.telemetry.accessLog.enabled,
      sampling: this.telemetry.tracer.sampling,
    };
    this.ctx = {
      options: this.options,
      telemetry: this.telemetry,
      counters: this.counters,
      config: () => this.active,
      certificate: () => this.cert,
      draining: () => this.state === 'draining',
      egress: new Egress(this.options.egress, {
        alpn: this.options.meshAlpn,
        maxPendingRequestsCap: this.options.maxPendingRequestsCap,
        defaultIdleTimeoutMs: this.options.upstreamIdleTimeoutMs,
      }),
    };
    this.protocols = new ProtocolDispatch(this.ctx, this.options.protocols);
    this.gateway = this.options.gateway ? new GatewayListeners(this.ctx, this.options.gateway) : undefined;
    const peer = this.options.peerAddress;
    this.env = {
      secureContext: () => this.cert?.secureContext,
      alpn: this.options.meshAlpn,
      maxPendingRequestsCap: this.options.maxPendingRequestsCap,
      defaultIdleTimeoutMs: this.options.upstreamIdleTimeoutMs,
      peerInboundPort: this.options.peerInboundPort,
      peerAddressOverride: peer ? (ep) => peer(ep) : undefined,
      lookup: this.ctx.egress?.dns.lookup,
      events: {
        retry: (key) => this.telemetry.counters.retries.inc(key),
        retryOverflow: (key) => this.telemetry.counters.retryOverflows.inc(key),
        overflow: (key) => this.telemetry.counters.overflows.inc(key),
        ejection: (key) => this.telemetry.counters.ejections.inc(key),
      },
    };
  }

  /** Ready: a valid certificate, a first applied snapshot, and not draining. */
  isReady(): boolean {
    return (
      this.state === 'running' &&
      this.active !== undefined &&
      this.cert !== undefined &&
      certificateValidAt(this.cert.bundle)
    );
  }

  get status(): ProxyState {
    return this.state;
  }

  /** The active snapshot's version, or undefined before the first one. */
  get snapshotVersion(): number | undefined {
    return this.active?.snapshot.version;
  }

  /** Binds every listener and starts the sources. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`proxy already ${this.state}`);
    const o = this.options;
    const outbound = createHttpServer(
      {
        maxHeaderSize: o.maxHeaderBytes,
        insecureHTTPParser: false,
        requestTimeout: 0,
        keepAliveTimeout: o.downstreamIdleTimeoutMs,
      },
      createOutboundHandler(this.ctx),
    );
    outbound.maxHeadersCount = o.maxHeadersCount + 1;
    outbound.on('clientError', (err: NodeJS.ErrnoException, socket) => rejectMalformed(err, socket));
    outbound.on('upgrade', (req, socket, head) => this.protocols.upgradeOutbound(req, socket, head));
    this.outbound = outbound;
    this.inbound = createInboundListener(this.ctx, {
      appCluster: (port) => this.appCluster(port),
      meshConnection: (alpn, socket, conn) => this.protocols.meshConnection(alpn, socket, conn),
      plaintextConnection: (socket, first) => this.protocols.plaintextConnection(socket, first),
      upgrade: (req, socket, head, conn) => this.protocols.upgradeInbound(req, socket, head, conn),
    });
    this.outboundFront = this.protocols.outboundFront(outbound);
    const ready = () => this.isReady();
    this.health = createHealthServer(ready);
    this.stats = createStatsServer(this.ctx, ready);
    this.admin = createAdminServer(this.ctx, {
      ready,
      drain: () => this.drain(),
      quit: () => void this.stop(),
      appClusters: () => this.appClusters.values(),
    });
    try {
      if (this.gateway) this.gateway.start(o.address);
      else {
        await listen(this.outboundFront, o.ports.outbound, o.address);
        await this.protocols.start();
        await listen(this.inbound.server, o.ports.inbound, o.address);
      }
      await listen(this.stats, o.ports.stats, o.address);
      await listen(this.health, o.ports.health, o.address);
      if (o.adminSocket) await listenPath(this.admin, o.adminSocket);
      else await listen(this.admin, o.ports.admin, o.adminHost);
    } catch (err) {
      await this.closeServers();
      throw err;
    }
    this.state = 'running';
    o.certificateSource.start((bundle) => this.applyCertificate(bundle));
    o.snapshotSource.start((snapshot) => this.applySnapshot(snapshot));
  }

  /** Bound ports (useful with ephemeral ports). The admin port is 0 on a Unix socket. */
  ports(): ProxyPorts {
    const port = (s: NetServer | undefined) => {
      const a = s?.address();
      return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
    };
    return {
      outbound: port(this.outboundFront),
      inbound: port(this.inbound?.server),
      admin: port(this.admin),
      stats: port(this.stats),
      health: port(this.health),
    };
  }

  /** The service name spans carry, as Istio names it: `<canonical service>.<namespace>`. */
  private spanServiceName(): string {
    const f = this.active?.localFacts;
    return f ? `${f.canonicalService}.${f.namespace}` : 'unknown';
  }

  /** The current Zipkin exporter, if spans are exported. */
  get traceExporter(): ZipkinExporter | undefined {
    return this.exporter;
  }

  private newExporter(endpoint: string): ZipkinExporter {
    return new ZipkinExporter({
      serviceName: () => this.spanServiceName(),
      ...this.options.traceExport,
      endpoint,
    });
  }

  /**
   * Applies MeshConfig telemetry settings. Precedence: an explicit proxy option (command-line
   * flag) over MeshConfig over the built-in default.
   */
  private applyMeshTelemetry(mesh: MeshTelemetrySettings): void {
    if (this.options.accessLog === undefined)
      this.telemetry.accessLog.setEnabled(mesh.accessLogging ?? this.telemetryDefaults.accessLog);
    this.telemetry.tracer.setSampling(mesh.traceSampling ?? this.telemetryDefaults.sampling);
    if (this.options.traceExport || this.options.telemetry) return;
    const endpoint = mesh.tracingCollector;
    if (endpoint === this.exporter?.options.endpoint) return;
    const old = this.exporter;
    this.exporter = endpoint === undefined ? undefined : this.newExporter(endpoint);
    void old?.close();
  }

  /** Gateway mode: the bound Gateway server listeners (empty for a sidecar). */
  gatewayPorts(): GatewayPortInfo[] {
    return this.gateway?.ports() ?? [];
  }

  /** Applies a snapshot; throws (so the source NACKs) and keeps the last good one when unusable. */
  applySnapshot(snapshot: ProxySnapshot): Promise<void> {
    const run = async () => {
      try {
        // A gateway compiles the gateway-mode route table (VirtualServices bound to its Gateways).
        const own = this.gateway
          ? { ...snapshot, proxy: { ...snapshot.proxy, mode: 'gateway' as const } }
          : snapshot;
        checkSnapshot(own);
        const mesh = meshTelemetrySettings(own.objects);
        const next = buildActiveConfig(own, this.active, this.env);
        const prev = this.active;
        this.active = next;
        this.applyMeshTelemetry(mesh);
        await this.gateway?.reconcile(next);
        this.counters.snapshotsApplied++;
        await retireClusters(prev, next);
      } catch (err) {
        this.counters.snapshotsRejected++;
        const message = `snapshot version ${snapshot?.version} rejected, keeping ${this.active ? `version ${this.active.snapshot.version}` : 'no config'}: ${(err as Error).message}`;
        this.options.log('warn', message);
        throw new Error(message);
      }
    };
    const p = this.applyChain.then(run, run);
    this.applyChain = p.catch(() => undefined);
    return p;
  }

  /** Applies a certificate; throws and keeps the current one when it is unusable. */
  applyCertificate(bundle: CertificateBundle): void {
    try {
      const x509 = new X509Certificate(bundle.certPem);
      const check = checkPeerCertificate(x509);
      if (!check.ok) throw new Error(check.reason);
      if (check.spiffeId !== bundle.spiffeId)
        throw new Error(`SAN ${check.spiffeId} differs from ${bundle.spiffeId}`);
      if (bundle.trustBundlePem.length === 0) throw new Error('empty trust bundle');
      const secureContext = meshSecureContext(bundle);
      this.cert = { bundle, secureContext, x509 };
      this.counters.certificatesApplied++;
    } catch (err) {
      const message = `certificate rejected (${bundle?.spiffeId ?? 'unknown'}): ${(err as Error).message}`;
      this.options.log('warn', message);
      throw new Error(message);
    }
  }

  /**
   * Starts draining: not ready any more, inbound answers with `Connection: close` and idle
   * keep-alive connections close; the app's outbound calls keep working.
   */
  drain(): void {
    if (this.state !== 'running') return;
    this.state = 'draining';
    this.inbound?.drain();
    this.protocols.drain();
    this.options.log('info', 'draining: inbound connections close after their response');
  }

  /** Drains, keeps serving the app's outbound calls for `drainSeconds` (or until `stop()`), then stops. */
  async shutdown(drainSeconds = this.options.drainSeconds): Promise<void> {
    this.drain();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, drainSeconds * 1000);
      this.quitResolvers.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    await this.stop();
  }

  /** Resolves when the proxy has stopped (after `stop()`, `/quitquitquit` or `shutdown()`). */
  stopped(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.quitResolvers.push(resolve));
  }

  /** Stops at once: closes listeners, connections, pools and sources. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = 'stopped';
      for (const r of this.quitResolvers.splice(0)) r();
      await Promise.allSettled([this.options.snapshotSource.stop(), this.options.certificateSource.stop()]);
      await this.closeServers();
      const clusters = [...(this.active?.clusters.values() ?? []), ...this.appClusters.values()];
      await Promise.allSettled(clusters.map((c) => c.destroy()));
      await this.telemetry.close().catch(() => undefined);
      await this.traceExporter?.close();
    })();
    return this.stopping;
  }

  private async closeServers(): Promise<void> {
    await this.gateway?.close();
    await this.ctx.egress?.close();
    await this.protocols.close();
    this.inbound?.close();
    this.outbound?.closeAllConnections();
    this.admin?.closeAllConnections();
    this.stats?.closeAllConnections();
    this.health?.closeAllConnections();
    await Promise.all(
      [
        this.outboundFront,
        this.outbound,
        this.inbound?.server,
        this.inbound?.http,
        this.admin,
        this.stats,
        this.health,
      ].map((s) => new Promise<void>((resolve) => (s?.listening ? s.close(() => resolve()) : resolve()))),
    );
  }

  /** The local app on `port`, as a cluster (plaintext, no retries, unlimited pool). */
  private appCluster(port: number): UpstreamCluster {
    let c = this.appClusters.get(port);
    if (!c) {
      const cluster: Cluster = {
        key: `inbound|${port}||`,
        host: this.options.appHost,
        port,
        protocol: 'http',
        endpoints: [
          { address: this.options.appHost, port, meshed: false, labels: {}, pod: 'local-app', mtls: false },
        ],
        serverIdentities: [],
        loadBalancer: { kind: 'ROUND_ROBIN' },
        connectionPool: {
          maxConnections: UNLIMITED,
          connectTimeoutMs: 10_000,
          http1MaxPendingRequests: UNLIMITED,
          http2MaxRequests: UNLIMITED,
          maxRequestsPerConnection: 0,
          maxRetries: UNLIMITED,
          idleTimeoutMs: null,
        },
        tls: { mode: 'DISABLE' },
      };
      c = new UpstreamCluster(cluster, this.env);
      this.appClusters.set(port, c);
    }
    return c;
  }
}

function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function listenPath(server: NetServer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on Unix socket ${path}: ${err.message}`));
    server.once('error', onError);
    server.listen({ path, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

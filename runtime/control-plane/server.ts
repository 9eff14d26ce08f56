/**
 * The control plane process, built from explicit parts: the configuration store and its
 * watcher, the workload registry, the CA, the discovery server on 15012 (with the admin API for
 * admin identities on the same port, told apart by ALPN), the admin Unix socket and the
 * read-only monitoring port.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { parseDuration } from '../../lib/api/duration.js';
import type { MeshObject } from '../../lib/api/types.js';
import { CONTROL_PLANE_NAME, CONTROL_PLANE_SERVICE_ACCOUNT, TSMESH_VERSION } from '../../lib/constants.js';
import { spiffeId } from '../../lib/identity.js';
import { generateRsaKeyPair } from '../../lib/pki/index.js';
import type { CertificateStatus, ProxyStatus, StatusResponse, SyncState } from '../../lib/protocol/admin.js';
import {
  ADMIN_ALPN,
  DISCOVERY_ALPN,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '../../lib/protocol/messages.js';
import { type AdminBackend, type ApplyOutcome, createAdminHandler } from './admin-api.js';
import { type LoadedCa, loadCa } from './ca-store.js';
import { CertificateService } from './certificate-service.js';
import { loadConfigFiles, validateMeshObjects } from './config-files.js';
import { ConfigStore } from './config-store.js';
import { ConfigWatcher } from './config-watcher.js';
import { Discovery } from './discovery.js';
import { peerSpiffeId } from './identity-checks.js';
import { ControlPlaneMetrics } from './metrics.js';
import { type ControlPlaneOptions, DEFAULT_CERT_TTL_MS, withDefaults } from './options.js';
import { LocalRegistry } from './registry.js';
import { withServiceAddresses } from './service-addresses.js';
import { DiscoverySession } from './session.js';
import { meshFacts } from './snapshot-builder.js';
import { TokenIssuer } from './tokens.js';

export class ControlPlane implements AdminBackend {
  readonly options: ReturnType<typeof withDefaults>;
  readonly metrics = new ControlPlaneMetrics();
  config!: ConfigStore;
  registry!: LocalRegistry;
  ca!: LoadedCa;
  certService!: CertificateService;
  discovery!: Discovery;
  private tokens!: TokenIssuer;
  private watcher?: ConfigWatcher;
  private tlsServer?: TlsServer;
  private adminServer?: HttpServer;
  private tlsAdminServer?: HttpServer;
  private monitoringServer?: HttpServer;
  private servingRenewal?: NodeJS.Timeout;
  private readonly sessions = new Set<DiscoverySession>();
  private adminIdentities = new Set<string>();
  private closed = false;

  private constructor(options: ControlPlaneOptions) {
    this.options = withDefaults(options);
  }

  static async start(options: ControlPlaneOptions): Promise<ControlPlane> {
    const cp = new ControlPlane(options);
    try {
      await cp.init();
    } catch (err) {
      await cp.close();
      throw err;
    }
    return cp;
  }

  get trustDomain(): string {
    return meshFacts(this.config.objects, this.options.trustDomain).trustDomain;
  }

  get certTtlMs(): number {
    if (this.options.certTtlMs !== undefined) return this.options.certTtlMs;
    const mesh = this.config.objects.find((o) => o.kind === 'MeshConfig');
    const ttl = (mesh?.spec as { certificateTtl?: string } | undefined)?.certificateTtl;
    return ttl ? parseDuration(ttl) : DEFAULT_CERT_TTL_MS;
  }

  /** Where the servers listen (ports resolved when 0 was asked). */
  get addresses(): { discovery: AddressInfo; monitoring?: AddressInfo; adminSocket: string } {
    return {
      discovery: this.tlsServer!.address() as AddressInfo,
      ...(this.monitoringServer ? { monitoring: this.monitoringServer.address() as AddressInfo } : {}),
      adminSocket: this.options.adminSocket,
    };
  }

  private async init(): Promise<void> {
    const o = this.options;
    const log = o.log;
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    this.config = new ConfigStore({
      paths: o.configPaths,
      stateDir: o.stateDir,
      load: withServiceAddresses(o.load ?? loadConfigFiles, o.serviceAddresses),
      validate: o.validate ?? validateMeshObjects,
    });
    this.config.on('error', (e) => {
      this.metrics.configErrors++;
      log('error', `${e.message}; keeping configuration version ${this.config.version}`);
      for (const d of e.diagnostics.slice(0, 20)) {
        log('error', `  ${d.object ? `${d.object}: ` : ''}${d.path ? `${d.path}: ` : ''}${d.message}`);
      }
    });
    const first = await this.config.open();
    if (!first.ok) log('error', 'starting without a valid configuration; waiting for the files to be fixed');
    else log('info', `configuration version ${this.config.version}: ${this.config.objects.length} objects`);

    const trustDomain = this.trustDomain;
    this.ca = await loadCa({ dir: o.caDir, create: !o.kubernetes, trustDomain, namespace: o.namespace });
    if (this.ca.created) log('info', `created a new mesh CA in ${o.caDir}`);
    this.tokens = await TokenIssuer.open(o.stateDir);
    this.certService = new CertificateService(this.ca, this.metrics);
    this.adminIdentities = new Set([
      spiffeId(trustDomain, o.namespace, CONTROL_PLANE_SERVICE_ACCOUNT),
      ...o.adminServiceAccounts.map((nsSa) => {
        const [ns, sa] = nsSa.split('/');
        return spiffeId(trustDomain, ns, sa);
      }),
    ]);

    this.registry = new LocalRegistry({ stateDir: o.stateDir, graceMs: o.graceMs, warmupMs: o.warmupMs });
    await this.registry.open();
    this.discovery = new Discovery({
      config: this.config,
      registry: this.registry,
      sessions: this.sessions,
      metrics: this.metrics,
      debounceMs: o.debounceMs,
      debounceMaxMs: o.debounceMaxMs,
      maxInflightBytes: o.maxInflightBytes,
      settleMs: o.settleMs,
      trustDomain: () => this.trustDomain,
      issue: (session, csr) => this.issueForSession(session, csr),
      log,
    });
    this.config.on('change', () => this.discovery.changed());
    this.registry.on('change', () => this.discovery.changed());

    await this.startDiscovery();
    await this.startAdminSocket();
    if (o.monitoring) await this.startMonitoring(o.monitoring);
    this.watcher = new ConfigWatcher({
      paths: o.configPaths,
      pollMs: o.configPollMs,
      onChange: () => {
        void this.config.reload().then((r) => {
          if (r.ok && r.changed.length > 0)
            log('info', `configuration version ${r.version}: ${r.changed.length} object(s) changed`);
        });
      },
    });
    await this.watcher.start();
  }

  private async servingCertificate(): Promise<{ key: string; cert: string; notAfter: Date }> {
    const keys = await generateRsaKeyPair(2048);
    const ns = this.options.namespace;
    const issued = await this.ca.signer.issue({
      publicKeyPem: keys.publicKeyPem,
      spiffeId: spiffeId(this.trustDomain, ns, CONTROL_PLANE_SERVICE_ACCOUNT),
      dnsNames: [
        CONTROL_PLANE_NAME,
        `${CONTROL_PLANE_NAME}.${ns}`,
        `${CONTROL_PLANE_NAME}.${ns}.svc`,
        `${CONTROL_PLANE_NAME}.${ns}.svc.cluster.local`,
        'localhost',
      ],
      ttlMs: DEFAULT_CERT_TTL_MS,
    });
    return { key: keys.privateKeyPem, cert: issued.certPem + this.ca.caCertPem, notAfter: issued.notAfter };
  }

  private async startDiscovery(): Promise<void> {
    const serving = await this.servingCertificate();
    const contextOptions = (s: { key: string; cert: string }) => ({
      key: s.key,
      cert: s.cert,
      ca: this.ca.trustBundle,
      requestCert: true,
      rejectUnauthorized: false,
    });
    const server = createTlsServer({
      ...contextOptions(serving),
      ALPNProtocols: [DISCOVERY_ALPN, ADMIN_ALPN],
      minVersion: 'TLSv1.2',
    });
    this.tlsServer = server;
    const scheduleRenewal = (notAfter: Date): void => {
      const delay = Math.max(60_000, (notAfter.getTime() - Date.now()) / 2);
      this.servingRenewal = setTimeout(async () => {
        const next = await this.servingCertificate();
        server.setSecureContext(contextOptions(next));
        scheduleRenewal(next.notAfter);
      }, delay);
      this.servingRenewal.unref();
    };
    scheduleRenewal(serving.notAfter);

    const adminHandler = createAdminHandler(this);
    this.tlsAdminServer = createHttpServer((req, res) => {
      const peer = peerSpiffeId(req.socket as TLSSocket, this.trustDomain);
      if (!peer.id || !this.adminIdentities.has(peer.id)) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ error: `admin calls need an admin identity; got ${peer.id ?? peer.error ?? 'no client certificate'}` })}\n`,
        );
        return;
      }
      void adminHandler(req, res);
    });

    server.on('secureConnection', (socket: TLSSocket) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      if (socket.alpnProtocol === ADMIN_ALPN) {
        this.tlsAdminServer!.emit('connection', socket);
        return;
      }
      const peer = peerSpiffeId(socket, this.trustDomain);
      const session = new DiscoverySession(socket, peer.id, this.discovery, {
        maxFrameBytes: this.options.maxFrameBytes,
        idleTimeoutMs: this.options.idleTimeoutMs,
      });
      if (peer.error) {
        session.fail('unauthenticated', peer.error);
        return;
      }
      const cert = socket.getPeerCertificate();
      if (peer.id && cert?.serialNumber) {
        session.certificate = { serial: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.valid_to) };
      }
      this.sessions.add(session);
    });
    server.on('tlsClientError', () => {});
    const { host, port } = this.options.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.options.log('info', `discovery and CA on ${host}:${(server.address() as AddressInfo).port}`);
  }

  private async issueForSession(session: DiscoverySession, csr: { csrPem: string; token?: string }) {
    let identity: { namespace: string; serviceAccount: string };
    if (session.spiffeId) {
      const parts = session.spiffeId.split('/');
      identity = { namespace: parts[4], serviceAccount: parts[6] };
    } else {
      identity = await this.authenticateToken(csr.token);
    }
    const issued = await this.certService.issue({
      csrPem: csr.csrPem,
      identity: spiffeId(this.trustDomain, identity.namespace, identity.serviceAccount),
      ttlMs: this.certTtlMs,
      ...(session.instance ? { pod: `${session.instance.namespace}/${session.instance.name}` } : {}),
    });
    if (session.spiffeId) session.certificate = { serial: issued.serial, notAfter: issued.notAfter };
    return issued;
  }

  private async authenticateToken(
    token: string | undefined,
  ): Promise<{ namespace: string; serviceAccount: string }> {
    if (!token)
      throw Object.assign(new Error('csr: a bootstrap token is required without a client certificate'), {
        code: 'unauthenticated',
      });
    try {
      if (token.startsWith('tsm1.')) return this.tokens.verify(token);
      if (this.options.tokenReviewer) return await this.options.tokenReviewer.review(token);
      throw new Error(
        'not a tsmesh bootstrap token (service-account tokens are accepted only with --kubernetes)',
      );
    } catch (err) {
      throw Object.assign(new Error(`csr: ${(err as Error).message}`), { code: 'unauthenticated' });
    }
  }

  private async startAdminSocket(): Promise<void> {
    const path = this.options.adminSocket;
    await rm(path, { force: true });
    const server = createHttpServer(createAdminHandler(this));
    this.adminServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, readableAll: false, writableAll: false }, () => resolve());
    });
    await chmod(path, 0o600);
  }

  private async startMonitoring(where: { host: string; port: number }): Promise<void> {
    const server = createHttpServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (path === '/metrics') {
        const counts = this.stateCounts();
        const body = this.metrics.render({
          configVersion: this.config.version,
          proxies: counts,
          workloads: this.registry.list().length,
        });
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
      } else if (path === '/status') {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(`${JSON.stringify(this.status(), null, 1)}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /status\n');
      }
    });
    this.monitoringServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where.port, where.host, () => resolve());
    });
  }

  private stateCounts(): Record<SyncState, number> {
    const counts: Record<SyncState, number> = { SYNCED: 0, STALE: 0, NACKED: 0 };
    for (const s of this.sessions) if (s.instance) counts[s.state]++;
    return counts;
  }

  // ------------------------------------------------------------------ AdminBackend

  mintToken(namespace: string, serviceAccount: string, ttlSeconds?: number) {
    const { token, expiresAt } = this.tokens.mint({ namespace, serviceAccount }, ttlSeconds);
    return { token, expiresAt: expiresAt.toISOString() };
  }

  registerWorkload(instance: Parameters<AdminBackend['registerWorkload']>[0]): void {
    this.registry.upsert(instance, 'trusted');
  }

  deleteWorkload(namespace: string, name: string): boolean {
    return this.registry.remove(namespace, name);
  }

  async apply(objects: MeshObject[], mode: 'apply' | 'delete', timeoutMs?: number): Promise<ApplyOutcome> {
    if (this.options.kubernetes) {
      return {
        status: 403,
        body: {
          error:
            'in Kubernetes the tsmesh-config ConfigMap is the source of truth: change your mesh code, run `npx cdk8s synth` and `kubectl apply --server-side -f dist/` (GitOps)',
        },
      };
    }
    const result = mode === 'apply' ? await this.config.apply(objects) : await this.config.delete(objects);
    if (!result.ok) {
      return {
        status: 400,
        body: { error: 'invalid configuration; nothing was changed', diagnostics: result.diagnostics },
      };
    }
    const warnings = result.diagnostics.filter((d) => d.severity === 'warning');
    if (result.changed.length === 0) {
      return { status: 200, body: { configVersion: result.version, changed: [], acked: [], warnings } };
    }
    const sync = await this.discovery.waitForSync(
      this.discovery.generation,
      timeoutMs ?? this.options.applyTimeoutMs,
    );
    if (sync.nacks.length > 0) {
      return {
        status: 409,
        body: { error: `${sync.nacks.length} proxy(ies) refused the new configuration`, nacks: sync.nacks },
      };
    }
    if (sync.pending.length > 0) {
      return {
        status: 504,
        body: {
          error: `no answer from ${sync.pending.length} proxy(ies) in time; the change is stored`,
          pending: sync.pending,
        },
      };
    }
    return {
      status: 200,
      body: { configVersion: result.version, changed: result.changed, acked: sync.acked, warnings },
    };
  }

  proxies(): ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const s of this.sessions) {
      if (!s.instance || !s.spiffeId) continue;
      const p: ProxyStatus = {
        identity: s.spiffeId,
        namespace: s.instance.namespace,
        pod: s.instance.name,
        workload: s.instance.workload,
        address: s.instance.address,
        peerAddress: s.peerAddress,
        protocolVersion: s.protocolVersion,
        tsmeshVersion: s.tsmeshVersion,
        mode: s.proxy?.mode ?? 'sidecar',
        state: s.state,
        connectedAt: s.connectedAt.toISOString(),
      };
      if (s.sentVersion !== undefined) p.sentVersion = s.sentVersion;
      if (s.ackedVersion !== undefined) p.ackedVersion = s.ackedVersion;
      if (s.sentHash) p.hash = s.sentHash;
      if (s.state === 'NACKED' && s.nackError) p.error = s.nackError;
      if (s.certificate)
        p.certificate = { serial: s.certificate.serial, notAfter: s.certificate.notAfter.toISOString() };
      out.push(p);
    }
    return out.sort((a, b) => (`${a.namespace}/${a.pod}` < `${b.namespace}/${b.pod}` ? -1 : 1));
  }

  status(): StatusResponse {
    const counts = this.stateCounts();
    const out: StatusResponse = {
      tsmeshVersion: TSMESH_VERSION,
      protocolVersions: SUPPORTED_PROTOCOL_VERSIONS,
      kubernetes: this.options.kubernetes,
      trustDomain: this.trustDomain,
      configVersion: this.config.version,
      counts: {
        objects: this.config.objects.length,
        proxies: counts.SYNCED + counts.STALE + counts.NACKED,
        synced: counts.SYNCED,
        stale: counts.STALE,
        nacked: counts.NACKED,
        workloads: this.registry.list().length,
      },
      warmingUp: this.registry.warmingUp || this.discovery.settling,
      memory: process.memoryUsage(),
    };
    if (this.config.loadedAt) out.configLoadedAt = this.config.loadedAt;
    if (this.config.lastError) out.lastConfigError = this.config.lastError;
    return out;
  }

  certificates(): CertificateStatus[] {
    return this.certService.list();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.servingRenewal);
    this.watcher?.close();
    this.discovery?.close();
    for (const s of this.sessions) s.socket.destroy();
    const closeServer = (s?: { close(cb: () => void): unknown }) =>
      new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    this.tlsAdminServer?.closeAllConnections();
    this.adminServer?.closeAllConnections();
    this.monitoringServer?.closeAllConnections();
    await Promise.all([
      closeServer(this.tlsServer),
      closeServer(this.adminServer),
      closeServer(this.monitoringServer),
    ]);
    await this.registry?.close();
  }
}

export { PROTOCOL_VERSION };

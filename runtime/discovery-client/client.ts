/**
 * The proxy's side of the control plane: obtains and rotates the workload certificate, registers
 * the workload, receives snapshots and answers each with ACK or NACK. It keeps serving the last
 * good snapshot and the current certificate while the control plane is away, reconnects with
 * jittered exponential backoff, and resynchronizes when it returns.
 */
import { randomUUID } from 'node:crypto';
import { TSMESH_VERSION } from '../../lib/constants.js';
import { spiffeId } from '../../lib/identity.js';
import { createCsr, describeCertificate, generateRsaKeyPair } from '../../lib/pki/index.js';
import type {
  CertificateMessage,
  ControlPlaneMessage,
  DeltaMessage,
  SnapshotMessage,
  WelcomeMessage,
} from '../../lib/protocol/messages.js';
import { PREVIOUS_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/protocol/messages.js';
import { type HeldSnapshot, receiveSnapshot } from '../../lib/protocol/resources.js';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import type { CertificateBundle } from '../proxy/sources.js';
import { ControlPlaneConnection } from './connection.js';
import { CLIENT_DEFAULTS, type ClientDefaults, type ControlPlaneSourcesOptions } from './options.js';

type SnapshotListener = (snapshot: ProxySnapshot) => void | Promise<void>;
type CertificateListener = (bundle: CertificateBundle) => void | Promise<void>;

export interface ClientStatus {
  connected: boolean;
  registered: boolean;
  lastError?: string;
  snapshotVersion?: number;
  snapshotHash?: string;
  certificateSerial?: string;
  certificateNotAfter?: string;
  rotations: number;
  reconnects: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

function sleep(ms: number, signal: { cancelled: boolean; wake?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

export class ControlPlaneClient {
  private readonly o: ControlPlaneSourcesOptions & ClientDefaults & { protocolVersion: number };
  private readonly host: string;
  private readonly port: number;
  private readonly serverName: string;
  private readonly serverId: string;
  private readonly expectedId: string;
  private trustBundle: string[];
  private bundle?: CertificateBundle;
  private held?: HeldSnapshot;
  private snapshotListeners: SnapshotListener[] = [];
  private certificateListeners: CertificateListener[] = [];
  private connection?: ControlPlaneConnection;
  private loop?: Promise<void>;
  private readonly stopSignal: { cancelled: boolean; wake?: () => void } = { cancelled: false };
  private rotationTimer?: NodeJS.Timeout;
  private bundleReceivedAt = 0;
  private rotationFractionNow = 0.5;
  private rotating?: Promise<void>;
  private snapshotQueue: Promise<void> = Promise.resolve();
  private pendingSnapshot?: {
    msg: SnapshotMessage | DeltaMessage;
    conn: ControlPlaneConnection;
    protocolVersion: number;
  };
  /** The version offered in hello: the configured one, or the previous one after a refusal. */
  private speaking: number;
  readonly stats: ClientStatus = { connected: false, registered: false, rotations: 0, reconnects: 0 };

  constructor(options: ControlPlaneSourcesOptions) {
    this.o = {
      ...CLIENT_DEFAULTS,
      protocolVersion: PROTOCOL_VERSION,
      log: (l: string) => process.stderr.write(`[discovery] ${l}\n`),
      ...stripUndefined(options),
    };
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(options.address);
    if (!m)
      throw new Error(`control plane address: expected host:port, got ${JSON.stringify(options.address)}`);
    this.speaking = this.o.protocolVersion;
    this.host = m[1] ?? m[2];
    this.port = Number(m[3]);
    if (options.trustBundlePem.length === 0)
      throw new Error('trustBundlePem: at least one root certificate is required');
    this.trustBundle = [...options.trustBundlePem];
    const ns = this.o.controlPlaneNamespace;
    const sa = this.o.controlPlaneServiceAccount;
    this.serverName = this.o.controlPlaneServerName ?? `${sa}.${ns}.svc`;
    this.serverId = spiffeId(this.o.trustDomain, ns, sa);
    this.expectedId = spiffeId(
      this.o.trustDomain,
      options.identity.namespace,
      options.identity.serviceAccount,
    );
  }

  // ------------------------------------------------------------------ sources

  onSnapshot(listener: SnapshotListener): void {
    this.snapshotListeners.push(listener);
    if (this.held) {
      const held = this.held;
      void this.enqueue(async () => listener(held.snapshot));
    }
    if (this.pendingSnapshot) {
      const p = this.pendingSnapshot;
      this.pendingSnapshot = undefined;
      void this.enqueue(() => this.applySnapshot(p.msg, p.conn, p.protocolVersion));
    }
    this.ensureRunning();
  }

  onCertificate(listener: CertificateListener): void {
    this.certificateListeners.push(listener);
    if (this.bundle)
      void Promise.resolve(listener(this.bundle)).catch((e) =>
        this.o.log!(`certificate listener failed: ${e}`),
      );
    this.ensureRunning();
  }

  get currentSnapshot(): ProxySnapshot | undefined {
    return this.held?.snapshot;
  }

  private get snapshot(): ProxySnapshot | undefined {
    return this.held?.snapshot;
  }

  get currentCertificate(): CertificateBundle | undefined {
    return this.bundle;
  }

  private ensureRunning(): void {
    this.loop ??= this.run();
  }

  async close(): Promise<void> {
    this.stopSignal.cancelled = true;
    this.stopSignal.wake?.();
    clearTimeout(this.rotationTimer);
    this.connection?.close();
    await this.loop;
    await this.snapshotQueue;
  }

  // ------------------------------------------------------------------ connection loop

  private async run(): Promise<void> {
    let backoff = this.o.initialBackoffMs;
    while (!this.stopSignal.cancelled) {
      try {
        if (!this.bundle || this.bundle.notAfter.getTime() <= Date.now() + 5000) await this.bootstrap();
        if (this.stopSignal.cancelled) break;
        await this.session(() => {
          backoff = this.o.initialBackoffMs;
        });
      } catch (err) {
        this.stats.lastError = (err as Error).message;
        if (this.stopSignal.cancelled) break;
        const kept = this.snapshot ? `; serving last config version ${this.snapshot.version}` : '';
        this.o.log!(`cannot reach control plane at ${this.o.address} (${(err as Error).message})${kept}`);
      }
      if (this.stopSignal.cancelled) break;
      this.stats.reconnects++;
      const delay = backoff * (0.5 + Math.random());
      backoff = Math.min(this.o.maxBackoffMs, backoff * 2);
      await sleep(delay, this.stopSignal);
    }
  }

  private async token(): Promise<string> {
    const t = this.o.token;
    return typeof t === 'function' ? await t() : t;
  }

  /** Obtains the first certificate over server-authenticated TLS with the bootstrap token. */
  private async bootstrap(): Promise<void> {
    const keys = await generateRsaKeyPair(this.o.keyBits);
    const csrPem = await createCsr(keys);
    const conn = await this.open(undefined);
    try {
      await this.hello(conn, false);
      const cert = await this.requestCertificate(conn, csrPem, await this.token());
      await this.installCertificate(cert, keys.privateKeyPem);
    } finally {
      conn.close();
    }
  }

  private open(clientCert: CertificateBundle | undefined): Promise<ControlPlaneConnection> {
    return ControlPlaneConnection.open({
      host: this.host,
      port: this.port,
      trustBundlePem: this.trustBundle,
      serverName: this.serverName,
      expectedServerId: this.serverId,
      ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}),
      ...(clientCert ? { clientCert } : {}),
    });
  }

  /** Says hello; returns the protocol version the control plane chose for this connection. */
  private async hello(conn: ControlPlaneConnection, resume: boolean): Promise<number> {
    const version = this.speaking;
    conn.send({
      type: 'hello',
      protocolVersion: version,
      tsmeshVersion: TSMESH_VERSION,
      ...(resume && this.snapshot
        ? { resume: { version: this.snapshot.version, hash: this.snapshot.hash } }
        : {}),
    });
    const welcome = await conn.waitFor<WelcomeMessage>(
      (m) =>
        m.type === 'welcome'
          ? m
          : m.type === 'error' && m.fatal
            ? this.refusedHello(version, m.code, m.message)
            : undefined,
      REQUEST_TIMEOUT_MS,
      'welcome',
    );
    return Math.min(welcome.protocolVersion, version);
  }

  /**
   * A control plane that does not speak our version yet (an upgrade that reached the proxies
   * first): the next connection offers the previous version, which it serves.
   */
  private refusedHello(version: number, code: string, message: string): Error {
    if (code === 'unsupported-protocol' && version > PREVIOUS_PROTOCOL_VERSION) {
      this.speaking = PREVIOUS_PROTOCOL_VERSION;
      this.o.log!(`control plane does not speak protocol ${version}; offering ${PREVIOUS_PROTOCOL_VERSION}`);
    }
    return new Error(`control plane refused hello: ${message}`);
  }

  private async requestCertificate(
    conn: ControlPlaneConnection,
    csrPem: string,
    token?: string,
  ): Promise<CertificateMessage> {
    const requestId = randomUUID();
    const answer = conn.waitFor<CertificateMessage>(
      (m) =>
        m.type === 'certificate' && m.requestId === requestId
          ? m
          : m.type === 'error' && (m.requestId === requestId || m.fatal)
            ? new Error(`certificate refused: ${m.message}`)
            : undefined,
      REQUEST_TIMEOUT_MS,
      'certificate',
    );
    conn.send({ type: 'csr', requestId, csrPem, ...(token ? { token } : {}) });
    return answer;
  }

  private async installCertificate(msg: CertificateMessage, keyPem: string): Promise<void> {
    const info = describeCertificate(msg.certPem);
    if (info.uris.length !== 1 || info.uris[0] !== this.expectedId) {
      throw new Error(
        `the control plane issued a certificate for ${info.uris.join(', ')}, expected ${this.expectedId}`,
      );
    }
    if (msg.trustBundle.length > 0) this.trustBundle = [...msg.trustBundle];
    this.bundleReceivedAt = Date.now();
    this.bundle = {
      certPem: msg.certPem,
      chainPem: msg.chainPem,
      keyPem,
      trustBundlePem: [...this.trustBundle],
      spiffeId: info.uris[0],
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      serial: info.serial,
    };
    this.stats.certificateSerial = info.serial;
    this.stats.certificateNotAfter = info.notAfter.toISOString();
    this.scheduleRotation();
    for (const l of this.certificateListeners) {
      try {
        await l(this.bundle);
      } catch (err) {
        this.o.log!(`certificate listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * The lifetime that counts for rotation starts when the certificate arrived: NotBefore is set a
   * minute back for clock skew, and counting from it would rotate a short-lived certificate at once.
   */
  private rotationDue(): number {
    const b = this.bundle!;
    const start = Math.max(b.notBefore.getTime(), this.bundleReceivedAt);
    return start + (b.notAfter.getTime() - start) * this.rotationFractionNow;
  }

  private scheduleRotation(): void {
    clearTimeout(this.rotationTimer);
    this.rotationFractionNow = this.o.rotationFraction + (Math.random() * 2 - 1) * this.o.rotationJitter;
    this.rotationTimer = setTimeout(() => void this.rotate(), Math.max(0, this.rotationDue() - Date.now()));
    this.rotationTimer.unref();
  }

  /** Rotates over the open mTLS connection; without one the next connection takes care of it. */
  private rotate(): Promise<void> {
    this.rotating ??= (async () => {
      const conn = this.connection;
      try {
        if (!conn || conn.closed) throw new Error('not connected');
        const keys = await generateRsaKeyPair(this.o.keyBits);
        const csrPem = await createCsr(keys);
        const cert = await this.requestCertificate(conn, csrPem);
        await this.installCertificate(cert, keys.privateKeyPem);
        this.stats.rotations++;
        this.o.log!(
          `rotated certificate; serial ${this.bundle!.serial}, valid until ${this.bundle!.notAfter.toISOString()}`,
        );
      } catch (err) {
        this.o.log!(`certificate rotation failed (${(err as Error).message}); retrying`);
        clearTimeout(this.rotationTimer);
        const left = this.bundle ? this.bundle.notAfter.getTime() - Date.now() : 0;
        this.rotationTimer = setTimeout(() => void this.rotate(), Math.max(500, Math.min(5000, left / 10)));
        this.rotationTimer.unref();
      } finally {
        this.rotating = undefined;
      }
    })();
    return this.rotating;
  }

  /** One mTLS connection: register, then answer snapshots until it closes. */
  private async session(onRegistered: () => void): Promise<void> {
    const conn = await this.open(this.bundle);
    this.connection = conn;
    this.stats.connected = true;
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const closed = new Promise<Error | undefined>((resolve) => conn.once('close', resolve));
      // Frames after welcome are read with the version it named; the first push follows register.
      let protocolVersion = this.o.protocolVersion;
      conn.on('message', (m) => this.onMessage(conn, m, protocolVersion));
      protocolVersion = await this.hello(conn, true);
      const id = this.o.identity;
      conn.send({
        type: 'register',
        namespace: id.namespace,
        serviceAccount: id.serviceAccount,
        workload: id.workload,
        pod: id.pod,
        labels: id.labels,
        address: id.address,
        ports: id.ports,
        ...(id.mode === 'gateway' ? { mode: 'gateway' as const } : {}),
      });
      await conn.waitFor(
        (m) =>
          m.type === 'registered'
            ? m
            : m.type === 'error'
              ? new Error(`registration refused: ${m.message}`)
              : undefined,
        REQUEST_TIMEOUT_MS,
        'registration answer',
      );
      this.stats.registered = true;
      this.stats.lastError = undefined;
      onRegistered();
      // A certificate that passed its rotation time while disconnected rotates now.
      if (Date.now() >= this.rotationDue()) void this.rotate();
      let lastHeard = Date.now();
      conn.on('message', () => {
        lastHeard = Date.now();
      });
      heartbeat = setInterval(() => {
        if (Date.now() - lastHeard > this.o.heartbeatMs * 3)
          conn.close(new Error('control plane stopped answering heartbeats'));
        else conn.send({ type: 'ping', at: Date.now() });
      }, this.o.heartbeatMs);
      const err = await closed;
      if (!this.stopSignal.cancelled) throw err ?? new Error('connection closed by the control plane');
    } finally {
      clearInterval(heartbeat);
      this.stats.connected = false;
      this.stats.registered = false;
      if (this.connection === conn) this.connection = undefined;
      conn.close();
    }
  }

  private onMessage(conn: ControlPlaneConnection, m: ControlPlaneMessage, protocolVersion: number): void {
    if (m.type === 'snapshot' || m.type === 'delta') {
      void this.enqueue(() => this.applySnapshot(m, conn, protocolVersion));
    } else if (m.type === 'ping') {
      conn.send({ type: 'ping', at: m.at });
    } else if (m.type === 'error' && !m.requestId) {
      this.o.log!(`control plane: ${m.message}`);
      if (m.fatal) conn.close(new Error(m.message));
    }
  }

  private enqueue(task: () => Promise<void> | void): Promise<void> {
    this.snapshotQueue = this.snapshotQueue
      .then(task)
      .catch((err) => this.o.log!(`snapshot handling failed: ${err}`));
    return this.snapshotQueue;
  }

  /**
   * Checks and applies one snapshot or delta (lib/protocol/resources.ts), hands the result to the
   * listeners, then ACKs it; NACKs it and keeps the last good one otherwise.
   */
  private async applySnapshot(
    msg: SnapshotMessage | DeltaMessage,
    conn: ControlPlaneConnection,
    protocolVersion: number,
  ): Promise<void> {
    const nack = (error: string, resync = false): void => {
      this.o.log!(
        `refused snapshot ${msg.version}: ${error}; keeping version ${this.snapshot?.version ?? 'none'}`,
      );
      conn.send({
        type: 'nack',
        version: msg.version,
        error,
        ...(resync && protocolVersion >= 3 ? { resync } : {}),
      });
    };
    const received = receiveSnapshot(this.held, msg, protocolVersion);
    if (!received.ok) {
      nack(received.error, received.resync);
      return;
    }
    if (this.snapshotListeners.length === 0) {
      this.pendingSnapshot = { msg, conn, protocolVersion };
      return;
    }
    try {
      for (const l of this.snapshotListeners) await l(received.held.snapshot);
    } catch (err) {
      nack((err as Error).message);
      return;
    }
    this.held = received.held;
    this.stats.snapshotVersion = msg.version;
    if (received.hash) this.stats.snapshotHash = received.hash;
    conn.send({ type: 'ack', version: msg.version, ...(received.hash ? { hash: received.hash } : {}) });
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

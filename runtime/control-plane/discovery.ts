/**
 * The discovery protocol on the control plane's side: version negotiation, certificate requests,
 * registrations, and pushes. Pushes are debounced and coalesced: a burst of changes produces one
 * round, and a proxy gets a snapshot only when its own scoped content changed.
 */
import { TSMESH_VERSION } from '../../lib/constants.js';
import type { ProxyIdentity, WorkloadInstance } from '../../lib/model.js';
import type { CsrMessage, ProxyMessage, RegisterMessage } from '../../lib/protocol/messages.js';
import { PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../../lib/protocol/messages.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import type { IssuedForWorkload } from './certificate-service.js';
import type { ConfigStore } from './config-store.js';
import { registrationProblem } from './identity-checks.js';
import type { ControlPlaneMetrics } from './metrics.js';
import type { WorkloadRegistry } from './registry.js';
import type { DiscoverySession, SessionHandler } from './session.js';
import { type BuiltSnapshot, SnapshotBuilder, SnapshotCache } from './snapshot-builder.js';

export interface DiscoveryOptions {
  config: ConfigStore;
  registry: WorkloadRegistry;
  sessions: Set<DiscoverySession>;
  metrics: ControlPlaneMetrics;
  debounceMs: number;
  debounceMaxMs: number;
  maxInflightBytes: number;
  settleMs: number;
  trustDomain: () => string;
  issue: (session: DiscoverySession, csr: CsrMessage) => Promise<IssuedForWorkload>;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface SyncResult {
  acked: string[];
  nacks: { proxy: string; version: number; error: string }[];
  pending: string[];
}

interface Waiter {
  generation: number;
  resolve: (r: SyncResult) => void;
  timer: NodeJS.Timeout;
}

const podOf = (s: DiscoverySession): string =>
  s.instance ? `${s.instance.namespace}/${s.instance.name}` : s.peerAddress;

/** Proxies pushed to per event-loop turn. */
const PUSH_BATCH = 50;

export class Discovery implements SessionHandler {
  /** Increases on every configuration or registry change. */
  generation = 1;
  private pushedGeneration = 0;
  private pendingChangeAt = 0;
  private timer?: NodeJS.Timeout;
  private settleTimer?: NodeJS.Timeout;
  private settleUntil: number;
  private readonly settleHardLimit: number;
  /** Versions keep increasing across restarts: microseconds since the epoch at start, plus one per push. */
  private versionCounter = Date.now() * 1000;
  private builder?: SnapshotBuilder;
  private readonly cache = new SnapshotCache();
  private inflightBytes = 0;
  private readonly waiting = new Set<DiscoverySession>();
  private lastChangeAt = 0;
  private waiters = new Set<Waiter>();
  /** The next batches of push rounds in progress. */
  private readonly pushing = new Set<NodeJS.Immediate>();
  private waitersCheck?: NodeJS.Immediate;

  constructor(private readonly o: DiscoveryOptions) {
    const now = Date.now();
    this.settleUntil = now + o.settleMs;
    this.settleHardLimit = now + Math.max(o.settleMs, 30_000);
  }

  get settling(): boolean {
    return Date.now() < this.settleUntil;
  }

  // ------------------------------------------------------------------ messages

  onMessage(session: DiscoverySession, message: ProxyMessage): void | Promise<void> {
    switch (message.type) {
      case 'hello':
        return this.onHello(
          session,
          message.protocolVersion,
          message.tsmeshVersion,
          message.resume !== undefined,
        );
      case 'csr':
        return this.onCsr(session, message);
      case 'register':
        return this.onRegister(session, message);
      case 'ack':
        return this.onAck(session, message.version, message.hash);
      case 'nack':
        return this.onNack(session, message.version, message.error, message.resync === true);
      case 'ping':
        session.send({ type: 'pong', at: message.at });
        return;
    }
  }

  private onHello(session: DiscoverySession, version: number, tsmeshVersion: string, resumed: boolean): void {
    if (session.protocolVersion !== 0) {
      session.send({
        type: 'error',
        code: 'invalid-request',
        message: 'hello was already received on this connection',
      });
      return;
    }
    if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      session.fail(
        'unsupported-protocol',
        `protocol version ${version} is not served; this control plane (tsmesh ${TSMESH_VERSION}) speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(' and ')}`,
      );
      return;
    }
    session.protocolVersion = version;
    session.tsmeshVersion = tsmeshVersion;
    session.resumed = resumed;
    session.send({
      type: 'welcome',
      protocolVersion: version,
      tsmeshVersion: TSMESH_VERSION,
      ...(session.spiffeId ? { peerIdentity: session.spiffeId } : {}),
    });
  }

  private async onCsr(session: DiscoverySession, csr: CsrMessage): Promise<void> {
    try {
      const issued = await this.o.issue(session, csr);
      session.send({
        type: 'certificate',
        requestId: csr.requestId,
        certPem: issued.certPem,
        chainPem: issued.chainPem,
        trustBundle: issued.trustBundle,
      });
    } catch (err) {
      this.o.metrics.csrRejected++;
      const code =
        (err as { code?: string }).code === 'invalid-request' ? 'invalid-request' : 'unauthenticated';
      this.o.log(
        'warn',
        `refused a certificate request from ${session.peerAddress}: ${(err as Error).message}`,
      );
      session.send({ type: 'error', code, message: (err as Error).message, requestId: csr.requestId });
    }
  }

  private onRegister(session: DiscoverySession, reg: RegisterMessage): void {
    if (!session.spiffeId) {
      this.o.metrics.registrationsRejected++;
      session.send({
        type: 'error',
        code: 'unauthenticated',
        message: 'register needs a client certificate: obtain one with csr, then reconnect with it',
      });
      return;
    }
    if (
      session.instance &&
      (session.instance.namespace !== reg.namespace || session.instance.name !== reg.pod)
    ) {
      session.send({
        type: 'error',
        code: 'invalid-request',
        message: 'a connection registers one pod; reconnect to register another',
      });
      return;
    }
    const problem = registrationProblem(reg, {
      spiffeId: session.spiffeId,
      peerAddress: session.peerAddress,
      objects: this.o.config.objects,
    });
    if (problem) {
      this.o.metrics.registrationsRejected++;
      this.o.log(
        'warn',
        `refused registration of ${reg.namespace}/${reg.pod} from ${session.peerAddress}: ${problem}`,
      );
      session.send({ type: 'error', code: 'permission-denied', message: problem });
      return;
    }
    const instance: WorkloadInstance = {
      name: reg.pod,
      namespace: reg.namespace,
      workload: reg.workload,
      serviceAccount: reg.serviceAccount,
      labels: reg.labels,
      address: reg.address,
      ports: reg.ports,
      // A gateway is no sidecar: peers reach it on the target port without mesh mTLS.
      meshed: reg.mode !== 'gateway',
      identity: session.spiffeId,
    };
    const proxy: ProxyIdentity = {
      namespace: reg.namespace,
      workload: reg.workload,
      serviceAccount: reg.serviceAccount,
      labels: reg.labels,
      pod: reg.pod,
      ...(reg.mode === 'gateway' ? { mode: 'gateway' as const } : {}),
    };
    session.instance = instance;
    session.proxy = proxy;
    session.send({ type: 'registered', identity: session.spiffeId });
    // A new or returning proxy needs its snapshot even when nothing else changed.
    session.sentContentKey = undefined;
    if (this.settling && session.resumed) this.extendSettle();
    this.o.registry.upsert(instance, 'proxy', session);
    this.changed();
  }

  private onAck(session: DiscoverySession, version: number, hash: string | undefined): void {
    if (version !== session.sentVersion) return; // an answer to an older push
    if (session.protocolVersion >= 2 && hash !== session.sentHash) {
      this.onNack(
        session,
        version,
        `hash mismatch: proxy computed ${hash}, control plane sent ${session.sentHash}`,
      );
      return;
    }
    session.ackedVersion = version;
    session.ackedHash = session.sentHash;
    if (session.sentContent) session.held = { ...session.sentContent, version, hash: session.sentHash! };
    session.nackError = undefined;
    this.o.metrics.pushLatency.observe((Date.now() - session.sentChangeAt) / 1000);
    this.pushIfPending(session);
    this.checkWaiters();
  }

  private onNack(session: DiscoverySession, version: number, error: string, resync = false): void {
    if (version !== session.sentVersion) return;
    session.nackError = error;
    session.nackedVersion = version;
    this.o.metrics.nacks++;
    this.o.log('warn', `${podOf(session)} refused snapshot ${version}: ${error}`);
    if (resync) {
      // The proxy cannot apply deltas to what it holds: send it the whole snapshot at once.
      session.held = undefined;
      session.sentContentKey = undefined;
      session.pushPending = true;
    }
    this.pushIfPending(session);
    this.checkWaiters();
  }

  onClose(session: DiscoverySession): void {
    this.o.sessions.delete(session);
    this.waiting.delete(session);
    this.release(session);
    if (session.instance) this.o.registry.release(session.instance.namespace, session.instance.name, session);
    this.checkWaiters();
  }

  // ------------------------------------------------------------------ pushes

  /** Something the snapshots depend on changed: push within the debounce window. */
  changed(): void {
    this.generation++;
    this.builder = undefined;
    const now = Date.now();
    if (this.pendingChangeAt === 0) this.pendingChangeAt = now;
    this.lastChangeAt = this.pendingChangeAt;
    // Push once changes pause for debounceMs, but never later than debounceMaxMs after the first.
    clearTimeout(this.timer);
    const wait = Math.min(this.o.debounceMs, Math.max(0, this.pendingChangeAt + this.o.debounceMaxMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushAll();
    }, wait);
  }

  private extendSettle(): void {
    this.settleUntil = Math.min(this.settleHardLimit, Math.max(this.settleUntil, Date.now() + 1000));
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.changed(), this.settleUntil - Date.now() + 10);
    this.settleTimer.unref();
  }

  /**
   * Pushes the current generation to every proxy, PUSH_BATCH proxies per event-loop turn, so
   * certificate requests and ACKs are served in between. Each batch takes the newest content; a
   * round that overlaps a newer one only finds proxies already served (or in flight) and skips them.
   */
  private pushAll(): void {
    const generation = this.generation;
    const changeAt = this.pendingChangeAt || Date.now();
    this.pendingChangeAt = 0;
    const settling = this.settling;
    const createdAt = new Date().toISOString();
    const sessions = [...this.o.sessions];
    let next = 0;
    let immediate: NodeJS.Immediate | undefined;
    const batch = (): void => {
      if (immediate) this.pushing.delete(immediate);
      const builder = this.currentBuilder();
      const end = Math.min(sessions.length, next + PUSH_BATCH);
      for (; next < end; next++) {
        const session = sessions[next];
        if (!session.proxy || session.closed) continue;
        // After a restart, proxies that hold a snapshot wait until registrations settle, so no
        // push removes endpoints whose sidecars have not reconnected yet.
        if (settling && session.resumed && session.sentVersion === undefined) continue;
        this.pushTo(session, builder, this.generation, changeAt, createdAt);
      }
      if (next < sessions.length) {
        immediate = setImmediate(batch);
        this.pushing.add(immediate);
        return;
      }
      this.pushedGeneration = Math.max(this.pushedGeneration, generation);
      this.checkWaiters();
    };
    batch();
  }

  private currentBuilder(): SnapshotBuilder {
    this.builder ??= new SnapshotBuilder(
      this.o.config.objects,
      this.o.registry.list(),
      this.o.trustDomain(),
      this.cache,
    );
    return this.builder;
  }

  /**
   * Sends a proxy its snapshot when its content changed. One snapshot is in flight per proxy: while
   * the last one is unanswered the proxy is marked and gets the newest content once it answers,
   * so a burst of changes costs a slow proxy one snapshot, not one per change.
   */
  private pushTo(
    session: DiscoverySession,
    builder: SnapshotBuilder,
    generation: number,
    changeAt: number,
    createdAt: string,
  ): void {
    if (session.sentVersion !== undefined && session.state === 'STALE') {
      session.pushPending = true;
      return;
    }
    // Bound the bytes queued towards slow proxies: later pushes wait for answers.
    if (session.sentVersion !== undefined && this.inflightBytes >= this.o.maxInflightBytes) {
      session.pushPending = true;
      this.waiting.add(session);
      return;
    }
    session.pushPending = false;
    const built = builder.build(session.proxy!);
    const contentKey = `${built.content.contentHash}|${built.proxyJson}`;
    if (contentKey === session.sentContentKey) return;
    const version = ++this.versionCounter;
    const hash = built.hash(session.protocolVersion);
    const delta = this.deltaFrame(session, built, version, hash, createdAt);
    const frame = delta
      ? [delta]
      : [
          `{"type":"snapshot","version":${version},"hash":"${hash}","body":`,
          ...SnapshotBuilder.bodyParts(built, version, createdAt, session.protocolVersion),
          '}',
        ];
    session.sentVersion = version;
    session.sentHash = hash;
    session.sentContent = { content: built.content, proxyJson: built.proxyJson };
    session.sentGeneration = generation;
    session.sentChangeAt = changeAt;
    session.sentContentKey = contentKey;
    try {
      const bytes = session.sendParts(frame);
      session.inflightBytes = bytes;
      this.inflightBytes += bytes;
      this.o.metrics.pushBytes += bytes;
      this.o.metrics.pushes++;
    } catch (err) {
      session.nackError = `snapshot not sent: ${(err as Error).message}`;
      session.nackedVersion = version;
      this.o.log('error', `cannot send snapshot to ${podOf(session)}: ${(err as Error).message}`);
    }
  }

  /**
   * Protocol version 3: the changes since the snapshot the proxy holds, or undefined when it
   * holds none (first push, reconnect, resync) or when most of the snapshot changed.
   */
  private deltaFrame(
    session: DiscoverySession,
    built: BuiltSnapshot,
    version: number,
    hash: string,
    createdAt: string,
  ): string | undefined {
    const held = session.held;
    if (session.protocolVersion < 3 || !held) return undefined;
    const delta = built.content.deltaFrom(held.content);
    if (delta.changes > Math.max(16, built.content.resourceCount / 2)) return undefined;
    const parts = [
      `"type":"delta","version":${version},"hash":"${hash}"`,
      `"base":{"version":${held.version},"hash":"${held.hash}"}`,
      `"schema":${JSON.stringify(SNAPSHOT_SCHEMA)},"createdAt":"${createdAt}"`,
    ];
    if (built.proxyJson !== held.proxyJson) parts.push(`"proxy":${built.proxyJson}`);
    if (delta.json) parts.push(delta.json);
    this.o.metrics.deltas++;
    return `{${parts.join(',')}}`;
  }

  /** The answered (or closed) snapshot no longer counts against the in-flight budget. */
  private release(session: DiscoverySession): void {
    this.inflightBytes -= session.inflightBytes;
    session.inflightBytes = 0;
    for (const next of this.waiting) {
      if (this.inflightBytes >= this.o.maxInflightBytes) break;
      this.waiting.delete(next);
      if (next !== session) this.pushIfPending(next, false);
    }
  }

  private pushIfPending(session: DiscoverySession, release = true): void {
    if (release) this.release(session);
    if (!session.pushPending || session.closed || !session.proxy) return;
    this.pushTo(
      session,
      this.currentBuilder(),
      this.generation,
      this.lastChangeAt || Date.now(),
      new Date().toISOString(),
    );
  }

  /** Resolves once every proxy whose snapshot a change at `generation` altered answered it. */
  waitForSync(generation: number, timeoutMs: number): Promise<SyncResult> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        generation,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(this.syncResult(generation));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      this.checkWaiters();
    });
  }

  private syncResult(generation: number): SyncResult {
    const result: SyncResult = { acked: [], nacks: [], pending: [] };
    if (this.pushedGeneration < generation) {
      result.pending.push('(push not sent yet)');
      return result;
    }
    for (const s of this.o.sessions) {
      if (!s.proxy || s.closed) continue;
      if (s.pushPending) {
        result.pending.push(podOf(s));
        continue;
      }
      if (s.sentGeneration < generation) continue;
      const state = s.state;
      if (state === 'SYNCED') result.acked.push(podOf(s));
      else if (state === 'NACKED')
        result.nacks.push({ proxy: podOf(s), version: s.sentVersion!, error: s.nackError! });
      else result.pending.push(podOf(s));
    }
    return result;
  }

  /** Resolves the waiters whose proxies all answered; once per event-loop turn at most. */
  private checkWaiters(): void {
    if (this.waiters.size === 0 || this.waitersCheck) return;
    this.waitersCheck = setImmediate(() => {
      this.waitersCheck = undefined;
      this.resolveWaiters();
    });
  }

  private resolveWaiters(): void {
    for (const w of this.waiters) {
      const r = this.syncResult(w.generation);
      if (r.pending.length === 0) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(r);
      }
    }
  }

  close(): void {
    clearTimeout(this.timer);
    for (const p of this.pushing) clearImmediate(p);
    clearImmediate(this.waitersCheck);
    clearTimeout(this.settleTimer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(this.syncResult(w.generation));
    }
    this.waiters.clear();
  }
}

export { PROTOCOL_VERSION };

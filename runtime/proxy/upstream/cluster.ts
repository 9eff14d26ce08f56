/**
 * One upstream cluster as the proxy runs it: its endpoints with their connection pools, the
 * load balancer, outlier detection, and the connection-pool limits with the bounded pending
 * queue (SEMANTICS.md: a request over the limit waits; when the queue is full it gets 503 UO).
 * HTTP/1.1 connections of all endpoints together stay within `maxConnections`
 * (connection-budget.ts). Endpoint state (pools, outlier counters) survives snapshot updates when
 * the endpoint stays.
 */
import type { LookupFunction } from 'node:net';
import type { SecureContext } from 'node:tls';
import { MESH_ALPN } from '../../../lib/constants.js';
import type { Cluster, ClusterEndpoint } from '../../../lib/routing/types.js';
import { formatMeshSni } from '../tls/sni.js';
import { type Balancer, createBalancer } from './balancer.js';
import { H2Client, Http1Client, type UpstreamClient } from './client.js';
import { ConnectionBudget, type EndpointConnections, UNLIMITED_CONNECTIONS } from './connection-budget.js';
import { createConnector } from './connector.js';
import { newOutlierState, OutlierDetector, type OutlierState } from './outlier.js';
import { Pool } from './undici-pool.js';

export const UNLIMITED = UNLIMITED_CONNECTIONS;

export interface ClusterEnvironment {
  secureContext: () => SecureContext | undefined;
  /** Mesh ALPN the client offers to peer sidecars. */
  alpn: string;
  /** Bound on the pending queue even when the config says unlimited. */
  maxPendingRequestsCap: number;
  /** Idle keep-alive time of upstream connections when the config sets none. */
  defaultIdleTimeoutMs: number;
  /** Port of the peer sidecars' inbound listener. */
  peerInboundPort: number;
  /** Connect to meshed peers at this host instead of their address (tests: several proxies on one host). */
  peerAddressOverride?: (endpoint: ClusterEndpoint) => { address: string; port: number } | undefined;
  /** Counter hooks (telemetry's per-cluster counters). */
  events?: ClusterEvents;
  /** Resolves endpoints named by host (egress/dns.ts); the system resolver when absent. */
  lookup?: LookupFunction;
}

export interface ClusterEvents {
  retry(cluster: string): void;
  /** A retry was not sent: `connectionPool.http.maxRetries` retries were outstanding. */
  retryOverflow?(cluster: string): void;
  overflow(cluster: string): void;
  ejection(cluster: string): void;
}

export class UpstreamEndpoint {
  active = 0;
  requests = 0;
  failures = 0;
  readonly outlier: OutlierState = newOutlierState();
  /** `address:port` as logged (both are part of the key, so they never change). */
  readonly hostPort: string;
  private pool: UpstreamClient | undefined;
  constructor(
    readonly key: string,
    public endpoint: ClusterEndpoint,
    private readonly open: () => UpstreamClient,
    /** This endpoint's HTTP/1.1 sockets, counted against its cluster's maxConnections. */
    readonly connections?: EndpointConnections,
  ) {
    this.hostPort = `${endpoint.address}:${endpoint.port}`;
  }

  client(): UpstreamClient {
    this.pool ??= this.open();
    return this.pool;
  }

  close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.connections?.close();
    return p ? p.close() : Promise.resolve();
  }

  destroy(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.connections?.close();
    return p ? p.destroy() : Promise.resolve();
  }
}

export interface ClusterStats {
  requests: number;
  retries: number;
  /** Retries not sent because `maxRetries` retries were already outstanding. */
  retryOverflows: number;
  overflows: number;
  timeouts: number;
  connectFailures: number;
  resets: number;
  ejections: number;
  noHealthy: number;
}

type Waiter = { resolve: (ok: boolean) => void };

/** Result of asking for a slot under the connection-pool limits. */
export type Admission = 'ok' | 'overflow';

/** The cluster's HTTP/1.1 upstream connections against `maxConnections`. */
export interface ConnectionStats {
  /** Sockets open now (connecting, open or closing). */
  open: number;
  /** Connects waiting for room now. */
  waiting: number;
  /** Connects that had to wait, and idle connections closed to make room (totals). */
  waits: number;
  reclaims: number;
}

export interface PendingAdmission {
  promise: Promise<boolean>;
  /** Leaves the queue (the request gave up). */
  cancel(): void;
}

export class UpstreamCluster {
  endpoints: UpstreamEndpoint[] = [];
  /** Some endpoint is a meshed peer (requests then carry this proxy's peer metadata). */
  hasMeshedEndpoints = false;
  private balancer: Balancer;
  private outlier: OutlierDetector<UpstreamEndpoint> | undefined;
  private identities: ReadonlySet<string> = new Set();
  /** Requests holding a slot. */
  active = 0;
  /** Requests that are being retried now (each holds one of `maxRetries`). */
  retriesActive = 0;
  private readonly pending: Waiter[] = [];
  private readonly budget: ConnectionBudget;
  readonly stats: ClusterStats = {
    requests: 0,
    retries: 0,
    retryOverflows: 0,
    overflows: 0,
    timeouts: 0,
    connectFailures: 0,
    resets: 0,
    ejections: 0,
    noHealthy: 0,
  };

  constructor(
    public cluster: Cluster,
    private readonly env: ClusterEnvironment,
  ) {
    this.balancer = createBalancer(cluster.loadBalancer.kind);
    this.budget = new ConnectionBudget(cluster.connectionPool.maxConnections);
    this.update(cluster);
  }

  connectionStats(): ConnectionStats {
    const b = this.budget;
    return { open: b.open, waiting: b.waiting, waits: b.waits, reclaims: b.reclaims };
  }

  get key(): string {
    return this.cluster.key;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Applies a new version of the cluster; keeps the state of endpoints that remain. */
  update(cluster: Cluster): Promise<void> {
    const prev = this.cluster;
    this.cluster = cluster;
    if (prev.loadBalancer.kind !== cluster.loadBalancer.kind)
      this.balancer = createBalancer(cluster.loadBalancer.kind);
    this.identities = new Set(cluster.serverIdentities);
    this.budget.setLimit(cluster.connectionPool.maxConnections);
    const old = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: UpstreamEndpoint[] = [];
    const poolKey = JSON.stringify(cluster.connectionPool);
    for (const ep of cluster.endpoints) {
      const key = `${ep.address}|${ep.port}|${ep.mtls ? 'mtls' : 'plain'}|${poolKey}`;
      const existing = old.get(key);
      if (existing) {
        existing.endpoint = ep;
        old.delete(key);
        next.push(existing);
      } else {
        const connections = this.budget.endpoint();
        next.push(new UpstreamEndpoint(key, ep, () => this.openPool(ep, connections), connections));
      }
    }
    this.endpoints = next;
    this.hasMeshedEndpoints = cluster.endpoints.some((e) => e.mtls);
    if (cluster.outlierDetection) {
      if (this.outlier) this.outlier.update(cluster.outlierDetection);
      else {
        this.outlier = new OutlierDetector(cluster.outlierDetection, () => this.endpoints);
        this.outlier.start();
      }
    } else {
      this.outlier?.stop();
      this.outlier = undefined;
      for (const e of next) e.outlier.ejected = false;
    }
    return Promise.all([...old.values()].map((e) => e.close())).then(() => undefined);
  }

  /** HTTP/2 between sidecars: every endpoint meshed and the mesh ALPN is tsmesh-h2. */
  private get h2(): boolean {
    return (
      this.env.alpn === MESH_ALPN.h2 &&
      this.cluster.endpoints.length > 0 &&
      this.cluster.endpoints.every((e) => e.mtls)
    );
  }

  private openPool(ep: ClusterEndpoint, connections: EndpointConnections): UpstreamClient {
    const cp = this.cluster.connectionPool;
    const peer = ep.mtls
      ? (this.env.peerAddressOverride?.(ep) ?? { address: ep.address, port: this.env.peerInboundPort })
      : undefined;
    const connector = createConnector({
      address: peer ? peer.address : ep.address,
      port: peer ? peer.port : ep.port,
      connectTimeoutMs: cp.connectTimeoutMs,
      lookup: this.env.lookup,
      tls: peer
        ? {
            secureContext: this.env.secureContext,
            alpn: this.env.alpn,
            sni: formatMeshSni(ep.port, this.cluster.subset, this.cluster.host),
            acceptedIdentities: () => this.identities,
          }
        : undefined,
    });
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    if (peer && this.env.alpn === MESH_ALPN.h2) return new H2Client(connector, `http://${host}:${ep.port}`);
    const idle = cp.idleTimeoutMs ?? this.env.defaultIdleTimeoutMs;
    const pool = new Pool(`http://${host}:${ep.port}`, {
      connections: cp.maxConnections >= UNLIMITED ? null : cp.maxConnections,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: idle,
      keepAliveMaxTimeout: Math.max(idle, 1000),
      maxRequestsPerClient: cp.maxRequestsPerConnection > 0 ? cp.maxRequestsPerConnection : undefined,
      connect: connections.wrap(connector) as never,
    });
    connections.attach(pool);
    return new Http1Client(pool);
  }

  /** The concurrency limit: one request per HTTP/1.1 connection, and http2MaxRequests. */
  private limit(): number {
    const cp = this.cluster.connectionPool;
    // HTTP/2 multiplexes: only http2MaxRequests bounds requests in flight.
    if (this.h2) return cp.http2MaxRequests;
    return Math.min(cp.maxConnections, cp.http2MaxRequests);
  }

  /**
   * Takes a slot under the limits, or queues in the bounded pending queue: 'ok' at once,
   * 'overflow' when the queue is full (503 UO; never counted by outlier detection), else a
   * pending admission that resolves true when a slot is handed over (false when cancelled).
   */
  tryAdmit(): Admission | PendingAdmission {
    if (this.active < this.limit()) {
      this.active++;
      return 'ok';
    }
    const cap = Math.min(this.cluster.connectionPool.http1MaxPendingRequests, this.env.maxPendingRequestsCap);
    if (this.pending.length >= cap) {
      this.stats.overflows++;
      this.env.events?.overflow(this.key);
      return 'overflow';
    }
    let waiter!: Waiter;
    const promise = new Promise<boolean>((resolve) => {
      waiter = { resolve };
    });
    this.pending.push(waiter);
    return {
      promise,
      cancel: () => {
        const i = this.pending.indexOf(waiter);
        if (i >= 0) this.pending.splice(i, 1);
        waiter.resolve(false);
      },
    };
  }

  /**
   * `tryAdmit` with an AbortSignal: 'aborted' when the signal fires while the request waits.
   */
  admit(signal?: AbortSignal): Admission | Promise<Admission | 'aborted'> {
    const a = this.tryAdmit();
    if (a === 'ok' || a === 'overflow') return a;
    if (signal?.aborted) {
      a.cancel();
      return Promise.resolve('aborted');
    }
    const onAbort = () => a.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    return a.promise.then((granted) => {
      signal?.removeEventListener('abort', onAbort);
      return granted ? 'ok' : 'aborted';
    });
  }

  /** Gives a slot back; the oldest waiter gets it. */
  release(): void {
    const next = this.pending.shift();
    if (next) next.resolve(true);
    else this.active--;
    // A connection may have become idle for a connect waiting for room.
    if (this.budget.waiting > 0) this.budget.wake();
  }

  /** Picks an endpoint: not ejected, and not one already tried when another exists. */
  pick(
    tried: ReadonlySet<UpstreamEndpoint> | undefined,
    random: () => number,
    hashKey?: string,
  ): UpstreamEndpoint | undefined {
    const healthy = this.outlier ? this.endpoints.filter((e) => !e.outlier.ejected) : this.endpoints;
    if (healthy.length === 0) return undefined;
    let candidates = healthy;
    if (tried && tried.size > 0 && healthy.length > 1) {
      const fresh = healthy.filter((e) => !tried.has(e));
      if (fresh.length > 0) candidates = fresh;
    }
    return this.balancer.pick(candidates, hashKey === undefined ? { random } : { random, hashKey });
  }

  /**
   * Reserves one of the cluster's `connectionPool.http.maxRetries` outstanding retries for a
   * request that is about to be retried; false (counted) when all are taken. The request gives
   * it back with `releaseRetry` when it ends.
   */
  reserveRetry(): boolean {
    if (this.retriesActive >= this.cluster.connectionPool.maxRetries) {
      this.stats.retryOverflows++;
      this.env.events?.retryOverflow?.(this.key);
      return false;
    }
    this.retriesActive++;
    return true;
  }

  releaseRetry(): void {
    this.retriesActive--;
  }

  /** Counts a retry sent. */
  countRetry(): void {
    this.stats.retries++;
    this.env.events?.retry(this.key);
  }

  /** Reports an attempt's outcome to outlier detection (status 0: connect failure, reset, timeout). */
  report(ep: UpstreamEndpoint, status: number): void {
    if (status === 0 || status >= 500) ep.failures++;
    if (!this.outlier) return;
    const before = ep.outlier.ejections;
    this.outlier.report(ep, status);
    if (ep.outlier.ejections > before) {
      this.stats.ejections++;
      this.env.events?.ejection(this.key);
    }
  }

  async close(): Promise<void> {
    this.outlier?.stop();
    for (const w of this.pending.splice(0)) w.resolve(false);
    this.budget.close();
    await Promise.all(this.endpoints.map((e) => e.close()));
  }

  async destroy(): Promise<void> {
    this.outlier?.stop();
    for (const w of this.pending.splice(0)) w.resolve(false);
    this.budget.close();
    await Promise.all(this.endpoints.map((e) => e.destroy()));
  }
}

/**
 * Egress for HTTP requests the routing engine does not send to a known cluster:
 * - `blackhole` (unknown host under REGISTRY_ONLY): 502, flag `NR`, cluster `BlackHoleCluster`;
 * - `passthrough` (unknown host under ALLOW_ANY), and ServiceEntry hosts with
 *   `resolution: NONE` and no endpoints: forwarded to the original destination, which for HTTP is
 *   the Host header's host and port (80 when absent), the host resolved by DNS at connect time.
 *   Plain TCP to the destination (no mesh mTLS), through the core's forwarder, with a
 *   connection pool per destination address kept while it is used.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UNLIMITED } from '../../../lib/routing/policies.js';
import type { Cluster } from '../../../lib/routing/types.js';
import type { RequestBody } from '../body.js';
import { type Exchange, localReply } from '../exchange.js';
import { forward, NO_RETRY } from '../forward.js';
import { type ClusterEnvironment, UpstreamCluster } from '../upstream/cluster.js';
import { DnsCache, type DnsOptions } from './dns.js';

export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';

export interface EgressOptions {
  /** Name resolution for passthrough and ServiceEntry DNS endpoints. */
  dns: Partial<DnsOptions>;
  /** Most passthrough destinations (address:port) with an open pool; the least recently used closes. */
  maxPassthroughPools: number;
  /** Connect timeout to a passthrough destination. */
  connectTimeoutMs: number;
}

export type EgressOptionsInput = Partial<EgressOptions>;

export const DEFAULT_EGRESS_OPTIONS: EgressOptions = {
  dns: {},
  maxPassthroughPools: 256,
  connectTimeoutMs: 10_000,
};

export interface PassthroughRequest {
  /** Destination host (name or address) and port. */
  host: string;
  port: number;
  method: string;
  /** Path with query, as forwarded. */
  path: string;
  /** Flat header list, Host included. */
  headers: string[];
  body: RequestBody;
  timeoutMs: number | null;
  random: () => number;
  closeConnection?: () => boolean;
}

export class Egress {
  readonly options: EgressOptions;
  readonly dns: DnsCache;
  private readonly pools = new Map<string, UpstreamCluster>();
  private readonly env: ClusterEnvironment;

  constructor(
    input: EgressOptionsInput = {},
    env: Pick<ClusterEnvironment, 'defaultIdleTimeoutMs' | 'maxPendingRequestsCap' | 'alpn'>,
  ) {
    this.options = { ...DEFAULT_EGRESS_OPTIONS, ...input } satisfies EgressOptions;
    this.dns = new DnsCache(this.options.dns);
    this.env = { ...env, secureContext: () => undefined, peerInboundPort: 0 };
  }

  /** REGISTRY_ONLY: the request is refused as Envoy's BlackHoleCluster does. */
  blackhole(req: IncomingMessage, res: ServerResponse, ex: Exchange, host: string): void {
    ex.flag('NR');
    ex.upstreamCluster = BLACKHOLE_CLUSTER;
    req.resume();
    localReply(
      res,
      ex,
      502,
      `no route to ${host}: not in the mesh registry and outboundTrafficPolicy is REGISTRY_ONLY`,
    );
  }

  /** ALLOW_ANY: forwards to the destination itself. */
  async passthrough(
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    r: PassthroughRequest,
  ): Promise<void> {
    let address: string;
    try {
      address = (await this.dns.resolve(r.host)).address;
    } catch (err) {
      ex.flag('UF');
      ex.upstreamCluster = PASSTHROUGH_CLUSTER;
      req.resume();
      localReply(res, ex, 503, `upstream connect error: ${(err as Error).message}`);
      return;
    }
    const cluster = this.pool(address, r.port);
    await forward(
      req,
      res,
      {
        cluster,
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body,
        retry: NO_RETRY,
        timeoutMs: r.timeoutMs,
        random: r.random,
        closeConnection: r.closeConnection,
      },
      ex,
    );
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((c) => c.destroy()));
  }

  private pool(address: string, port: number): UpstreamCluster {
    const key = `${address}|${port}`;
    let c = this.pools.get(key);
    if (c) {
      this.pools.delete(key);
      this.pools.set(key, c);
      return c;
    }
    c = new UpstreamCluster(passthroughCluster(address, port, this.options.connectTimeoutMs), this.env);
    this.pools.set(key, c);
    while (this.pools.size > this.options.maxPassthroughPools) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, UpstreamCluster];
      this.pools.delete(oldestKey);
      void oldest.close();
    }
    return c;
  }
}

function passthroughCluster(address: string, port: number, connectTimeoutMs: number): Cluster {
  return {
    key: PASSTHROUGH_CLUSTER,
    host: address,
    port,
    protocol: 'http',
    endpoints: [
      { address, port, meshed: false, labels: {}, pod: `${PASSTHROUGH_CLUSTER}/${address}`, mtls: false },
    ],
    serverIdentities: [],
    loadBalancer: { kind: 'ROUND_ROBIN' },
    connectionPool: {
      maxConnections: UNLIMITED,
      connectTimeoutMs,
      http1MaxPendingRequests: UNLIMITED,
      http2MaxRequests: UNLIMITED,
      maxRequestsPerConnection: 0,
      maxRetries: UNLIMITED,
      idleTimeoutMs: null,
    },
    tls: { mode: 'DISABLE' },
  };
}

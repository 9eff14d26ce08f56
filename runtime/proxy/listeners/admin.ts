/**
 * The admin listener (127.0.0.1:15000 or a Unix socket; never the pod address). JSON shapes are
 * documented in docs/proxy.md; `tsmesh proxy-config` reads them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getHeapSpaceStatistics } from 'node:v8';
import type { ProxyContext } from '../context.js';
import { heapPacerStatus } from '../heap-pacer.js';
import { PROMETHEUS_CONTENT_TYPE } from '../telemetry/index.js';
import { certificateValidAt } from '../tls/certs.js';
import type { UpstreamCluster } from '../upstream/cluster.js';

export interface AdminActions {
  ready(): boolean;
  drain(): void;
  quit(): void;
  appClusters(): Iterable<UpstreamCluster>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function configDump(ctx: ProxyContext): unknown {
  const cfg = ctx.config();
  if (!cfg) return { applied: false };
  const s = cfg.snapshot;
  return {
    applied: true,
    version: s.version,
    hash: s.hash,
    createdAt: s.createdAt,
    appliedAt: cfg.appliedAt.toISOString(),
    proxy: s.proxy,
    objects: s.objects.length,
    workloads: s.workloads.length,
    outboundTrafficPolicy: cfg.table.outboundTrafficPolicy,
    sidecar: cfg.table.sidecar ?? null,
    pathNormalization: cfg.table.mesh.pathNormalization,
    services: [...cfg.table.services.keys()].sort(),
    conflicts: cfg.table.conflicts,
    clusters: [...cfg.clusters.values()].map((c) => ({
      key: c.key,
      host: c.cluster.host,
      port: c.cluster.port,
      subset: c.cluster.subset ?? null,
      protocol: c.cluster.protocol,
      endpoints: c.cluster.endpoints.length,
      loadBalancer: c.cluster.loadBalancer.kind,
      connectionPool: c.cluster.connectionPool,
      outlierDetection: c.cluster.outlierDetection ?? null,
      tls: c.cluster.tls.mode,
      destinationRule: c.cluster.destinationRule ?? null,
    })),
    inbound: {
      appPorts: cfg.inbound.appPorts,
      portMap: Object.fromEntries(cfg.inbound.portMap),
      mtls: Object.fromEntries(cfg.inbound.appPorts.map((p) => [p, cfg.inbound.mtlsMode(p)])),
    },
  };
}

export function clusterStatus(c: UpstreamCluster, now = Date.now()): unknown {
  return {
    key: c.key,
    active: c.active,
    pending: c.pendingCount,
    connections: c.connectionStats(),
    stats: c.stats,
    endpoints: c.endpoints.map((e) => {
      const o = e.outlier;
      const ejected = o.ejected;
      return {
        address: e.endpoint.address,
        port: e.endpoint.port,
        pod: e.endpoint.pod,
        mtls: e.endpoint.mtls,
        identity: e.endpoint.identity ?? null,
        health: ejected ? 'ejected' : 'healthy',
        outlier: {
          ejected,
          ejectedUntil: ejected ? new Date(o.ejectedAt + o.ejectionMs).toISOString() : null,
          ejections: o.ejections,
          consecutive5xx: o.consecutive5xx,
          consecutiveGatewayErrors: o.consecutiveGateway,
        },
        active: e.active,
        connections: e.connections?.open ?? 0,
        requests: e.requests,
        failures: e.failures,
        sinceMs: ejected ? now - o.ejectedAt : null,
      };
    }),
  };
}

export function certsStatus(ctx: ProxyContext): unknown {
  const c = ctx.certificate();
  if (!c) return { certificate: null };
  const b = c.bundle;
  return {
    certificate: {
      spiffeId: b.spiffeId,
      serial: b.serial,
      notBefore: b.notBefore.toISOString(),
      notAfter: b.notAfter.toISOString(),
      valid: certificateValidAt(b),
      issuer: c.x509.issuer,
    },
    trustBundle: b.trustBundlePem.length,
  };
}

const MB = 1024 * 1024;
const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;

/** Where the process's memory is, in MB: RSS, V8's heap by space, and memory outside the heap. */
export function memoryStatus(): unknown {
  const m = process.memoryUsage();
  return {
    rssMb: mb(m.rss),
    maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
    heapTotalMb: mb(m.heapTotal),
    heapUsedMb: mb(m.heapUsed),
    externalMb: mb(m.external),
    arrayBuffersMb: mb(m.arrayBuffers),
    // The process settings that decide the memory footprint (lib/constants.ts PROXY_PROCESS_ENV).
    settings: Object.fromEntries(
      ['NODE_OPTIONS', 'MALLOC_ARENA_MAX', 'GLIBC_TUNABLES'].map((k) => [k, process.env[k] ?? null]),
    ),
    // The proxy's own full collections (heap-pacer.ts; null when off or not a `tsmesh proxy` process).
    heapPacer: heapPacerStatus(),
    heapSpaces: Object.fromEntries(
      getHeapSpaceStatistics().map((s) => [
        s.space_name,
        { sizeMb: mb(s.space_size), usedMb: mb(s.space_used_size), committedMb: mb(s.physical_space_size) },
      ]),
    ),
  };
}

export function createAdminServer(ctx: ProxyContext, actions: AdminActions): Server {
  return createServer({ insecureHTTPParser: false }, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    req.resume();
    if (method === 'GET' && path === '/config_dump') return json(res, 200, configDump(ctx));
    if (method === 'GET' && path === '/clusters') {
      const cfg = ctx.config();
      return json(res, 200, {
        clusters: cfg ? [...cfg.clusters.values()].map((c) => clusterStatus(c)) : [],
        inbound: [...actions.appClusters()].map((c) => clusterStatus(c)),
      });
    }
    if (method === 'GET' && path === '/certs') return json(res, 200, certsStatus(ctx));
    if (method === 'GET' && path === '/stats') return json(res, 200, ctx.counters);
    if (method === 'GET' && path === '/memory') return json(res, 200, memoryStatus());
    if (method === 'GET' && path === '/stats/prometheus') {
      const text = ctx.telemetry.metricsText();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (method === 'GET' && path === '/ready') {
      const ready = actions.ready();
      return json(res, ready ? 200 : 503, { ready, draining: ctx.draining() });
    }
    if (method === 'POST' && path === '/drain') {
      actions.drain();
      return json(res, 200, { draining: true });
    }
    if (method === 'POST' && path === '/quitquitquit') {
      json(res, 200, { quitting: true });
      res.once('finish', () => actions.quit());
      return;
    }
    json(res, 404, {
      error: `unknown admin path ${method} ${path}`,
      paths: [
        'GET /config_dump',
        'GET /clusters',
        'GET /certs',
        'GET /stats',
        'GET /stats/prometheus',
        'GET /memory',
        'GET /ready',
        'POST /drain',
        'POST /quitquitquit',
      ],
    });
  });
}

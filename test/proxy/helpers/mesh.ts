/**
 * Sidecars for tests: a Proxy on ephemeral loopback ports fed by in-memory sources, and small
 * HTTP clients (node:http and raw sockets) to talk to its listeners.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { MeshObject } from '../../../lib/api/types.js';
import type { WorkloadInstance } from '../../../lib/model.js';
import { MemoryCertificateSource, MemorySnapshotSource } from '../../../runtime/proxy/memory-sources.js';
import type { ProxyOptionsInput, ProxyPorts } from '../../../runtime/proxy/options.js';
import { SidecarProxy } from '../../../runtime/proxy/proxy.js';
import type { CertificateBundle } from '../../../runtime/proxy/sources.js';
import { proxyOf, snapshot } from './snapshot.js';

/** Where each meshed pod's sidecar listens (pod `namespace/name` → inbound port). */
export type PeerPorts = Map<string, number>;

export interface Sidecar {
  proxy: SidecarProxy;
  snapshots: MemorySnapshotSource;
  certs: MemoryCertificateSource;
  ports: ProxyPorts;
}

export interface SidecarSpec {
  pod: WorkloadInstance;
  objects: MeshObject[];
  workloads: WorkloadInstance[];
  cert?: CertificateBundle;
  peers: PeerPorts;
  options?: Partial<ProxyOptionsInput>;
  /** Deliver the snapshot at start (default true). */
  withSnapshot?: boolean;
}

export async function startSidecar(spec: SidecarSpec): Promise<Sidecar> {
  const snapshots = new MemorySnapshotSource(
    spec.withSnapshot === false ? undefined : snapshot(proxyOf(spec.pod), spec.objects, spec.workloads),
  );
  const certs = new MemoryCertificateSource(spec.cert);
  const peers = spec.peers;
  const proxy = new SidecarProxy({
    snapshotSource: snapshots,
    certificateSource: certs,
    address: '127.0.0.1',
    ports: { outbound: 0, inbound: 0, admin: 0, stats: 0, health: 0 },
    accessLog: false,
    log: () => undefined,
    peerAddress: (ep) => {
      const port = peers.get(ep.pod);
      return port === undefined ? undefined : { address: '127.0.0.1', port };
    },
    ...spec.options,
  });
  await proxy.start();
  // Let the sources deliver their first values.
  for (let i = 0; i < 50 && spec.withSnapshot !== false && spec.cert && !proxy.isReady(); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const ports = proxy.ports();
  peers.set(`${spec.pod.namespace}/${spec.pod.name}`, ports.inbound);
  return { proxy, snapshots, certs, ports };
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The response ended early (socket error mid-body). */
  truncated: boolean;
}

/** One request with node:http, a fresh connection each time. */
export function send(
  port: number,
  path: string,
  options: {
    host?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
  } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? 'reviews:9080', ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let truncated = false;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => {
          truncated = true;
        });
        res.on('aborted', () => {
          truncated = true;
        });
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            truncated: truncated || !res.complete,
          }),
        );
      },
    );
    if (options.timeoutMs) req.setTimeout(options.timeoutMs, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes and collects everything until the server closes (or `timeoutMs`). */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    s.write(data);
  });
}

/** Status code of the first response in raw HTTP text, or 0. */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

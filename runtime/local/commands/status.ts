/**
 * `tsmesh status`: the pods of the running mesh with readiness, sidecar sync state (from the
 * control plane), versions and certificate expiry.
 */
import type { ProxyStatus, StatusResponse } from '../../../lib/protocol/admin.js';
import { adminCall } from '../admin-client.js';
import { EXIT, findMesh } from '../mesh-ref.js';
import type { MeshState } from '../state.js';
import { type OutputFormat, render, table, until } from '../table.js';

export interface StatusRow {
  namespace: string;
  pod: string;
  workload: string;
  ready: boolean;
  phase: string;
  proxy: 'sidecar' | 'gateway' | 'none';
  sync?: string;
  version?: string;
  address: string;
  identity?: string;
  certExpires?: string;
  message?: string;
}

export interface StatusReport {
  mode: string;
  controlPlane: {
    address: string;
    reachable: boolean;
    configVersion?: number;
    lastConfigError?: string;
    error?: string;
  };
  pods: StatusRow[];
  ingress?: string;
}

export async function collectStatus(state: MeshState): Promise<StatusReport> {
  const cp: StatusReport['controlPlane'] = { address: state.controlPlane.address, reachable: false };
  let proxies: ProxyStatus[] = [];
  try {
    const s = await adminCall<StatusResponse>(state.controlPlane.adminSocket, {
      path: '/v1/status',
      timeoutMs: 5_000,
    });
    cp.reachable = true;
    cp.configVersion = s.configVersion;
    cp.lastConfigError = s.lastConfigError?.message;
    const p = await adminCall<ProxyStatus[] | { proxies: ProxyStatus[] }>(state.controlPlane.adminSocket, {
      path: '/v1/proxies',
      timeoutMs: 5_000,
    });
    proxies = Array.isArray(p) ? p : (p.proxies ?? []);
  } catch (e) {
    cp.error = (e as Error).message;
  }
  const pods: StatusRow[] = state.pods.map((p) => {
    const proxy = proxies.find((x) => x.pod === p.name && x.namespace === p.namespace);
    const hasProxy = p.meshed || p.gateway;
    return {
      namespace: p.namespace,
      pod: p.name,
      workload: p.workload,
      ready: p.phase === 'ready',
      phase: p.phase,
      proxy: p.meshed ? 'sidecar' : p.gateway ? 'gateway' : 'none',
      sync: hasProxy ? (proxy?.state ?? 'NOT CONNECTED') : undefined,
      version: p.labels.version,
      address: p.address,
      identity: proxy?.identity,
      certExpires: proxy?.certificate?.notAfter,
      message: p.message ?? proxy?.error,
    };
  });
  return { mode: state.mode, controlPlane: cp, pods, ingress: state.ingress?.url };
}

export async function status(o: { stateDir: string; output: OutputFormat }): Promise<number> {
  const state = findMesh(o.stateDir);
  const report = await collectStatus(state);
  process.stdout.write(
    render(o.output, report, () => {
      const cp = report.controlPlane;
      const head = cp.reachable
        ? `control plane ${cp.address}: config version ${cp.configVersion}${cp.lastConfigError ? ` (last config error: ${cp.lastConfigError})` : ''}\n\n`
        : `control plane ${cp.address}: UNREACHABLE (${cp.error})\n\n`;
      const wide = o.output === 'wide';
      const headers = [
        'namespace',
        'pod',
        'ready',
        'status',
        'proxy',
        'sync',
        'version',
        'cert expires',
        'address',
      ];
      if (wide) headers.push('identity', 'message');
      const rows = report.pods.map((r) => {
        const row = [
          r.namespace,
          r.pod,
          r.ready ? '1/1' : '0/1',
          r.phase.toUpperCase(),
          r.proxy,
          r.sync,
          r.version,
          until(r.certExpires),
          r.address,
        ];
        if (wide) row.push(r.identity ?? '', r.message ?? '');
        return row;
      });
      return head + table(headers, rows) + (report.ingress ? `\ningress: ${report.ingress}\n` : '');
    }),
  );
  const healthy =
    report.controlPlane.reachable &&
    report.pods.every((p) => p.ready && (p.sync === undefined || p.sync === 'SYNCED'));
  return healthy ? EXIT.ok : EXIT.failed;
}

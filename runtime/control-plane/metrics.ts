/**
 * The control plane's Prometheus metrics. Hand-written exposition: the set is small and fixed,
 * and a client library would be the only dependency of this process for it.
 */
import type { SyncState } from '../../lib/protocol/admin.js';

const PUSH_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const ISSUE_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) this.counts[i]++;
  }
  render(name: string, help: string): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    this.buckets.forEach((b, i) => {
      lines.push(`${name}_bucket{le="${b}"} ${this.counts[i]}`);
    });
    lines.push(
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    );
    return lines.join('\n');
  }
}

export class ControlPlaneMetrics {
  readonly pushLatency = new Histogram(PUSH_BUCKETS_SECONDS);
  readonly issueLatency = new Histogram(ISSUE_BUCKETS_SECONDS);
  configErrors = 0;
  pushes = 0;
  pushBytes = 0;
  /** Pushes sent as deltas (protocol version 3); the rest were whole snapshots. */
  deltas = 0;
  nacks = 0;
  certificatesIssued = 0;
  csrRejected = 0;
  registrationsRejected = 0;

  render(facts: { configVersion: number; proxies: Record<SyncState, number>; workloads: number }): string {
    const counter = (name: string, help: string, value: number): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} counter\n${name} ${value}`;
    const gauge = (name: string, help: string, value: number): string =>
      `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}`;
    const proxies = [
      '# HELP tsmesh_proxies Connected and registered sidecars by sync state.',
      '# TYPE tsmesh_proxies gauge',
      ...(['SYNCED', 'STALE', 'NACKED'] as const).map(
        (s) => `tsmesh_proxies{state="${s}"} ${facts.proxies[s]}`,
      ),
    ].join('\n');
    return `${[
      proxies,
      this.pushLatency.render(
        'tsmesh_push_latency_seconds',
        'Time from a configuration or registry change to the ACK of the snapshot it produced.',
      ),
      counter('tsmesh_config_errors_total', 'Configuration changes refused as invalid.', this.configErrors),
      gauge('tsmesh_config_version', 'Version of the configuration being served.', facts.configVersion),
      gauge('tsmesh_workloads', 'Registered workload instances.', facts.workloads),
      counter('tsmesh_snapshot_pushes_total', 'Snapshots sent to sidecars.', this.pushes),
      counter('tsmesh_snapshot_push_bytes_total', 'Bytes of snapshot frames sent.', this.pushBytes),
      counter(
        'tsmesh_snapshot_deltas_total',
        'Snapshots sent as deltas against the one the sidecar held.',
        this.deltas,
      ),
      counter('tsmesh_snapshot_nacks_total', 'Snapshots refused by sidecars.', this.nacks),
      counter('tsmesh_certificates_issued_total', 'Workload certificates issued.', this.certificatesIssued),
      counter('tsmesh_csr_rejected_total', 'Certificate requests refused.', this.csrRejected),
      counter(
        'tsmesh_registrations_rejected_total',
        'Workload registrations refused.',
        this.registrationsRejected,
      ),
      this.issueLatency.render(
        'tsmesh_certificate_issue_seconds',
        'Time to verify a CSR and sign its certificate.',
      ),
    ].join('\n')}\n`;
  }
}

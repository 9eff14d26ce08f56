/** `tsmesh control-plane status|proxies|certificates`: the admin API's read calls, for people. */
import { join } from 'node:path';
import type { CertificateStatus, ProxyStatus, StatusResponse } from '../../lib/protocol/admin.js';
import { adminRequest } from './admin-client.js';

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

export async function showAdmin(
  what: 'status' | 'proxies' | 'certificates',
  path: string,
  opts: { stateDir: string; adminSocket?: string; output: string },
): Promise<number> {
  const socket = opts.adminSocket ?? join(opts.stateDir, 'control-plane.sock');
  let answer: { status: number; body: unknown };
  try {
    answer = await adminRequest(socket, 'GET', path);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  if (opts.output === 'json') {
    process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
    return 0;
  }
  if (what === 'status') {
    const s = answer.body as StatusResponse;
    const lines = [
      `tsmesh ${s.tsmeshVersion} (protocol versions ${s.protocolVersions.join(', ')})${s.kubernetes ? ', Kubernetes mode' : ''}`,
      `trust domain:    ${s.trustDomain}`,
      `config version:  ${s.configVersion} (${s.counts.objects} objects, loaded ${s.configLoadedAt ?? 'never'})`,
      `proxies:         ${s.counts.proxies} (${s.counts.synced} SYNCED, ${s.counts.stale} STALE, ${s.counts.nacked} NACKED)`,
      `workloads:       ${s.counts.workloads}${s.warmingUp ? ' (warming up after a restart)' : ''}`,
    ];
    if (s.lastConfigError) {
      lines.push(`last config error (${s.lastConfigError.at}): ${s.lastConfigError.message}`);
      for (const d of s.lastConfigError.diagnostics) {
        lines.push(`  ${d.object ? `${d.object}: ` : ''}${d.path ? `${d.path}: ` : ''}${d.message}`);
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } else if (what === 'proxies') {
    const rows = [
      [
        'POD',
        'MODE',
        'IDENTITY',
        'ADDRESS',
        'STATE',
        'VERSION',
        'PROTOCOL',
        'TSMESH',
        'CERT SERIAL',
        'CERT EXPIRES',
      ],
    ];
    for (const p of answer.body as ProxyStatus[]) {
      rows.push([
        `${p.namespace}/${p.pod}`,
        p.mode ?? 'sidecar',
        p.identity,
        p.address,
        p.state + (p.error ? ` (${p.error})` : ''),
        `${p.ackedVersion ?? '-'}/${p.sentVersion ?? '-'}`,
        String(p.protocolVersion),
        p.tsmeshVersion,
        p.certificate?.serial ?? '-',
        p.certificate?.notAfter ?? '-',
      ]);
    }
    process.stdout.write(table(rows));
  } else {
    const rows = [['SERIAL', 'IDENTITY', 'POD', 'NOT AFTER']];
    for (const c of answer.body as CertificateStatus[])
      rows.push([c.serial, c.identity, c.pod ?? '-', c.notAfter]);
    process.stdout.write(table(rows));
  }
  return 0;
}

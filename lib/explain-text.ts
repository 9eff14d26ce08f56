/** The readable text view of an explain result, what `tsmesh explain` prints by default. */
import type { ExplainResult } from './explain-types.js';
import type { HeaderEdits } from './routing/types.js';

function pct(p: number): string {
  return `${(p * 100).toFixed(p * 100 === Math.round(p * 100) ? 0 : 1)} %`;
}

function ms(v: number | null): string {
  return v === null ? 'none' : `${v} ms`;
}

/** A readable rendering of an explain result (what `tsmesh explain` prints by default). */
export function formatExplain(r: ExplainResult): string {
  const lines: string[] = [];
  const q = r.request;
  const c = r.caller;
  lines.push(`${q.method} ${q.scheme}://${q.authority}${q.path}${q.query ? `?${q.query}` : ''}`);
  lines.push(`  from      ${c.namespace}/${c.workload} (${c.identity ?? 'no sidecar'})`);
  const headerNames = Object.keys(q.headers);
  if (headerNames.length)
    lines.push(`  headers   ${headerNames.map((h) => `${h}: ${q.headers[h]}`).join(', ')}`);
  lines.push('');
  lines.push(`verdict     ${r.verdict.summary}`);
  lines.push('');
  const rt = r.route;
  lines.push(`route       ${rt.kind}${rt.service ? ` for ${rt.service.host}:${rt.service.port}` : ''}`);
  if (rt.virtualService) {
    const rule = rt.rule
      ? `, rule ${rt.rule.index}${rt.rule.name ? ` (${rt.rule.name})` : ''}${rt.rule.matchIndex !== undefined ? `, match ${rt.rule.matchIndex}` : ''}`
      : '';
    lines.push(`  by        VirtualService ${rt.virtualService}${rule}`);
  }
  lines.push(`  why       ${rt.reason}`);
  for (const d of rt.destinations) {
    const chosen = rt.chosen?.clusterKey === d.clusterKey ? '  <- this draw' : '';
    lines.push(
      `  to        ${pct(d.probability).padStart(7)}  ${d.host}:${d.port}${d.subset ? ` subset ${d.subset}` : ''}${chosen}`,
    );
  }
  lines.push(`  timeout   ${ms(rt.timeoutMs)}`);
  const rr = rt.retries;
  lines.push(
    `  retries   ${rr.attempts === 0 ? 'none' : `${rr.attempts} (${rr.source}) on ${[...rr.retryOn, ...rr.retriableStatusCodes.map(String)].join(',')}${rr.perTryTimeoutMs !== null ? `, per try ${rr.perTryTimeoutMs} ms` : ''}, backoff ${rr.backoffBaseMs} ms`}`,
  );
  if (rt.fault?.delay)
    lines.push(`  fault     delay ${rt.fault.delay.ms} ms for ${rt.fault.delay.percent} % of requests`);
  if (rt.fault?.abort)
    lines.push(`  fault     abort ${rt.fault.abort.status} for ${rt.fault.abort.percent} % of requests`);
  for (const m of rt.mirrors)
    lines.push(`  mirror    ${m.percent} % to ${m.host}:${m.port}${m.subset ? ` subset ${m.subset}` : ''}`);
  if (rt.rewrite) {
    lines.push(
      `  rewrite   ${[rt.rewrite.uri !== undefined ? `uri ${rt.rewrite.matchedPrefix !== undefined ? `${rt.rewrite.matchedPrefix} -> ` : ''}${rt.rewrite.uri}` : '', rt.rewrite.authority ? `authority ${rt.rewrite.authority}` : '', rt.rewrite.uriRegex ? `regex ${rt.rewrite.uriRegex.match} -> ${rt.rewrite.uriRegex.rewrite}` : ''].filter(Boolean).join(', ')}`,
    );
  }
  const edits = (label: string, ops: HeaderEdits['request']) => {
    const parts = [
      ...Object.entries(ops.set).map(([k, v]) => `set ${k}: ${v}`),
      ...Object.entries(ops.add).map(([k, v]) => `add ${k}: ${v}`),
      ...ops.remove.map((k) => `remove ${k}`),
    ];
    if (parts.length) lines.push(`  ${label} ${parts.join('; ')}`);
  };
  edits('request  ', rt.headers.request);
  edits('response ', rt.headers.response);
  if (rt.cors) {
    const origins = rt.cors.policy.allowOrigins.map((m) =>
      m.exact !== undefined ? m.exact : m.prefix !== undefined ? `${m.prefix}*` : `regex ${m.regex}`,
    );
    const effect = {
      'not-cors': 'no Origin header, not a CORS request',
      'preflight-answered': 'preflight answered by the proxy (200)',
      'preflight-forwarded': 'origin not allowed, preflight forwarded',
      'response-headers': 'origin allowed, CORS headers added to the response',
      'origin-not-allowed': 'origin not allowed, response unchanged',
    }[rt.cors.effect];
    lines.push(`  cors      origins ${origins.join(', ') || 'none'}; ${effect}`);
    for (const [k, v] of Object.entries(rt.cors.headers ?? {})) lines.push(`            ${k}: ${v}`);
  }

  for (const d of rt.destinations) {
    lines.push('');
    lines.push(`cluster     ${d.clusterKey}`);
    if (!d.cluster) {
      lines.push('  (missing)');
      continue;
    }
    const p = d.cluster;
    const lb = p.loadBalancer.hash
      ? `${p.loadBalancer.kind} ${JSON.stringify(p.loadBalancer.hash)}`
      : p.loadBalancer.kind;
    lines.push(
      `  policy    ${lb}, tls ${p.tls}${p.destinationRule ? `, DestinationRule ${p.destinationRule}` : ''}`,
    );
    const cp = p.connectionPool;
    const limit = (n: number) => (n >= 4294967295 ? 'unlimited' : String(n));
    lines.push(
      `  pool      maxConnections ${limit(cp.maxConnections)}, http1MaxPendingRequests ${limit(cp.http1MaxPendingRequests)}, http2MaxRequests ${limit(cp.http2MaxRequests)}`,
    );
    if (p.outlierDetection) {
      const o = p.outlierDetection;
      lines.push(
        `  outlier   consecutive5xxErrors ${o.consecutive5xxErrors}, interval ${o.intervalMs} ms, baseEjectionTime ${o.baseEjectionTimeMs} ms, maxEjectionPercent ${o.maxEjectionPercent}`,
      );
    }
    if (d.endpoints.length === 0) lines.push('  endpoints none');
    for (const e of d.endpoints) {
      const policy = e.authorization.policy ? ` by ${e.authorization.policy}` : '';
      lines.push(
        `  endpoint  ${e.pod} port ${e.port} ${e.transport}, server ${e.mtls.mode}${e.mtls.policy ? ` (${e.mtls.policy})` : ''}, ${e.outcome}${e.outcome === 'denied' || e.authorization.policy ? policy : ''}`,
      );
    }
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `tsmesh demo`: runs bookinfo, sends a few hundred requests from the sleep pod, prints what the
 * mesh did (the reviews split per version, jason's requests, the mTLS identities each service
 * saw) and stops cleanly. Works as root (network namespaces) and without (loopback fallback).
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadSummary } from '../load.js';
import { readManifests } from '../manifests.js';
import { EXIT, findPod } from '../mesh-ref.js';
import { requestTotals } from '../metrics.js';
import { loadFromPod } from '../pod-exec.js';
import { LocalMesh } from '../runner.js';
import { table } from '../table.js';
import type { LocalMode } from '../topology.js';
import { validateConfig } from './validate.js';

export interface DemoOptions {
  paths: string[];
  requests: number;
  mode?: LocalMode | 'auto';
  keepLogs?: boolean;
}

/** The reviews version a response came from: v1 has no stars, v2 black ones, v3 red ones. */
export function reviewsVersion(body: string): string {
  try {
    const r = JSON.parse(body) as { reviews?: { rating?: { color?: string; error?: string } }[] };
    const rating = r.reviews?.[0]?.rating;
    if (!rating) return 'v1';
    if (rating.error) return 'v2/v3 (ratings unavailable)';
    return rating.color === 'red' ? 'v3' : 'v2';
  } catch {
    return 'not reviews';
  }
}

export function versionShares(summary: LoadSummary): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const b of summary.bodies) {
    const key = b.status === 200 ? reviewsVersion(b.body) : `HTTP ${b.status}`;
    counts[key] = (counts[key] ?? 0) + b.count;
  }
  for (const [code, n] of Object.entries(summary.errors)) counts[`error ${code}`] = n;
  return counts;
}

const pct = (n: number, total: number) => `${((100 * n) / Math.max(total, 1)).toFixed(1)} %`;

function configuredSplit(paths: string[]): string | undefined {
  try {
    const vs = readManifests(paths).objects.find(
      ({ object }) => object.kind === 'VirtualService' && object.metadata.name === 'reviews',
    )?.object;
    const rules = (vs?.spec?.http ?? []) as {
      match?: unknown;
      route?: { destination: { subset?: string }; weight?: number }[];
    }[];
    const split = rules.find((r) => !r.match && (r.route?.length ?? 0) > 1);
    if (!split?.route) return undefined;
    return split.route.map((d) => `${d.destination.subset ?? '-'} ${d.weight ?? 0} %`).join(', ');
  } catch {
    return undefined;
  }
}

export async function demo(o: DemoOptions): Promise<number> {
  const out = process.stdout;
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-demo-'));
  const logFile = join(dir, 'mesh.log');
  const log = createWriteStream(logFile);
  const mesh = new LocalMesh({
    paths: o.paths,
    stateDir: join(dir, '.tsmesh'),
    mode: o.mode,
    out: log,
    color: false,
    validate: validateConfig,
  });
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) void mesh.stop(true);
    interrupted = true;
    out.write('\nstopping...\n');
    void mesh.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  out.write(`tsmesh demo: starting ${o.paths.join(' ')} (control plane, sidecars, apps)...\n`);
  let code: number = EXIT.ok;
  try {
    const state = await mesh.start();
    out.write(
      `  ${state.pods.length} pods ready in ${((Date.now() - started) / 1000).toFixed(1)} s, ${
        state.mode === 'netns'
          ? 'each in its own network namespace with transparent capture (root)'
          : 'on loopback addresses with the sidecar as explicit HTTP proxy (no root)'
      }\n\n`,
    );
    const sleep = findPod(state, 'sleep');
    const n = o.requests;
    const split = await loadFromPod(state, sleep, {
      url: 'http://reviews:9080/reviews/0',
      requests: n,
      concurrency: 8,
    });
    const shares = versionShares(split);
    const configured = configuredSplit(o.paths);
    out.write(
      `reviews split over ${n} requests from sleep${configured ? ` (configured: ${configured})` : ''}:\n`,
    );
    for (const [version, count] of Object.entries(shares).sort()) {
      out.write(
        `  ${version.padEnd(8)} ${pct(count, n).padStart(7)}  ${'█'.repeat(Math.round((40 * count) / n))}\n`,
      );
    }
    const jasonN = Math.max(20, Math.round(n / 8));
    const jason = versionShares(
      await loadFromPod(state, sleep, {
        url: 'http://reviews:9080/reviews/0',
        requests: jasonN,
        concurrency: 4,
        headers: { 'end-user': 'jason' },
      }),
    );
    out.write(
      `\nend-user: jason, ${jasonN} requests: ${Object.entries(jason)
        .map(([v, c]) => `${v} ${pct(c, jasonN)}`)
        .join(', ')}\n`,
    );
    const pageN = Math.max(20, Math.round(n / 8));
    const page = await loadFromPod(state, sleep, {
      url: 'http://productpage:9080/productpage?u=normal',
      requests: pageN,
      concurrency: 4,
    });
    out.write(
      `productpage, ${pageN} requests (productpage → details, reviews → ratings): ${Object.entries(
        page.statuses,
      )
        .map(([s, c]) => `HTTP ${s} × ${c}`)
        .concat(Object.entries(page.errors).map(([e, c]) => `${e} × ${c}`))
        .join(', ')}\n`,
    );
    const totals = await requestTotals(state);
    const seen = new Map<string, number>();
    for (const s of totals) {
      if (s.labels.reporter !== 'destination') continue;
      const key = [
        s.labels.destination_workload ?? s.pod,
        s.labels.source_principal ?? 'unknown',
        s.labels.connection_security_policy ?? 'unknown',
      ].join('\u0000');
      seen.set(key, (seen.get(key) ?? 0) + s.value);
    }
    out.write('\nmTLS identities the services saw (from the server sidecars metrics):\n');
    const rows = [...seen.entries()]
      .map(([k, v]) => [...k.split('\u0000'), String(v)])
      .sort((a, b) => a.join().localeCompare(b.join()));
    out.write(
      table(['service', 'caller identity', 'security', 'requests'], rows)
        .split('\n')
        .map((l) => (l ? `  ${l}` : l))
        .join('\n'),
    );
  } catch (e) {
    if (!interrupted) {
      out.write(`\ntsmesh demo failed: ${(e as Error).message}\nmesh log: ${logFile}\n`);
      code = EXIT.failed;
    }
  } finally {
    await mesh.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await new Promise((r) => log.end(r));
  }
  out.write(`\nstopped cleanly in ${((Date.now() - started) / 1000).toFixed(1)} s total.\n`);
  if (code === EXIT.ok && !o.keepLogs) rmSync(dir, { recursive: true, force: true });
  else out.write(`mesh log kept in ${logFile}\n`);
  return code;
}

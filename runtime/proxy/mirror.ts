/**
 * Traffic mirroring (VirtualService `mirror` / `mirrors` with `mirrorPercentage`): for the given
 * share of requests a copy goes to the mirror destination, fire and forget. The copy keeps the
 * authority (current Istio; older versions appended `-shadow`), is marked not trace-sampled,
 * and its response is read and discarded. It never slows or fails the primary request: it is
 * sent only after the primary's body is buffered, goes through the mirror cluster's own pool
 * and limits, and every failure is swallowed (counted in the mirror cluster's stats).
 *
 * Request bodies larger than the retry buffer are streamed to the primary once and so cannot
 * be copied: such requests are not mirrored.
 */
import type { MirrorPolicy } from '../../lib/routing/types.js';
import type { RequestBody } from './body.js';
import type { ActiveConfig } from './config.js';
import { AbortHandle, discardBody } from './upstream/client.js';

export interface MirroredRequest {
  method: string;
  /** Path with query, as sent to the primary. */
  path: string;
  /** Flat header list as sent to the primary (Host included). */
  headers: readonly string[];
  body: RequestBody;
}

/** Longest a mirrored request may take before it is cancelled. */
export const MIRROR_TIMEOUT_MS = 30_000;

/** Marks the copy as not sampled, so it never produces spans of its own. */
function unsampled(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    let value = headers[i + 1];
    if (name === 'traceparent' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value)) {
      value = `${value.slice(0, -2)}00`;
    } else if (name === 'x-b3-sampled') value = '0';
    else if (name === 'b3') {
      const parts = value.split('-');
      if (parts.length >= 3) parts[2] = '0';
      value = parts.join('-');
    }
    out.push(headers[i], value);
  }
  return out;
}

/**
 * Sends the copies a decision's mirrors ask for. Returns the number of copies started (for
 * tests and counters); never throws and never waits.
 */
export function mirrorRequest(
  cfg: ActiveConfig,
  mirrors: readonly MirrorPolicy[],
  req: MirroredRequest,
  random: () => number,
): number {
  if (mirrors.length === 0 || req.body.kind === 'stream') return 0;
  let started = 0;
  for (const m of mirrors) {
    if (!(random() * 100 < m.percent)) continue;
    const cluster = cfg.clusters.get(m.clusterKey);
    const ep = cluster?.pick(undefined, random);
    if (!cluster || !ep) continue;
    const handle = new AbortHandle();
    const admission = cluster.admit();
    if (admission === 'overflow') continue;
    const send = () => {
      ep.active++;
      cluster.stats.requests++;
      const timer = setTimeout(() => handle.abort(), MIRROR_TIMEOUT_MS);
      timer.unref();
      const finish = () => {
        clearTimeout(timer);
        ep.active--;
        cluster.release();
      };
      ep.client()
        .request({
          method: req.method,
          path: req.path,
          headers: unsampled(req.headers),
          body: req.body.kind === 'buffered' ? req.body.data : undefined,
          signal: handle,
        })
        .then(
          (res) => {
            cluster.report(ep, res.statusCode);
            res.body.once('close', finish);
            res.body.once('error', () => undefined);
            discardBody(res.body);
          },
          () => {
            cluster.report(ep, 0);
            cluster.stats.connectFailures++;
            finish();
          },
        );
    };
    if (admission === 'ok') send();
    else void admission.then((a) => (a === 'ok' ? send() : undefined));
    started++;
  }
  return started;
}

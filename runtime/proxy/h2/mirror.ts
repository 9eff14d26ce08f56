/**
 * Mirroring for HTTP/2 and gRPC requests, with the same rules as HTTP/1.1 (../mirror.ts): once the
 * request body has ended within the replay buffer, a copy goes to each mirror destination picked
 * by `mirrorPercentage`, fire and forget, authority unchanged, trace flags set to not sampled,
 * response read and discarded, failures swallowed. Copies go over the mirror cluster's pooled
 * HTTP/2 sessions.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { MirrorPolicy } from '../../../lib/routing/types.js';
import type { H2Upstream } from './forward.js';
import { H2 } from './http2.js';

export const H2_MIRROR_TIMEOUT_MS = 30_000;

function unsampled(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  const tp = out.traceparent;
  if (typeof tp === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(tp))
    out.traceparent = `${tp.slice(0, -2)}00`;
  if (out['x-b3-sampled'] !== undefined) out['x-b3-sampled'] = '0';
  if (typeof out.b3 === 'string') {
    const parts = out.b3.split('-');
    if (parts.length >= 3) parts[2] = '0';
    out.b3 = parts.join('-');
  }
  return out;
}

/** Sends the copies; returns how many were started. Never throws, never waits. */
export function mirrorH2(
  mirrors: readonly MirrorPolicy[],
  upstreamFor: (clusterKey: string) => H2Upstream | undefined,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  random: () => number,
): number {
  let started = 0;
  for (const m of mirrors) {
    if (!(random() * 100 < m.percent)) continue;
    const upstream = upstreamFor(m.clusterKey);
    const ep = upstream?.pick(new Set());
    const cluster = upstream?.cluster;
    if (!upstream || !ep || !cluster) continue;
    if (cluster.admit() !== 'ok') continue;
    try {
      const pooled = upstream.session(ep);
      const stream = pooled.session.request(unsampled(headers), { endStream: body.length === 0 });
      const timer = setTimeout(() => stream.close(H2.NGHTTP2_CANCEL), H2_MIRROR_TIMEOUT_MS);
      timer.unref();
      ep.active++;
      cluster.stats.requests++;
      stream.on('error', () => undefined);
      stream.on('response', (h) => cluster.report(ep, Number(h[':status'])));
      stream.on('data', () => undefined);
      stream.once('close', () => {
        clearTimeout(timer);
        ep.active--;
        cluster.release();
      });
      if (body.length > 0) stream.end(body);
      started++;
    } catch {
      cluster.release();
    }
  }
  return started;
}

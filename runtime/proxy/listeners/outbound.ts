/**
 * The outbound listener (15001): requests the local app sends, captured by iptables REDIRECT
 * (origin-form, routed by Host as Envoy does) or sent to us as an explicit HTTP proxy
 * (absolute-form). Pipeline: hygiene + normalization → lib/routing decision → CORS → fault → rewrite
 * and header edits → forward (balancer, pool limits, retries, timeout) → telemetry.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import type { RouteDecision } from '../../../lib/routing/types.js';
import type { ProxyContext } from '../context.js';
import { localReply } from '../exchange.js';
import { filterRequestHeaders } from '../hygiene.js';
import { type SpanRecord, TRACE_HEADER_NAMES } from '../telemetry/index.js';
import { prepareOrReject, routeRequest, startExchange, tagRequest } from './prepare.js';
import { recordOutbound } from './records.js';
import { dispatchDecision, type RouteForwarding } from './route-forward.js';

/** Marks requests a proxy sent, to detect one coming back to the same proxy. */
export const LOOP_HEADER = 'x-tsmesh-hop';

export function createOutboundHandler(
  ctx: ProxyContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  const trusted = new Set(ctx.options.trustedAppHeaders.map((h) => h.toLowerCase()));
  // Every request this proxy sends carries its instance id; one that comes back to its own
  // outbound listener (a Host naming the proxy itself, passed through) is a loop, refused at once
  // instead of multiplying until file descriptors run out.
  const hopId = randomUUID();
  const via: RouteForwarding = { listener: 'outbound', egress: ctx.egress, closeConnection: undefined };
  return (req, res) => {
    const ex = startExchange(ctx, req);
    const cfg = ctx.config();
    let span: SpanRecord | undefined;
    let decision: RouteDecision | undefined;
    const finish = () => recordOutbound(ctx, cfg, ex, decision, span);
    const prepared = prepareOrReject(ctx, cfg, req, res, ex);
    if (prepared === undefined || cfg === undefined) {
      finish();
      return;
    }
    if (req.headers[LOOP_HEADER] === hopId) {
      ctx.counters.hygieneRejections++;
      localReply(res, ex, 508, 'request loops back to this proxy', { close: true });
      finish();
      return;
    }
    const filtered = filterRequestHeaders(req.rawHeaders, {
      allowInternal: trusted,
      dropHost: true,
      drop: TRACE_HEADER_NAMES,
    });
    const headers = filtered.list;
    headers.push(LOOP_HEADER, hopId);
    span = tagRequest(ctx, ex, headers, req.headers, req.headers[HEADERS.requestId], 'source');
    decision = routeRequest(ctx, cfg, req, ex, prepared, prepared.port ?? 80, 'http');
    dispatchDecision(ctx, cfg, req, res, ex, prepared, decision, headers, filtered.trusted, via, finish);
  };
}

/**
 * A gateway listener's request path, for requests from outside the mesh: hygiene and
 * normalization → the Gateway server that accepts the Host (none: 404 `NR`) → edge headers
 * (forwarded facts set from the connection, mesh-internal headers from the client dropped) →
 * the gateway-mode route table (VirtualServices bound to the Gateway) → fault, redirect,
 * rewrite and header edits → the core's forwarder into the mesh (mTLS as the gateway's own
 * identity, verifying the destination's) → telemetry as the source side.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import type { RouteDecision } from '../../../lib/routing/types.js';
import type { ProxyContext } from '../context.js';
import { LOCAL_REPLY, localReply } from '../exchange.js';
import { filterRequestHeaders } from '../hygiene.js';
import { prepareOrReject, routeRequest, startExchange, tagRequest } from '../listeners/prepare.js';
import { recordOutbound } from '../listeners/records.js';
import { dispatchDecision, NO_TRUSTED_HEADERS, type RouteForwarding } from '../listeners/route-forward.js';
import { type SpanRecord, TRACE_HEADER_NAMES } from '../telemetry/index.js';
import { applyEdgeHeaders } from './edge-headers.js';
import { type GatewayListenerSpec, serverFor } from './servers.js';

export interface GatewayListenerView {
  /** The listener's current spec (it changes with snapshots); undefined once removed. */
  spec(): GatewayListenerSpec | undefined;
  scheme: 'http' | 'https';
}

export function createGatewayHandler(
  ctx: ProxyContext,
  view: GatewayListenerView,
): (req: IncomingMessage, res: ServerResponse) => void {
  const via: RouteForwarding = {
    listener: 'gateway',
    egress: undefined,
    closeConnection: () => ctx.draining(),
  };
  return (req, res) => {
    const ex = startExchange(ctx, req);
    const cfg = ctx.config();
    let span: SpanRecord | undefined;
    let decision: RouteDecision | undefined;
    const finish = () => recordOutbound(ctx, cfg, ex, decision, span);
    const spec = view.spec();
    if (!spec) {
      localReply(res, ex, 503, LOCAL_REPLY.notReady);
      finish();
      return;
    }
    const prepared = prepareOrReject(ctx, cfg, req, res, ex);
    if (prepared === undefined || cfg === undefined) {
      finish();
      return;
    }
    const server = serverFor(spec, prepared.host);
    if (!server) {
      // No server of this port accepts the host: Envoy has no virtual host for it.
      ex.flag('NR');
      req.resume();
      localReply(res, ex, 404, '');
      finish();
      return;
    }
    // Nothing mesh-internal from outside: no allow-list at the edge.
    const headers = filterRequestHeaders(req.rawHeaders, { dropHost: true, drop: TRACE_HEADER_NAMES }).list;
    applyEdgeHeaders(headers, {
      clientAddress: req.socket.remoteAddress,
      scheme: view.scheme,
      authority: prepared.authority,
    });
    span = tagRequest(ctx, ex, headers, req.headers, req.headers[HEADERS.requestId], 'source');
    decision = routeRequest(ctx, cfg, req, ex, prepared, spec.port, view.scheme);
    // Mesh-internal headers are never honoured from outside; no egress passthrough at the edge.
    dispatchDecision(ctx, cfg, req, res, ex, prepared, decision, headers, NO_TRUSTED_HEADERS, via, finish);
  };
}

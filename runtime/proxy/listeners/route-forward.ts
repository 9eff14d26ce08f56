/**
 * A routed request's way upstream, shared by the outbound listener and gateways: CORS, fault
 * injection, rewrite and header edits, the request body (buffered when a retry or a mirror may
 * resend it), mirrors, then the forwarder to the chosen cluster or, outbound only, egress
 * passthrough to the original destination. Also the local answers both listeners give.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HEADERS } from '../../../lib/constants.js';
import type { HeaderOperationsResolved, RedirectPolicy, RouteDecision } from '../../../lib/routing/types.js';
import { hasBody, NO_BODY, readBody } from '../body.js';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { applyCors } from '../cors.js';
import type { Egress } from '../egress/egress.js';
import { type Exchange, LOCAL_REPLY, localReply } from '../exchange.js';
import { forward } from '../forward.js';
import { hasHeader, removeHeader, setHeader } from '../hygiene.js';
import { mirrorRequest } from '../mirror.js';
import { encodePeerMetadata } from '../telemetry/index.js';
import { hashKeyFor, withCookieEdit } from '../upstream/consistent-hash.js';
import { firstValues, type PreparedRequest } from './prepare.js';

const NO_HASH: ReturnType<typeof hashKeyFor> = Object.freeze({});

/** No mesh-internal header is honoured from this sender (gateways). */
export const NO_TRUSTED_HEADERS: ReadonlyMap<string, string> = new Map();

/** Applies route header edits (set replaces, add appends, remove deletes) to a flat list. */
export function applyRequestEdits(list: string[], ops: HeaderOperationsResolved): void {
  for (const name of ops.remove) removeHeader(list, name);
  for (const name in ops.set) setHeader(list, name, ops.set[name]);
  for (const name in ops.add) list.push(name, ops.add[name]);
}

/** The path after a `rewrite.uri` (prefix replacement when the rule matched a prefix). */
export function rewritePath(path: string, decision: RouteDecision): string {
  const rw = decision.rewrite;
  if (!rw || rw.uri === undefined) return path;
  if (rw.matchedPrefix !== undefined && path.startsWith(rw.matchedPrefix)) {
    return rw.uri + path.slice(rw.matchedPrefix.length);
  }
  return rw.uri;
}

/** Answers a route's redirect (no body; the request body, if any, is discarded). */
export function replyRedirect(
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  r: RedirectPolicy,
): void {
  ex.status = r.status;
  req.resume();
  res.writeHead(r.status, {
    location: r.location,
    'content-length': 0,
    'x-request-id': ex.requestId ?? '',
  });
  res.end();
}

/** How a listener forwards (one object per listener, not per request). */
export interface RouteForwarding {
  /** The listener's name in logs. */
  listener: 'outbound' | 'gateway';
  /** Egress passthrough to the original destination; undefined at gateways. */
  egress: Egress | undefined;
  /** Asks for `Connection: close` on the response (gateways while draining). */
  closeConnection: (() => boolean) | undefined;
}

/**
 * Carries out a routing decision at the outbound listener or a gateway: the answers the proxy
 * gives itself (404 `NR`, redirect, direct response, egress blackhole), else forwardRoute. Calls
 * `finish` once the response is over; a failure of the proxy itself is logged and answered 500.
 */
export function dispatchDecision(
  ctx: ProxyContext,
  cfg: ActiveConfig,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  prepared: PreparedRequest,
  decision: RouteDecision,
  headers: string[],
  trusted: ReadonlyMap<string, string>,
  via: RouteForwarding,
  finish: () => void,
): void {
  let pending: Promise<void>;
  try {
    if (answerLocally(req, res, ex, prepared.host, decision, via.egress)) {
      finish();
      return;
    }
    pending = forwardRoute(ctx, cfg, req, res, ex, prepared, decision, headers, trusted, via);
  } catch (err) {
    pending = Promise.reject(err);
  }
  pending.then(finish, (err) => {
    ctx.options.log('error', `${via.listener} request failed: ${(err as Error).stack ?? err}`);
    localReply(res, ex, 500, 'internal proxy error');
    finish();
  });
}

/** Gives the answers the proxy gives itself; false for a route (or passthrough with egress). */
function answerLocally(
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  host: string,
  decision: RouteDecision,
  egress: Egress | undefined,
): boolean {
  switch (decision.kind) {
    case 'route':
      return false;
    case 'redirect':
      replyRedirect(req, res, ex, decision.redirect!);
      return true;
    case 'direct-response': {
      const d = decision.directResponse!;
      req.resume();
      localReply(res, ex, d.status, d.body ?? '');
      return true;
    }
    case 'passthrough':
      if (egress) return false;
      break;
    case 'blackhole':
      if (egress) {
        egress.blackhole(req, res, ex, host);
        return true;
      }
      break;
    default:
      // no-route: a VirtualService serves the host (at a gateway: is bound to the gateway and
      // serves it) but none of its rules matched.
      ex.flag('NR');
      req.resume();
      localReply(res, ex, 404, '');
      return true;
  }
  // An unknown host without egress handling (never at a gateway: its unknown hosts are no-route).
  ex.flag('NR');
  req.resume();
  localReply(res, ex, 502, `no route to unknown host ${host}`);
  return true;
}

/**
 * Carries out a `route` (or, with egress, `passthrough`) decision. Resolves when the response is
 * over; the exchange holds status, flags and counters for telemetry.
 */
async function forwardRoute(
  ctx: ProxyContext,
  cfg: ActiveConfig,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  prepared: PreparedRequest,
  decision: RouteDecision,
  headers: string[],
  /** Mesh-internal headers this request's sender may set (the outbound allow-list), by name. */
  trusted: ReadonlyMap<string, string>,
  via: RouteForwarding,
): Promise<void> {
  const random = ctx.options.random;
  // CORS acts before the fault filter, as in Envoy: a preflight it answers never goes upstream.
  let responseEdits = decision.headers.response;
  if (decision.cors !== undefined) {
    const edits = applyCors(decision.cors, req, res, ex, responseEdits);
    if (edits === false) return;
    responseEdits = edits;
  }
  // Fault injection acts before forwarding: an abort is never retried, a delay does not count
  // against the route timeout.
  if (decision.fault && (await injectFault(decision, req, res, ex, random))) return;
  const cluster = decision.clusterKey ? cfg.clusters.get(decision.clusterKey) : undefined;
  // To the original destination: an unknown host under ALLOW_ANY, or a ServiceEntry host with
  // resolution NONE and no endpoints (egress/egress.ts).
  const egress = via.egress;
  const original =
    egress !== undefined &&
    (decision.kind === 'passthrough' ||
      (cluster?.cluster.loadBalancer.kind === 'PASSTHROUGH' && cluster.cluster.endpoints.length === 0));
  if (!cluster && !original) {
    ex.flag('UH');
    req.resume();
    localReply(res, ex, 503, LOCAL_REPLY.noHealthyUpstream);
    return;
  }
  const path = rewritePath(prepared.path, decision);
  const target = prepared.query ? `${path}?${prepared.query}` : path;
  applyRequestEdits(headers, decision.headers.request);
  headers.push('host', decision.rewrite?.authority ?? prepared.authority);
  if (cluster?.hasMeshedEndpoints) {
    headers.push(HEADERS.peerMetadata, encodePeerMetadata(cfg.localFacts));
  }
  if (!hasHeader(headers, 'x-forwarded-proto')) headers.push('x-forwarded-proto', 'http');
  let timeoutMs = decision.timeoutMs;
  const override = trusted.get(HEADERS.upstreamTimeout);
  if (override !== undefined && /^[0-9]{1,9}$/.test(override))
    timeoutMs = Number(override) === 0 ? null : Number(override);
  let body = NO_BODY;
  if (hasBody(req)) {
    try {
      // Buffered when something may send it again: a retry, or a mirror copy (mirror.ts).
      const replay = decision.retries.attempts > 0 || decision.mirrors.length > 0;
      body = await readBody(req, replay ? ctx.options.retryBufferBytes : 0, (n) => {
        ex.requestBytes += n;
      });
    } catch {
      ex.flag('DC');
      return;
    }
  }
  if (decision.mirrors.length > 0)
    mirrorRequest(cfg, decision.mirrors, { method: ex.method, path: target, headers, body }, random);
  if (original || !cluster) {
    await egress!.passthrough(req, res, ex, {
      host: prepared.host,
      port: prepared.port ?? 80,
      method: ex.method,
      path: target,
      headers,
      body,
      timeoutMs,
      random,
    });
    return;
  }
  const lb = cluster.cluster.loadBalancer;
  const hash =
    lb.kind === 'CONSISTENT_HASH'
      ? hashKeyFor(lb, {
          headers: firstValues(req),
          sourceAddress: req.socket.remoteAddress,
          query: prepared.query,
        })
      : NO_HASH;
  await forward(
    req,
    res,
    {
      cluster,
      method: ex.method,
      path: target,
      headers,
      body,
      retry: decision.retries,
      timeoutMs,
      responseEdits: withCookieEdit(responseEdits, hash.responseEdits),
      random,
      hashKey: hash.key,
      closeConnection: via.closeConnection,
    },
    ex,
  );
}

/**
 * Fault injection, before forwarding: an abort is never retried, a delay does not count against
 * the route timeout. Returns true when the request is finished (aborted, or the client left
 * during the delay).
 */
export async function injectFault(
  decision: RouteDecision,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  random: () => number,
): Promise<boolean> {
  const fault = decision.fault;
  if (fault?.abort && random() * 100 < fault.abort.percent) {
    ex.flag('FI');
    req.resume();
    localReply(res, ex, fault.abort.status, LOCAL_REPLY.faultAbort);
    return true;
  }
  if (fault?.delay && random() * 100 < fault.delay.percent) {
    ex.flag('DI');
    const ms = fault.delay.ms;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      res.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
    if (res.destroyed || res.writableEnded) {
      ex.flag('DC');
      return true;
    }
  }
  return false;
}

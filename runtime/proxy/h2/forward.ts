/**
 * Forwards one HTTP/2 stream to an upstream over a pooled HTTP/2 session and relays the answer
 * back, trailers included (gRPC status and custom trailing metadata survive end to end).
 *
 * Per attempt: endpoint choice and connection-pool admission (the cluster's limits), the
 * request headers, the body (streamed as it arrives; up to `replayBytes` kept so a retry can
 * resend it), then the response headers, data and trailers with backpressure both ways.
 * Streams an upstream refused without processing them (REFUSED_STREAM, also what a GOAWAY
 * leaves unsent) are resent on a fresh session transparently; other failures follow the
 * route's retry policy. The route timeout (capped by `grpc-timeout`) answers 504 `UT`; a
 * downstream reset cancels the upstream stream (flag `DC`).
 */
import type {
  ClientHttp2Stream,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Stream,
} from 'node:http2';
import type { HeaderOperationsResolved, RetryPolicy } from '../../../lib/routing/types.js';
import { Exchange, LOCAL_REPLY } from '../exchange.js';
import { backoffMs } from '../forward.js';
import type { RecordProtocol } from '../listeners/records.js';
import type { UpstreamCluster, UpstreamEndpoint } from '../upstream/cluster.js';
import { H2 } from './http2.js';
import { localReplyH2 } from './reply.js';
import type { PooledSession } from './sessions.js';

/** An exchange that also knows the gRPC status of the response. */
export class H2Exchange extends Exchange {
  grpcStatus: string | undefined;
  grpc = false;

  /** The protocol facts for its telemetry record. */
  protocol(): RecordProtocol {
    return { http: 'HTTP/2', grpc: this.grpc, grpcStatus: this.grpcStatus ?? '' };
  }
}

/** Where a forward sends its attempts: a mesh cluster, or the local app. */
export interface H2Upstream {
  readonly key: string;
  /** undefined: no healthy endpoint. */
  pick(tried: ReadonlySet<UpstreamEndpoint>): UpstreamEndpoint | undefined;
  session(ep: UpstreamEndpoint): PooledSession;
  /** Connection-pool admission; absent = unlimited. */
  cluster?: UpstreamCluster;
}

export interface H2ForwardPlan {
  upstream: H2Upstream;
  /** Request headers including `:method`, `:path`, `:authority`, `:scheme`. */
  headers: OutgoingHttpHeaders;
  retry: RetryPolicy;
  timeoutMs: number | null;
  responseEdits?: HeaderOperationsResolved;
  random: () => number;
  /** Request body bytes kept for a resend. */
  replayBytes: number;
  /** Called once with the whole request body when it ended within `replayBytes` (mirroring). */
  onBufferedBody?: (body: Buffer) => void;
}

/** Times a refused (never processed) stream is resent on a fresh session. */
const MAX_REFUSED_RESENDS = 3;

const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

function responseHeaders(
  h: IncomingHttpHeaders,
  edits: HeaderOperationsResolved | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in h) {
    if (name.startsWith(':') || RESPONSE_DROP.has(name)) continue;
    out[name] = h[name];
  }
  if (edits) {
    for (const name of edits.remove) delete out[name];
    for (const name in edits.set) out[name] = edits.set[name];
    for (const name in edits.add) {
      const prev = out[name];
      out[name] =
        prev === undefined
          ? edits.add[name]
          : [...(Array.isArray(prev) ? prev : [String(prev)]), edits.add[name]];
    }
  }
  return out;
}

function trailerHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in h) if (!name.startsWith(':')) out[name] = h[name];
  return out;
}

function grpcRetriable(policy: RetryPolicy, grpcStatus: string | undefined): boolean {
  const on = policy.retryOn;
  switch (grpcStatus) {
    case '14':
      return on.has('unavailable');
    case '1':
      return on.has('cancelled');
    case '4':
      return on.has('deadline-exceeded');
    case '8':
      return on.has('resource-exhausted');
    case '13':
      return on.has('internal');
    default:
      return false;
  }
}

function statusRetriable(policy: RetryPolicy, status: number): boolean {
  const on = policy.retryOn;
  if (on.has('5xx') && status >= 500) return true;
  if (on.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  return policy.retriableStatusCodes.has(status);
}

/** Runs the plan; resolves when the downstream stream is finished or cut short. */
export function forwardH2(down: ServerHttp2Stream, plan: H2ForwardPlan, ex: H2Exchange): Promise<void> {
  return new Promise<void>((resolveDone) => {
    const { upstream, retry } = plan;
    ex.upstreamCluster = upstream.key;
    const grpc = ex.grpc;
    const replay: Buffer[] = [];
    let replaySize = 0;
    let replayable = true;
    let downEnded = false;
    let attempt = 0;
    let refusedResends = 0;
    let finished = false;
    let responded = false;
    /** The whole response was handed to the downstream stream. */
    let responseComplete = false;
    let current: ClientHttp2Stream | undefined;
    let releaseCurrent: (() => void) | undefined;
    let routeTimer: NodeJS.Timeout | undefined;
    let backoffTimer: NodeJS.Timeout | undefined;
    const tried = new Set<UpstreamEndpoint>();
    const maxAttempts = 1 + Math.max(0, retry.attempts);

    const done = () => {
      if (finished) return;
      finished = true;
      if (routeTimer) clearTimeout(routeTimer);
      if (backoffTimer) clearTimeout(backoffTimer);
      releaseCurrent?.();
      resolveDone();
    };
    const fail = (status: number, body: string, headers?: Record<string, string>) => {
      if (current && !current.closed) current.close(H2.NGHTTP2_CANCEL);
      localReplyH2(down, ex, status, body, { grpc, headers });
      done();
    };

    // The request body: forwarded as it arrives, kept for resends while it fits.
    down.on('data', (chunk: Buffer) => {
      ex.requestBytes += chunk.length;
      if (replayable) {
        replaySize += chunk.length;
        if (replaySize <= plan.replayBytes) replay.push(chunk);
        else {
          replayable = false;
          replay.length = 0;
        }
      }
      if (current && !current.closed && !current.write(chunk)) {
        down.pause();
        current.once('drain', () => down.resume());
      }
    });
    down.on('end', () => {
      downEnded = true;
      if (current && !current.closed) current.end();
      if (replayable && plan.onBufferedBody) plan.onBufferedBody(Buffer.concat(replay, replaySize));
    });
    down.on('close', () => {
      if (finished) return;
      // Node ends a reset stream's writable side itself: `writableFinished` cannot tell a
      // complete response from one the client cut short.
      if (!responseComplete) ex.flag('DC');
      if (current && !current.closed) current.close(H2.NGHTTP2_CANCEL);
      done();
    });
    down.on('error', () => undefined);
    down.pause();

    if (plan.timeoutMs !== null && plan.timeoutMs > 0) {
      routeTimer = setTimeout(() => {
        ex.flag('UT');
        if (upstream.cluster) upstream.cluster.stats.timeouts++;
        if (responded) {
          if (current && !current.closed) current.close(H2.NGHTTP2_CANCEL);
          if (!down.closed) down.close(H2.NGHTTP2_CANCEL);
          done();
        } else fail(504, LOCAL_REPLY.timeout);
      }, plan.timeoutMs);
    }

    /** A body already streamed beyond the replay buffer cannot be sent again. */
    const canResend = () => replayable || (replaySize === 0 && !downEnded);

    const retryOrFail = (canRetry: boolean, onFinal: () => void) => {
      if (canRetry && attempt < maxAttempts && canResend() && !finished) {
        ex.retries++;
        upstream.cluster?.countRetry();
        backoffTimer = setTimeout(next, backoffMs(retry.backoffBaseMs, attempt, plan.random));
        return;
      }
      if (canRetry && retry.attempts > 0) ex.flag('URX');
      onFinal();
    };

    const next = () => {
      if (finished) return;
      attempt++;
      const ep = upstream.pick(tried);
      if (!ep) {
        if (upstream.cluster) upstream.cluster.stats.noHealthy++;
        ex.flag('UH');
        fail(503, LOCAL_REPLY.noHealthyUpstream);
        return;
      }
      const cluster = upstream.cluster;
      if (!cluster) return send(ep);
      const ac = new AbortController();
      down.once('close', () => ac.abort());
      const admission = cluster.admit(ac.signal);
      if (admission === 'ok') return send(ep);
      if (admission === 'overflow') {
        ex.flag('UO');
        fail(503, LOCAL_REPLY.overflow, { 'x-envoy-overloaded': 'true' });
        return;
      }
      admission.then((a) => {
        if (a !== 'ok') {
          if (!finished) {
            ex.flag('UO');
            fail(503, LOCAL_REPLY.overflow, { 'x-envoy-overloaded': 'true' });
          }
          return;
        }
        if (finished) cluster.release();
        else send(ep);
      });
    };

    const send = (ep: UpstreamEndpoint, resend = false) => {
      if (!resend) tried.add(ep);
      const cluster = upstream.cluster;
      let released = false;
      ep.active++;
      ep.requests++;
      if (cluster) cluster.stats.requests++;
      releaseCurrent = () => {
        if (released) return;
        released = true;
        ep.active--;
        cluster?.release();
      };
      const release = releaseCurrent;
      ex.upstreamHost = ep.hostPort;
      let pooled: PooledSession;
      try {
        pooled = upstream.session(ep);
      } catch (err) {
        release();
        onFailure(ep, 'connect', err as Error);
        return;
      }
      let up: ClientHttp2Stream;
      try {
        up = pooled.session.request(plan.headers, { endStream: false });
      } catch (err) {
        release();
        onFailure(ep, pooled.connected ? 'reset' : 'connect', err as Error);
        return;
      }
      current = up;
      for (const c of replay) up.write(c);
      if (downEnded) up.end();
      else down.resume();
      let gotHeaders = false;
      up.on('error', () => undefined);
      up.once('response', (headers, flags) => {
        gotHeaders = true;
        if (finished) return;
        const status = Number(headers[':status']);
        const endStream = (flags & H2.NGHTTP2_FLAG_END_STREAM) !== 0;
        const grpcStatus = typeof headers['grpc-status'] === 'string' ? headers['grpc-status'] : undefined;
        cluster?.report(ep, status);
        const retriable =
          statusRetriable(retry, status) || (grpc && endStream && grpcRetriable(retry, grpcStatus));
        if (retriable && attempt < maxAttempts && canResend()) {
          up.close(H2.NGHTTP2_CANCEL);
          release();
          retryOrFail(true, () => undefined);
          return;
        }
        if (retriable && retry.attempts > 0) ex.flag('URX');
        respond(up, headers, endStream, grpcStatus);
      });
      up.once('close', () => {
        if (finished || gotHeaders) {
          release();
          if (!finished && responded) finishResponse(up);
          return;
        }
        release();
        if (up.rstCode === H2.NGHTTP2_REFUSED_STREAM && refusedResends < MAX_REFUSED_RESENDS && canResend()) {
          // Never processed by the upstream (REFUSED_STREAM or beyond a GOAWAY): send it again.
          refusedResends++;
          send(ep, true);
          return;
        }
        onFailure(ep, pooled.connected ? 'reset' : 'connect', pooled.error);
      });
    };

    const onFailure = (ep: UpstreamEndpoint, kind: 'connect' | 'reset', _err: Error | undefined) => {
      const cluster = upstream.cluster;
      cluster?.report(ep, 0);
      if (cluster) {
        if (kind === 'connect') cluster.stats.connectFailures++;
        else cluster.stats.resets++;
      }
      const on = retry.retryOn;
      const canRetry =
        on.has('5xx') ||
        on.has('gateway-error') ||
        on.has('reset') ||
        (kind === 'connect' && on.has('connect-failure'));
      retryOrFail(canRetry, () => {
        if (kind === 'connect') {
          ex.flag('UF');
          fail(503, LOCAL_REPLY.connectFailure);
        } else {
          ex.flag('UC');
          fail(503, LOCAL_REPLY.connectionTermination);
        }
      });
    };

    let trailers: OutgoingHttpHeaders | undefined;
    const respond = (
      up: ClientHttp2Stream,
      headers: IncomingHttpHeaders,
      endStream: boolean,
      grpcStatus: string | undefined,
    ) => {
      responded = true;
      const status = Number(headers[':status']);
      ex.status = status;
      if (grpcStatus !== undefined) ex.grpcStatus = grpcStatus;
      const out = responseHeaders(headers, plan.responseEdits);
      if (ex.requestId && out['x-request-id'] === undefined) out['x-request-id'] = ex.requestId;
      try {
        if (endStream) {
          down.respond({ ':status': status, ...out }, { endStream: true });
          up.close();
          done();
          return;
        }
        down.respond({ ':status': status, ...out }, { waitForTrailers: true });
      } catch {
        up.close(H2.NGHTTP2_CANCEL);
        ex.flag('UPE');
        done();
        return;
      }
      down.on('wantTrailers', () => {
        try {
          down.sendTrailers(trailers ?? {});
        } catch {
          down.close();
        }
      });
      up.on('trailers', (t) => {
        trailers = trailerHeaders(t);
        if (typeof t['grpc-status'] === 'string') ex.grpcStatus = t['grpc-status'];
      });
      up.on('data', (chunk: Buffer) => {
        ex.responseBytes += chunk.length;
        if (!down.write(chunk)) {
          up.pause();
          down.once('drain', () => up.resume());
        }
      });
      up.on('end', () => finishResponse(up));
    };

    let responseFinished = false;
    const finishResponse = (up: ClientHttp2Stream) => {
      if (responseFinished || finished) return;
      responseFinished = true;
      if (up.rstCode !== undefined && up.rstCode !== H2.NGHTTP2_NO_ERROR && !up.readableEnded) {
        // The upstream reset mid-response: the client sees the stream reset.
        if (!ex.hasFlag('DC')) ex.flag('UC');
        down.close(H2.NGHTTP2_INTERNAL_ERROR);
        done();
        return;
      }
      responseComplete = true;
      down.end();
      down.once('close', done);
    };

    next();
  });
}

/**
 * Sends one downstream request to a cluster and streams the answer back: endpoint choice,
 * connection-pool admission, per-try timeout, retries with jittered exponential backoff to
 * another endpoint, the route timeout, outlier reporting, and the response flags of every
 * outcome. Nothing is retried once response bytes reached the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HeaderOperationsResolved, RetryPolicy } from '../../lib/routing/types.js';
import type { RequestBody } from './body.js';
import { type Exchange, LOCAL_REPLY, localReply } from './exchange.js';
import { filterResponseHeaders } from './hygiene.js';
import { pump } from './pump.js';
import { AbortHandle, discardBody, type UpstreamResponse } from './upstream/client.js';
import type { PendingAdmission, UpstreamCluster, UpstreamEndpoint } from './upstream/cluster.js';

export interface ForwardPlan {
  cluster: UpstreamCluster;
  method: string;
  /** Path with query, as sent upstream. */
  path: string;
  /** Flat header list, Host included. */
  headers: string[];
  body: RequestBody;
  retry: RetryPolicy;
  /** Route timeout (ms), null = none. */
  timeoutMs: number | null;
  responseEdits?: HeaderOperationsResolved;
  /** Extra response headers (e.g. x-request-id echo is not done; kept for callers). */
  random: () => number;
  /** Close the downstream connection after the response (draining). */
  closeConnection?: () => boolean;
  /** The request's key for consistent-hash balancing (upstream/consistent-hash.ts). */
  hashKey?: string;
}

export const NO_RETRY: RetryPolicy = {
  attempts: 0,
  perTryTimeoutMs: null,
  retryOn: new Set(),
  retriableStatusCodes: new Set(),
  backoffBaseMs: 25,
  source: 'disabled',
};

type Failure = 'connect' | 'reset' | 'per-try-timeout';

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'TSMESH_UPSTREAM_TLS',
]);

function classifyError(err: unknown): Failure {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code ?? '';
  if (CONNECT_ERRORS.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) return 'connect';
  const cause = e?.cause?.code ?? '';
  if (CONNECT_ERRORS.has(cause)) return 'connect';
  if ((e as { tsmeshConnect?: boolean })?.tsmeshConnect) return 'connect';
  return 'reset';
}

function retriableFailure(policy: RetryPolicy, failure: Failure): boolean {
  const on = policy.retryOn;
  if (on.has('5xx') || on.has('gateway-error')) return true;
  if (failure === 'connect') return on.has('connect-failure') || on.has('reset');
  if (failure === 'reset') return on.has('reset');
  return false;
}

function retriableStatus(policy: RetryPolicy, status: number, headers: UpstreamResponse['headers']): boolean {
  const on = policy.retryOn;
  if (on.has('5xx') && status >= 500) return true;
  if (on.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (policy.retriableStatusCodes.has(status)) return true;
  const grpc = headers['grpc-status'];
  if (typeof grpc === 'string') {
    if (grpc === '14' && on.has('unavailable')) return true;
    if (grpc === '1' && on.has('cancelled')) return true;
    if (grpc === '4' && on.has('deadline-exceeded')) return true;
    if (grpc === '8' && on.has('resource-exhausted')) return true;
    if (grpc === '13' && on.has('internal')) return true;
  }
  return false;
}

/** Fully jittered exponential backoff: uniform in [0, min(base × (2^n − 1), 10 × base)]. */
export function backoffMs(base: number, retry: number, random: () => number): number {
  const upper = Math.min(base * (2 ** retry - 1), 10 * base);
  return Math.floor(random() * upper);
}

function applyResponseEdits(list: string[], edits: HeaderOperationsResolved | undefined): string[] {
  if (!edits) return list;
  const removeNames = new Set(edits.remove);
  for (const name in edits.set) removeNames.add(name);
  let out = list;
  if (removeNames.size > 0) {
    out = [];
    for (let i = 0; i < list.length; i += 2) if (!removeNames.has(list[i])) out.push(list[i], list[i + 1]);
  }
  for (const name in edits.set) out.push(name, edits.set[name]);
  for (const name in edits.add) out.push(name, edits.add[name]);
  return out;
}

/**
 * Runs the plan. Resolves when the downstream response is finished (or was cut short); the
 * exchange holds the status, flags and counters for telemetry.
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  plan: ForwardPlan,
  ex: Exchange,
): Promise<void> {
  return new Promise<void>((resolveDone) => {
    const { cluster, retry } = plan;
    ex.upstreamCluster = cluster.key;
    const replayable = plan.body.kind !== 'stream';
    const maxAttempts = 1 + (replayable ? Math.max(0, retry.attempts) : 0);
    let attempt = 0;
    let finished = false;
    let current: { ac: AbortHandle; reason?: 'per-try' | 'route' | 'downstream' } | undefined;
    let routeTimer: NodeJS.Timeout | undefined;
    let routeTimedOut = false;
    let backoffTimer: NodeJS.Timeout | undefined;
    let waiting: PendingAdmission | undefined;
    const tried = new Set<UpstreamEndpoint>();

    const done = () => {
      if (finished) return;
      finished = true;
      if (routeTimer) clearTimeout(routeTimer);
      if (backoffTimer) clearTimeout(backoffTimer);
      res.off('close', onDownstreamClose);
      resolveDone();
    };

    const onDownstreamClose = () => {
      if (res.writableFinished || finished) return;
      ex.flag('DC');
      if (current) {
        current.reason = 'downstream';
        current.ac.abort();
      }
      waiting?.cancel();
      done();
    };
    res.on('close', onDownstreamClose);

    const timeoutMs = plan.timeoutMs;
    if (timeoutMs !== null && timeoutMs > 0) {
      routeTimer = setTimeout(() => {
        routeTimedOut = true;
        cluster.stats.timeouts++;
        ex.flag('UT');
        if (current) {
          current.reason = 'route';
          current.ac.abort();
        }
        waiting?.cancel();
        if (res.headersSent) {
          res.destroy();
          done();
        } else {
          localReply(res, ex, 504, LOCAL_REPLY.timeout);
          done();
        }
      }, timeoutMs);
    }

    const fail = (status: number, body: string, headers?: Record<string, string>) => {
      localReply(res, ex, status, body, { headers, close: plan.closeConnection?.() });
      done();
    };

    const next = () => {
      if (finished) return;
      attempt++;
      const ep = cluster.pick(tried, plan.random, plan.hashKey);
      if (!ep) {
        cluster.stats.noHealthy++;
        ex.flag('UH');
        fail(503, LOCAL_REPLY.noHealthyUpstream);
        return;
      }
      const admission = cluster.tryAdmit();
      if (admission !== 'ok' && admission !== 'overflow') {
        waiting = admission;
        admission.promise.then((granted) => {
          waiting = undefined;
          if (!granted) return;
          if (finished) cluster.release();
          else send(ep);
        });
        return;
      }
      if (admission === 'overflow') {
        ex.flag('UO');
        fail(503, LOCAL_REPLY.overflow, { 'x-envoy-overloaded': 'true' });
        return;
      }
      send(ep);
    };

    const retryOrFail = (canRetry: boolean, onFinal: () => void) => {
      if (canRetry && attempt < maxAttempts && !finished && !routeTimedOut) {
        ex.retries++;
        cluster.countRetry();
        const delay = backoffMs(retry.backoffBaseMs, attempt, plan.random);
        backoffTimer = setTimeout(next, delay);
        return;
      }
      if (canRetry && retry.attempts > 0 && replayable) ex.flag('URX');
      onFinal();
    };

    const send = (ep: UpstreamEndpoint) => {
      tried.add(ep);
      ep.active++;
      ep.requests++;
      cluster.stats.requests++;
      ex.upstreamHost = ep.hostPort;
      const state: { ac: AbortHandle; reason?: 'per-try' | 'route' | 'downstream' } = {
        ac: new AbortHandle(),
      };
      current = state;
      let perTryTimer: NodeJS.Timeout | undefined;
      if (retry.perTryTimeoutMs !== null && retry.perTryTimeoutMs > 0) {
        perTryTimer = setTimeout(() => {
          state.reason = 'per-try';
          state.ac.abort();
        }, retry.perTryTimeoutMs);
      }
      let released = false;
      const releaseSlot = () => {
        if (released) return;
        released = true;
        ep.active--;
        cluster.release();
      };
      let body: Buffer | NodeJS.ReadableStream | undefined;
      if (plan.body.kind === 'buffered') body = plan.body.data;
      else if (plan.body.kind === 'stream') {
        body = plan.body.stream;
        plan.body.consumed = true;
      }
      ep.client()
        .request({
          method: plan.method,
          path: plan.path,
          headers: plan.headers,
          body,
          signal: state.ac,
        })
        .then(
          (upstream) => {
            if (perTryTimer) clearTimeout(perTryTimer);
            if (finished) {
              upstream.body.destroy();
              releaseSlot();
              return;
            }
            const status = upstream.statusCode;
            cluster.report(ep, status);
            if (retriableStatus(retry, status, upstream.headers) && attempt < maxAttempts && !routeTimedOut) {
              discardBody(upstream.body);
              releaseSlot();
              retryOrFail(true, () => undefined);
              return;
            }
            if (retriableStatus(retry, status, upstream.headers) && retry.attempts > 0 && replayable)
              ex.flag('URX');
            respond(ep, upstream, releaseSlot);
          },
          (err: unknown) => {
            if (perTryTimer) clearTimeout(perTryTimer);
            releaseSlot();
            if (finished || state.reason === 'route' || state.reason === 'downstream') return;
            if (state.reason === 'per-try') {
              cluster.report(ep, 0);
              cluster.stats.timeouts++;
              const canRetry =
                retry.retryOn.has('5xx') || retry.retryOn.has('gateway-error') || retry.retryOn.has('reset');
              retryOrFail(canRetry, () => {
                ex.flag('UT');
                fail(504, LOCAL_REPLY.timeout);
              });
              return;
            }
            const failure = classifyError(err);
            cluster.report(ep, 0);
            if (failure === 'connect') cluster.stats.connectFailures++;
            else cluster.stats.resets++;
            retryOrFail(retriableFailure(retry, failure), () => {
              if (failure === 'connect') {
                ex.flag('UF');
                fail(503, LOCAL_REPLY.connectFailure);
              } else {
                ex.flag('UC');
                fail(503, LOCAL_REPLY.connectionTermination);
              }
            });
          },
        );
    };

    const respond = (_ep: UpstreamEndpoint, upstream: UpstreamResponse, releaseSlot: () => void) => {
      ex.status = upstream.statusCode;
      let headers = filterResponseHeaders(upstream.headers);
      headers = applyResponseEdits(headers, plan.responseEdits);
      if (plan.closeConnection?.()) headers.push('connection', 'close');
      try {
        res.writeHead(upstream.statusCode, headers);
      } catch {
        upstream.body.destroy();
        releaseSlot();
        ex.flag('UPE');
        fail(502, 'upstream sent an invalid response header');
        return;
      }
      pump(
        upstream.body,
        res,
        (n) => {
          ex.responseBytes += n;
        },
        (err) => {
          releaseSlot();
          if (err && !finished && !routeTimedOut) {
            // The upstream went away mid-body: the client sees a truncated response.
            if (!res.writableFinished && !ex.hasFlag('DC')) ex.flag('UC');
            res.destroy();
          }
          done();
        },
      );
    };

    if (req.aborted) {
      ex.flag('DC');
      done();
      return;
    }
    next();
  });
}

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
import { filterRawResponseHeaders, type RawHeaders } from './hygiene.js';
import type { ResponseHandler } from './upstream/client.js';
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

function retriableStatus(policy: RetryPolicy, status: number, grpc: string | undefined): boolean {
  const on = policy.retryOn;
  if (on.size === 0 && policy.retriableStatusCodes.size === 0) return false;
  if (on.has('5xx') && status >= 500) return true;
  if (on.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
  if (policy.retriableStatusCodes.has(status)) return true;
  if (grpc !== undefined) {
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
  return new Promise<void>((resolve) => {
    const f = new Forwarding(res, plan, ex, resolve);
    if (req.aborted) {
      ex.flag('DC');
      resolve();
      return;
    }
    f.start();
  });
}

/** Why an attempt was cancelled by the forwarder (its error is then not a failure to report). */
type CancelReason = 'per-try' | 'route' | 'downstream' | 'abandoned';

const noop = (): void => undefined;

/**
 * One request's way through retries and timeouts. A class rather than closures: the hot path
 * allocates one of these and one `Attempt` per try, and timers get the object as their argument.
 */
class Forwarding {
  private attempt = 0;
  private finished = false;
  private current: Attempt | undefined;
  private routeTimer: NodeJS.Timeout | undefined;
  private routeTimedOut = false;
  private backoffTimer: NodeJS.Timeout | undefined;
  private waiting: PendingAdmission | undefined;
  /** Endpoints already tried, built on the first retry. */
  private tried: Set<UpstreamEndpoint> | undefined;
  private lastEndpoint: UpstreamEndpoint | undefined;
  /** This request holds one of the cluster's outstanding retries (`maxRetries`). */
  private holdsRetry = false;
  /** A retry was refused by `maxRetries`: the last outcome stands, without URX. */
  private retryOverflowed = false;
  private readonly replayable: boolean;
  private readonly maxAttempts: number;

  constructor(
    readonly res: ServerResponse,
    readonly plan: ForwardPlan,
    readonly ex: Exchange,
    private readonly resolveDone: () => void,
  ) {
    this.replayable = plan.body.kind !== 'stream';
    this.maxAttempts = 1 + (this.replayable ? Math.max(0, plan.retry.attempts) : 0);
  }

  start(): void {
    this.ex.upstreamCluster = this.plan.cluster.key;
    // 'close' follows 'finish' on a ServerResponse: one listener sees both the normal end and a
    // client that went away.
    this.res.on('close', this.onDownstreamClose);
    const timeoutMs = this.plan.timeoutMs;
    if (timeoutMs !== null && timeoutMs > 0) this.routeTimer = setTimeout(onRouteTimeout, timeoutMs, this);
    this.next();
  }

  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.res.off('close', this.onDownstreamClose);
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.plan.cluster.releaseRetry();
    }
    this.resolveDone();
  }

  /** One retry slot of the cluster for this request (kept for its later retries). */
  private reserveRetry(): boolean {
    if (this.holdsRetry) return true;
    if (!this.plan.cluster.reserveRetry()) {
      this.retryOverflowed = true;
      return false;
    }
    this.holdsRetry = true;
    return true;
  }

  private readonly onDownstreamClose = (): void => {
    if (this.finished) return;
    if (this.res.writableFinished) {
      this.done();
      return;
    }
    this.ex.flag('DC');
    this.current?.cancel('downstream');
    this.waiting?.cancel();
    this.done();
  };

  routeTimeout(): void {
    this.routeTimer = undefined;
    if (this.finished) return;
    this.routeTimedOut = true;
    this.plan.cluster.stats.timeouts++;
    this.ex.flag('UT');
    this.current?.cancel('route');
    this.waiting?.cancel();
    if (this.res.headersSent) {
      this.res.destroy();
      this.done();
    } else {
      localReply(this.res, this.ex, 504, LOCAL_REPLY.timeout);
      this.done();
    }
  }

  private fail(status: number, body: string, headers?: Record<string, string>): void {
    localReply(this.res, this.ex, status, body, { headers, close: this.plan.closeConnection?.() });
    this.done();
  }

  next(): void {
    if (this.finished) return;
    const cluster = this.plan.cluster;
    this.attempt++;
    if (this.lastEndpoint !== undefined) (this.tried ??= new Set()).add(this.lastEndpoint);
    const ep = cluster.pick(this.tried, this.plan.random, this.plan.hashKey);
    if (!ep) {
      cluster.stats.noHealthy++;
      this.ex.flag('UH');
      this.fail(503, LOCAL_REPLY.noHealthyUpstream);
      return;
    }
    const admission = cluster.tryAdmit();
    if (admission === 'ok') {
      this.send(ep);
      return;
    }
    if (admission === 'overflow') {
      this.ex.flag('UO');
      this.fail(503, LOCAL_REPLY.overflow, { 'x-envoy-overloaded': 'true' });
      return;
    }
    this.waiting = admission;
    admission.promise.then((granted) => {
      this.waiting = undefined;
      if (!granted) return;
      if (this.finished) cluster.release();
      else this.send(ep);
    });
  }

  private retryOrFail(canRetry: boolean, onFinal: () => void): void {
    const { cluster, retry } = this.plan;
    if (
      canRetry &&
      this.attempt < this.maxAttempts &&
      !this.finished &&
      !this.routeTimedOut &&
      this.reserveRetry()
    ) {
      this.ex.retries++;
      cluster.countRetry();
      const delay = backoffMs(retry.backoffBaseMs, this.attempt, this.plan.random);
      this.backoffTimer = setTimeout(nextAttempt, delay, this);
      return;
    }
    if (canRetry && retry.attempts > 0 && this.replayable && !this.retryOverflowed) this.ex.flag('URX');
    onFinal();
  }

  private send(ep: UpstreamEndpoint): void {
    const plan = this.plan;
    this.lastEndpoint = ep;
    ep.active++;
    ep.requests++;
    plan.cluster.stats.requests++;
    this.ex.upstreamHost = ep.hostPort;
    this.ex.upstream = ep.endpoint;
    const a = new Attempt(this, ep);
    this.current = a;
    const perTry = plan.retry.perTryTimeoutMs;
    if (perTry !== null && perTry > 0) a.timer = setTimeout(onPerTryTimeout, perTry, a);
    let body: Buffer | NodeJS.ReadableStream | undefined;
    if (plan.body.kind === 'buffered') body = plan.body.data;
    else if (plan.body.kind === 'stream') {
      body = plan.body.stream;
      plan.body.consumed = true;
    }
    ep.client().dispatch({ method: plan.method, path: plan.path, headers: plan.headers, body }, a);
  }

  /** Response headers of an attempt: retry on a retriable status, else start the downstream response. */
  onResponse(a: Attempt, status: number, raw: RawHeaders, resume: () => void): boolean {
    a.clearTimer();
    if (this.finished) {
      a.cancel('abandoned');
      return false;
    }
    const { cluster, retry } = this.plan;
    cluster.report(a.ep, status);
    const filtered = filterRawResponseHeaders(raw);
    const retriable = retriableStatus(retry, status, filtered.grpcStatus);
    if (retriable && this.attempt < this.maxAttempts && !this.routeTimedOut && this.reserveRetry()) {
      // Drained, not aborted, so the connection stays in the pool.
      a.discard = true;
      a.release();
      this.retryOrFail(true, noop);
      return true;
    }
    if (retriable && retry.attempts > 0 && this.replayable && !this.retryOverflowed) this.ex.flag('URX');
    const ex = this.ex;
    ex.status = status;
    const headers = applyResponseEdits(filtered.list, this.plan.responseEdits);
    if (this.plan.closeConnection?.()) headers.push('connection', 'close');
    try {
      this.res.writeHead(status, headers);
    } catch {
      a.cancel('abandoned');
      a.release();
      ex.flag('UPE');
      this.fail(502, 'upstream sent an invalid response header');
      return false;
    }
    a.streaming = true;
    a.resume = resume;
    return true;
  }

  /** A response body chunk to the client; false (pause the upstream) until the client drains. */
  onBody(a: Attempt, chunk: Buffer): boolean {
    this.ex.responseBytes += chunk.length;
    if (this.res.write(chunk)) return true;
    if (a.resume !== undefined) this.res.once('drain', a.resume);
    return false;
  }

  /** The upstream response ended: end the downstream one; `done` follows its 'close'. */
  onEnd(a: Attempt): void {
    a.release();
    if (a.discard || this.finished || !a.streaming) return;
    if (this.routeTimer) {
      clearTimeout(this.routeTimer);
      this.routeTimer = undefined;
    }
    this.res.end();
  }

  onAttemptError(a: Attempt, err: Error): void {
    a.clearTimer();
    a.release();
    const reason = a.reason;
    if (this.finished || a.discard || reason === 'route' || reason === 'downstream' || reason === 'abandoned')
      return;
    const { cluster, retry } = this.plan;
    if (a.streaming) {
      // The upstream went away mid-body: the client sees a truncated response.
      if (!this.res.writableFinished && !this.ex.hasFlag('DC')) this.ex.flag('UC');
      this.res.destroy();
      this.done();
      return;
    }
    if (reason === 'per-try') {
      cluster.report(a.ep, 0);
      cluster.stats.timeouts++;
      const canRetry =
        retry.retryOn.has('5xx') || retry.retryOn.has('gateway-error') || retry.retryOn.has('reset');
      this.retryOrFail(canRetry, () => {
        this.ex.flag('UT');
        this.fail(504, LOCAL_REPLY.timeout);
      });
      return;
    }
    const failure = classifyError(err);
    cluster.report(a.ep, 0);
    if (failure === 'connect') cluster.stats.connectFailures++;
    else cluster.stats.resets++;
    this.retryOrFail(retriableFailure(retry, failure), () => {
      if (failure === 'connect') {
        this.ex.flag('UF');
        this.fail(503, LOCAL_REPLY.connectFailure);
      } else {
        this.ex.flag('UC');
        this.fail(503, LOCAL_REPLY.connectionTermination);
      }
    });
  }
}

/** One try against one endpoint; it is the upstream client's response handler. */
class Attempt implements ResponseHandler {
  timer: NodeJS.Timeout | undefined;
  reason: CancelReason | undefined;
  /** A retriable status answered: the body is read and dropped. */
  discard = false;
  /** Response headers went downstream. */
  streaming = false;
  resume: (() => void) | undefined;
  private abortFn: ((err?: Error) => void) | undefined;
  private released = false;

  constructor(
    private readonly f: Forwarding,
    readonly ep: UpstreamEndpoint,
  ) {}

  clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Gives the connection-pool slot back (once). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.ep.active--;
    this.f.plan.cluster.release();
  }

  cancel(reason: CancelReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.clearTimer();
    // Before the request is bound to a connection there is nothing to abort yet: onConnect does it.
    this.abortFn?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.reason !== undefined) abort();
    else this.abortFn = abort;
  }

  onHeaders(statusCode: number, rawHeaders: RawHeaders, resume: () => void): boolean {
    // 1xx answers are not forwarded; the final status follows.
    if (statusCode < 200) return true;
    return this.f.onResponse(this, statusCode, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    if (this.discard || !this.streaming) return true;
    return this.f.onBody(this, chunk);
  }

  onComplete(): void {
    this.f.onEnd(this);
  }

  onError(err: Error): void {
    this.f.onAttemptError(this, err);
  }
}

function onRouteTimeout(f: Forwarding): void {
  f.routeTimeout();
}

function onPerTryTimeout(a: Attempt): void {
  a.timer = undefined;
  a.cancel('per-try');
}

function nextAttempt(f: Forwarding): void {
  f.next();
}

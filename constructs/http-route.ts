import type { Duration } from 'cdk8s';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { HTTPRoute, HTTPRouteDestination } from '../lib/api/types.js';
import type { CorsPolicy } from './cors-policy.js';
import type { FaultInjection } from './fault-injection.js';
import { type HeaderEdits, type HttpRedirect, type HttpRewrite, renderHeaderEdits } from './http-rewrite.js';
import { DEFAULT_CATCH_ALL_PRIORITY, DEFAULT_MATCH_PRIORITY } from './private/route-table.js';
import { checkDnsLabel, checkInteger, checkPort, renderDuration } from './private/validate-input.js';
import type { RetryPolicy } from './retry-policy.js';
import { type HttpRouteMatch, NON_IDEMPOTENT_METHODS, renderMatch } from './route-match.js';
import type { IMeshService } from './service-base.js';
import type { TrafficMirror } from './traffic-mirror.js';

/** What every route can set besides where it sends requests. */
export interface RouteOptions {
  /**
   * The route's name, unique per service.
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Requests must satisfy one of these matches (each match ANDs its conditions).
   * @default - every request
   */
  readonly match?: HttpRouteMatch[];
  /**
   * Order among the service's routes: lower numbers are tried first (0..1000); ties keep the
   * order of declaration.
   * @default - 100 for a route with matches, 1000 for a route without
   */
  readonly priority?: number;
  /**
   * Bound on the whole request, retries included (504 when it expires).
   * @default - the mesh's default timeout (none unless set)
   */
  readonly timeout?: Duration;
  /**
   * Retries.
   * @default - the mesh's default retry policy
   */
  readonly retryPolicy?: RetryPolicy;
  /**
   * Faults to inject.
   * @default - none
   */
  readonly fault?: FaultInjection;
  /**
   * Copy requests to another service or version.
   * @default - none
   */
  readonly mirror?: TrafficMirror;
  /**
   * Rewrite path or authority before forwarding.
   * @default - none
   */
  readonly rewrite?: HttpRewrite;
  /**
   * Header edits.
   * @default - none
   */
  readonly headers?: HeaderEdits;
  /**
   * CORS: preflights from allowed origins answered by the proxy, CORS headers on responses.
   * @default - no CORS handling (requests and responses pass unchanged)
   */
  readonly cors?: CorsPolicy;
}

/** A destination of a route with its share of requests. */
export interface WeightedTarget {
  /**
   * The version (subset) of the service.
   * @default - every version
   */
  readonly version?: string;
  /**
   * Send to another service instead of the route's own.
   * @default - the route's service
   */
  readonly service?: IMeshService;
  /**
   * Destination port, when the service has several.
   * @default - the only port
   */
  readonly port?: number;
  /**
   * Share in percent (0..100); the weights of a route sum to 100.
   * @default 100 for a lone target
   */
  readonly weight?: number;
}

/** Props of {@link HttpRoute}. */
export interface HttpRouteProps extends RouteOptions {
  /** The service whose requests this route handles. */
  readonly service: IMeshService;
  /**
   * Where matching requests go.
   * @default - the whole service, every version
   */
  readonly to?: WeightedTarget[];
  /**
   * Answer with a redirect instead of forwarding (excludes `to`, `rewrite` and `mirror`).
   * @default - forward
   */
  readonly redirect?: HttpRedirect;
}

/**
 * An HTTP route of a service: matches on path, headers, method and query → versions with
 * weights, plus timeout, retries, faults, mirroring, rewrites and header edits. All routes of a
 * service merge into its one VirtualService, ordered by priority.
 *
 * @example
 * new HttpRoute(chart, 'jason-to-v2', {
 *   service: reviews,
 *   match: [{ headers: [HeaderMatch.exact('end-user', 'jason')] }],
 *   to: [{ version: 'v2' }],
 * });
 */
export class HttpRoute extends Construct {
  /** The route as rendered into the VirtualService. */
  public readonly route: HTTPRoute;

  public constructor(scope: Construct, id: string, props: HttpRouteProps) {
    super(scope, id);
    this.route = declareRoute(this, props.service, props, props.to ?? [{}], props.redirect);
  }
}

/** @internal checks and registers a route; shared by HttpRoute and CanaryRoute. */
export function declareRoute(
  construct: Construct,
  service: IMeshService,
  options: RouteOptions,
  targets: WeightedTarget[],
  redirect?: HttpRedirect,
): HTTPRoute {
  const name = checkDnsLabel(`route '${construct.node.id}': name`, options.name ?? construct.node.id);
  const what = `route '${name}' of meshservice '${service.serviceName}'`;
  const matches = options.match ?? [];
  const priority = checkInteger(
    `${what}: priority`,
    options.priority ?? (matches.length > 0 ? DEFAULT_MATCH_PRIORITY : DEFAULT_CATCH_ALL_PRIORITY),
    0,
    1000,
  );
  const route: HTTPRoute = { name };
  if (matches.length > 0) route.match = matches.map((m, i) => renderMatch(`${what}: match[${i}]`, m));

  if (redirect) {
    if (options.cors) {
      throw new Error(`${what}: cors has no effect on a redirect, which the proxy answers itself`);
    }
    if (options.rewrite || options.mirror || targets.some((t) => Object.keys(t).length > 0)) {
      throw new Error(
        `${what}: redirect excludes to, rewrite and mirror; a redirect answers without forwarding`,
      );
    }
    route.redirect = redirect._render();
  } else {
    route.route = renderTargets(what, service, targets);
  }
  if (options.rewrite) route.rewrite = options.rewrite._render();

  const timeoutMs = options.timeout?.toMilliseconds();
  if (options.timeout) route.timeout = renderDuration(`${what}: timeout`, options.timeout);
  if (options.retryPolicy) {
    const retry = options.retryPolicy;
    const perTry = retry.perTryTimeout?.toMilliseconds();
    if (perTry !== undefined && timeoutMs !== undefined && perTry > timeoutMs) {
      throw new Error(
        `${what}: retryPolicy perTryTimeout (${renderDuration('perTryTimeout', retry.perTryTimeout!)}) is longer than the route timeout (${route.timeout}); it must be at most the timeout`,
      );
    }
    const methods = matches.map((m) => m.method).filter((m) => m !== undefined);
    const risky = methods.filter((m) => NON_IDEMPOTENT_METHODS.includes(m));
    if (risky.length > 0 && retry.replaysRequests && !retry.retryNonIdempotent) {
      throw new Error(
        `${what}: retryPolicy can resend ${risky.join(', ')} requests the upstream may already have acted on; retry only on connect-failure/refused-stream, or set retryNonIdempotent: true`,
      );
    }
    route.retries = retry._render();
  }
  if (options.fault) route.fault = options.fault._render();
  if (options.mirror) Object.assign(route, options.mirror._render());
  if (options.headers) {
    const headers = renderHeaderEdits(what, options.headers);
    if (Object.keys(headers).length > 0) route.headers = headers;
  }
  if (options.cors) route.corsPolicy = options.cors._render();

  service._addRoute({
    name,
    priority,
    catchAll: matches.length === 0,
    route,
    path: construct.node.path,
  });
  service.mesh.addChart(Chart.of(construct));
  return route;
}

function renderTargets(
  what: string,
  service: IMeshService,
  targets: WeightedTarget[],
): HTTPRouteDestination[] {
  if (targets.length === 0) throw new Error(`${what}: to must list at least one target, got none`);
  const weights = targets.map((t) => t.weight);
  if (targets.length > 1 && weights.some((w) => w === undefined)) {
    throw new Error(`${what}: several targets need a weight each (percentages summing to 100)`);
  }
  for (const w of weights) if (w !== undefined) checkInteger(`${what}: weight`, w, 0, 100);
  const sum = weights.reduce<number>((a, w) => a + (w ?? 100), 0);
  if (sum !== 100) {
    throw new Error(`${what}: target weights must sum to 100, got ${weights.join(' + ')} = ${sum}`);
  }
  const seen = new Set<string>();
  return targets.map((t, i) => {
    const target = t.service ?? service;
    const key = `${target.host}/${t.version ?? ''}/${t.port ?? ''}`;
    if (seen.has(key)) throw new Error(`${what}: to[${i}] repeats a target (${key}); list each target once`);
    seen.add(key);
    if (t.version !== undefined) target._useSubset(t.version, `${what}: to[${i}].version`);
    const destination: HTTPRouteDestination['destination'] = {
      host: target === service ? service.serviceName : target.host,
    };
    if (t.version !== undefined) destination.subset = t.version;
    if (t.port !== undefined) destination.port = { number: checkPort(`${what}: to[${i}].port`, t.port) };
    const out: HTTPRouteDestination = { destination };
    if (targets.length > 1) out.weight = t.weight;
    return out;
  });
}

import type { Duration } from 'cdk8s';
import type { HTTPRetry } from '../lib/api/types.js';
import { checkInteger, renderDuration } from './private/validate-input.js';

/** What makes a request eligible for a retry (Envoy's retry-on tokens). */
export enum HttpRetryEvent {
  /** Any 5xx response, connect failure, reset or timeout. */
  SERVER_ERROR = '5xx',
  /** 502, 503 and 504 responses. */
  GATEWAY_ERROR = 'gateway-error',
  /** The upstream reset the connection. */
  RESET = 'reset',
  /** The connection to the upstream could not be made. */
  CONNECT_FAILURE = 'connect-failure',
  /** The upstream refused the HTTP/2 stream. */
  REFUSED_STREAM = 'refused-stream',
  /** A 409 response. */
  RETRIABLE_4XX = 'retriable-4xx',
}

/** gRPC status codes that make a request eligible for a retry. */
export enum GrpcRetryEvent {
  CANCELLED = 'cancelled',
  DEADLINE_EXCEEDED = 'deadline-exceeded',
  INTERNAL = 'internal',
  RESOURCE_EXHAUSTED = 'resource-exhausted',
  UNAVAILABLE = 'unavailable',
}

/** Events that can resend a request the upstream may already have acted on. */
const REPLAYING_EVENTS = new Set<string>([
  '5xx',
  'gateway-error',
  'reset',
  'retriable-4xx',
  'internal',
  'deadline-exceeded',
]);

/** Options of {@link RetryPolicy.http}. */
export interface HttpRetryOptions {
  /** Number of retries after the first try (0 disables retries). */
  readonly attempts: number;
  /**
   * Timeout of each try.
   * @default - the route timeout bounds every try
   */
  readonly perTryTimeout?: Duration;
  /**
   * HTTP events that trigger a retry.
   * @default - connect-failure and refused-stream
   */
  readonly httpRetryEvents?: HttpRetryEvent[];
  /**
   * gRPC status codes that trigger a retry.
   * @default - unavailable and cancelled
   */
  readonly grpcRetryEvents?: GrpcRetryEvent[];
  /**
   * Response status codes that trigger a retry (`retriable-status-codes`).
   * @default - none
   */
  readonly statusCodes?: number[];
  /**
   * Base interval of the exponential, jittered backoff between tries.
   * @default Duration.millis(25)
   */
  readonly backoff?: Duration;
  /**
   * Allow retrying events that can replay a request on a route that matches non-idempotent
   * methods (POST, PATCH). Without it such a route refuses the policy.
   * @default false
   */
  readonly retryNonIdempotent?: boolean;
}

/**
 * How a route retries failed requests. Use the static factories.
 *
 * @example
 * RetryPolicy.http({
 *   attempts: 3,
 *   perTryTimeout: Duration.seconds(2),
 *   httpRetryEvents: [HttpRetryEvent.GATEWAY_ERROR, HttpRetryEvent.CONNECT_FAILURE],
 * });
 * RetryPolicy.none();
 */
export class RetryPolicy {
  /** Retries HTTP requests on the given events. */
  public static http(options: HttpRetryOptions): RetryPolicy {
    return new RetryPolicy(options);
  }

  /** No retries at all (not even the mesh default). */
  public static none(): RetryPolicy {
    return new RetryPolicy({ attempts: 0 });
  }

  public readonly attempts: number;
  public readonly perTryTimeout?: Duration;
  /** True when the policy may resend a request the upstream already acted on. */
  public readonly replaysRequests: boolean;
  public readonly retryNonIdempotent: boolean;
  private readonly options: HttpRetryOptions;

  private constructor(options: HttpRetryOptions) {
    this.attempts = checkInteger('retry policy: attempts', options.attempts, 0, 100);
    for (const code of options.statusCodes ?? []) checkInteger('retry policy: statusCodes', code, 100, 599);
    for (const e of options.httpRetryEvents ?? []) {
      if (!Object.values(HttpRetryEvent).includes(e)) {
        throw new Error(
          `retry policy: httpRetryEvents must be among ${Object.values(HttpRetryEvent).join(', ')}, got ${JSON.stringify(e)}`,
        );
      }
    }
    for (const e of options.grpcRetryEvents ?? []) {
      if (!Object.values(GrpcRetryEvent).includes(e)) {
        throw new Error(
          `retry policy: grpcRetryEvents must be among ${Object.values(GrpcRetryEvent).join(', ')}, got ${JSON.stringify(e)}`,
        );
      }
    }
    this.options = options;
    this.perTryTimeout = options.perTryTimeout;
    if (this.perTryTimeout) renderDuration('retry policy: perTryTimeout', this.perTryTimeout);
    if (options.backoff) renderDuration('retry policy: backoff', options.backoff);
    this.retryNonIdempotent = options.retryNonIdempotent ?? false;
    this.replaysRequests =
      this.attempts > 0 &&
      (this.retryOn().some((t) => REPLAYING_EVENTS.has(t)) || (options.statusCodes ?? []).length > 0);
  }

  /** @internal the `retries` block of an Istio HTTPRoute. */
  public _render(): HTTPRetry {
    if (this.attempts === 0) return { attempts: 0 };
    const out: HTTPRetry = { attempts: this.attempts, retryOn: this.retryOn().join(',') };
    if (this.perTryTimeout)
      out.perTryTimeout = renderDuration('retry policy: perTryTimeout', this.perTryTimeout);
    if (this.options.backoff) out.backoff = renderDuration('retry policy: backoff', this.options.backoff);
    return out;
  }

  private retryOn(): string[] {
    const http = this.options.httpRetryEvents ?? [
      HttpRetryEvent.CONNECT_FAILURE,
      HttpRetryEvent.REFUSED_STREAM,
    ];
    const grpc = this.options.grpcRetryEvents ?? [GrpcRetryEvent.UNAVAILABLE, GrpcRetryEvent.CANCELLED];
    const codes = this.options.statusCodes ?? [];
    const tokens: string[] = [...http, ...grpc];
    if (codes.length > 0) tokens.push('retriable-status-codes', ...codes.map(String));
    return [...new Set(tokens)];
  }
}

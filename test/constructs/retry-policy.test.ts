import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { GrpcRetryEvent, HttpRetryEvent, RetryPolicy } from '../../constructs/index.js';

describe('RetryPolicy', () => {
  it('renders attempts, per-try timeout, events, status codes and backoff', () => {
    const p = RetryPolicy.http({
      attempts: 3,
      perTryTimeout: Duration.millis(500),
      httpRetryEvents: [HttpRetryEvent.GATEWAY_ERROR],
      grpcRetryEvents: [GrpcRetryEvent.UNAVAILABLE],
      statusCodes: [409],
      backoff: Duration.millis(50),
    });
    expect(p._render()).toEqual({
      attempts: 3,
      perTryTimeout: '500ms',
      retryOn: 'gateway-error,unavailable,retriable-status-codes,409',
      backoff: '50ms',
    });
    expect(p.replaysRequests).toBe(true);
  });

  it('defaults to connection-level events, which never replay a request', () => {
    const p = RetryPolicy.http({ attempts: 2 });
    expect(p._render().retryOn).toBe('connect-failure,refused-stream,unavailable,cancelled');
    expect(p.replaysRequests).toBe(false);
  });

  it('disables retries with none()', () => {
    expect(RetryPolicy.none()._render()).toEqual({ attempts: 0 });
  });

  it('fails on bad attempts, events and codes', () => {
    expect(() => RetryPolicy.http({ attempts: -1 })).toThrow(
      /attempts must be a whole number between 0 and 100, got -1/,
    );
    expect(() => RetryPolicy.http({ attempts: 1, httpRetryEvents: ['5xx-ish' as HttpRetryEvent] })).toThrow(
      /httpRetryEvents must be among .* got "5xx-ish"/,
    );
    expect(() => RetryPolicy.http({ attempts: 1, statusCodes: [42] })).toThrow(
      /statusCodes must be a whole number between 100 and 599/,
    );
    expect(() => RetryPolicy.http({ attempts: 1, perTryTimeout: Duration.millis(0) })).toThrow(
      /perTryTimeout must be a positive/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  type HttpRequestRecord,
  parseTraceContext,
  type SpanRecord,
  serviceFacts,
  TRACE_HEADER_NAMES,
  TRACE_HEADERS,
  Tracer,
  UNKNOWN_WORKLOAD,
} from '../../../runtime/proxy/telemetry/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/;

describe('trace context', () => {
  it('continues a W3C trace with a new span id and keeps tracestate', () => {
    const tracer = new Tracer({ sampling: 0 });
    const { headersForUpstream: h, span } = tracer.startSpan({
      traceparent: `00-${TRACE}-${SPAN}-01`,
      tracestate: 'vendor=abc',
    });
    const m = TRACEPARENT.exec(h.traceparent)!;
    expect(m[1]).toBe(TRACE);
    expect(m[2]).not.toBe(SPAN);
    expect(m[3]).toBe('1'); // the caller's decision wins over sampling 0
    expect(h.tracestate).toBe('vendor=abc');
    expect(h['x-b3-traceid']).toBe(TRACE);
    expect(h['x-b3-spanid']).toBe(m[2]);
    expect(h['x-b3-parentspanid']).toBe(SPAN);
    expect(h['x-b3-sampled']).toBe('1');
    expect(span).toMatchObject({ traceId: TRACE, id: m[2], parentId: SPAN, sampled: true, kind: 'CLIENT' });
  });

  it('honours an unsampled W3C flag even at 100 % sampling', () => {
    const { headersForUpstream: h, span } = new Tracer({ sampling: 100 }).startSpan({
      traceparent: `00-${TRACE}-${SPAN}-00`,
    });
    expect(h.traceparent.endsWith('-00')).toBe(true);
    expect(h['x-b3-sampled']).toBe('0');
    expect(span.sampled).toBe(false);
  });

  it('continues B3 multi-header traces, padding 64-bit ids for W3C', () => {
    const { headersForUpstream: h, span } = new Tracer().startSpan(
      { 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' },
      'destination',
    );
    expect(h['x-b3-traceid']).toBe('a3ce929d0e0e4736');
    expect(h['x-b3-parentspanid']).toBe(SPAN);
    expect(h.traceparent).toMatch(new RegExp(`^00-0000000000000000a3ce929d0e0e4736-${h['x-b3-spanid']}-01$`));
    expect(span.kind).toBe('SERVER');
    expect(h.b3).toBeUndefined();
  });

  it('treats the B3 debug flag as sampled', () => {
    const { span } = new Tracer({ sampling: 0 }).startSpan({
      'x-b3-traceid': TRACE,
      'x-b3-spanid': SPAN,
      'x-b3-flags': '1',
    });
    expect(span.sampled).toBe(true);
  });

  it('continues a single b3 header and answers in the same format', () => {
    const { headersForUpstream: h, span } = new Tracer({ sampling: 100 }).startSpan({
      b3: `${TRACE}-${SPAN}-0`,
    });
    expect(span).toMatchObject({ traceId: TRACE, parentId: SPAN, sampled: false });
    expect(h.b3).toBe(`${TRACE}-${span.id}-0-${SPAN}`);
  });

  it('starts a new trace with the sampling percentage when there is no valid context', () => {
    let n = 0;
    const values = [0.005, 0.5];
    const tracer = new Tracer({ sampling: 1, random: () => values[n++] });
    const a = tracer.startSpan({ traceparent: 'garbage' });
    const b = tracer.startSpan({});
    expect(a.span.sampled).toBe(true); // 0.5 % < 1 %
    expect(b.span.sampled).toBe(false);
    expect(a.span.parentId).toBeUndefined();
    expect(a.span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.span.traceId).not.toBe(b.span.traceId);
    expect(a.headersForUpstream['x-b3-parentspanid']).toBeUndefined();
  });

  it('honours a sampling-only b3 header on a new trace', () => {
    const { span } = new Tracer({ sampling: 100 }).startSpan({ b3: '0' });
    expect(span.sampled).toBe(false);
    expect(span.parentId).toBeUndefined();
  });

  it.each([
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper case', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['extra fields on version 00', `00-${TRACE}-${SPAN}-01-extra`],
    ['short trace id', `00-${TRACE.slice(2)}-${SPAN}-01`],
    ['flags not hex', `00-${TRACE}-${SPAN}-0g`],
    ['no separator before the flags', `00-${TRACE}-${SPAN}x01`],
    ['a future version without a separator after the flags', `01-${TRACE}-${SPAN}-01x`],
  ])('ignores an invalid traceparent (%s)', (_what, value) => {
    expect(parseTraceContext({ traceparent: value }).context).toBeUndefined();
  });

  it('accepts a future traceparent version with extra fields', () => {
    expect(parseTraceContext({ traceparent: `01-${TRACE}-${SPAN}-01-more` }).context?.traceId).toBe(TRACE);
  });

  it('gives every hop a different span id', () => {
    const tracer = new Tracer();
    const ids = new Set<string>();
    let headers: Record<string, string> = { traceparent: `00-${TRACE}-${SPAN}-01` };
    for (let hop = 0; hop < 1000; hop++) {
      const { headersForUpstream, span } = tracer.startSpan(headers);
      expect(span.traceId).toBe(TRACE);
      ids.add(span.id);
      headers = headersForUpstream;
    }
    expect(ids.size).toBe(1000);
  });

  it('hands finished sampled spans to onSpan with the request outcome', () => {
    const spans: SpanRecord[] = [];
    const tracer = new Tracer({ sampling: 100, onSpan: (s) => spans.push(s) });
    const rec = {
      reporter: 'source',
      durationMs: 2.5,
      method: 'GET',
      path: '/ratings/1?x=y',
      status: 200,
      responseFlags: '',
      httpProtocol: 'HTTP/1.1',
      requestId: 'rid-1',
      upstreamCluster: 'outbound|9080||ratings.default.svc.cluster.local',
      upstreamHost: '10.0.0.7:9080',
      service: serviceFacts('ratings.default.svc.cluster.local'),
      source: UNKNOWN_WORKLOAD,
      destination: UNKNOWN_WORKLOAD,
    } as unknown as HttpRequestRecord;
    const sampled = tracer.startSpan({});
    tracer.endSpan(sampled.span, rec);
    const unsampled = tracer.startSpan({ traceparent: `00-${TRACE}-${SPAN}-00` });
    tracer.endSpan(unsampled.span, rec);
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({
      duration: 2500,
      name: 'ratings.default.svc.cluster.local:/ratings/1',
      tags: { 'http.status_code': '200', 'guid:x-request-id': 'rid-1', response_flags: '-' },
    });
  });

  it('lists every header it reads and writes as a trace header', () => {
    const { headersForUpstream } = new Tracer().startSpan({ b3: `${TRACE}-${SPAN}-1`, tracestate: 'a=b' });
    for (const name of Object.keys(headersForUpstream)) expect(TRACE_HEADER_NAMES.has(name)).toBe(true);
    expect([...TRACE_HEADER_NAMES].sort()).toEqual([...TRACE_HEADERS].sort());
  });

  it('rejects a sampling percentage outside 0..100', () => {
    expect(() => new Tracer({ sampling: 101 })).toThrow(/between 0 and 100, got 101/);
    const tracer = new Tracer({ sampling: 5 });
    expect(() => tracer.setSampling(-1)).toThrow(/between 0 and 100, got -1/);
    expect(tracer.sampling).toBe(5);
  });

  it('applies a new sampling percentage to new traces', () => {
    const tracer = new Tracer({ sampling: 0, random: () => 0.5 });
    expect(tracer.startSpan({}).span.sampled).toBe(false);
    tracer.setSampling(100);
    expect(tracer.startSpan({}).span.sampled).toBe(true);
    expect(tracer.sampling).toBe(100);
  });
});

/**
 * A route's CORS policy at the listeners (outbound HTTP/1.1 and HTTP/2, gateway): the decision
 * itself is lib/routing/cors.ts; here it is read from the request headers, a preflight the
 * policy answers is answered, and the headers for an actual request are merged into the
 * route's response edits. Only requests on routes with a `corsPolicy` come here.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { CORS_HEADERS, type CompiledCors, type CorsOutcome } from '../../lib/routing/cors.js';
import type { HeaderOperationsResolved } from '../../lib/routing/types.js';
import type { Exchange } from './exchange.js';

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Evaluates the policy against a request's headers (Node's lower-case header object). */
export function evaluateCors(
  cors: CompiledCors,
  method: string,
  headers: IncomingHttpHeaders | Readonly<Record<string, string | string[] | undefined>>,
): CorsOutcome | undefined {
  return cors.evaluate(
    method,
    first(headers[CORS_HEADERS.origin]),
    first(headers[CORS_HEADERS.requestMethod]),
    first(headers[CORS_HEADERS.requestHeaders]),
  );
}

/** The route's response edits with the CORS headers set (they replace the upstream's own). */
export function withCorsHeaders(
  edits: HeaderOperationsResolved,
  cors: Record<string, string>,
): HeaderOperationsResolved {
  return { set: { ...edits.set, ...cors }, add: edits.add, remove: edits.remove };
}

/**
 * The route's CORS policy on an HTTP/1.1 request: answers a preflight it allows (and returns
 * false: the request is finished), or returns the response edits to forward with (the route's
 * own, plus the CORS headers for an allowed origin).
 */
export function applyCors(
  cors: CompiledCors,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  edits: HeaderOperationsResolved,
): HeaderOperationsResolved | false {
  const outcome = evaluateCors(cors, ex.method, req.headers);
  if (outcome === undefined) return edits;
  if (outcome.kind === 'response') return withCorsHeaders(edits, outcome.headers);
  req.resume();
  answerPreflight(res, ex, outcome.headers);
  return false;
}

/** Answers a preflight on HTTP/1.1: 200, the CORS headers, no body. */
export function answerPreflight(res: ServerResponse, ex: Exchange, headers: Record<string, string>): void {
  ex.status = 200;
  if (res.headersSent || res.destroyed) return;
  const out: Record<string, string | number> = { ...headers, 'content-length': 0 };
  if (ex.requestId) out['x-request-id'] = ex.requestId;
  res.writeHead(200, out);
  res.end();
}

/** Answers a preflight on an HTTP/2 stream. */
export function answerPreflightH2(
  stream: ServerHttp2Stream,
  ex: Exchange,
  headers: Record<string, string>,
): void {
  ex.status = 200;
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.resume();
  const out: Record<string, string | number> = { ':status': 200, ...headers };
  if (ex.requestId) out['x-request-id'] = ex.requestId;
  stream.respond(out, { endStream: true });
}

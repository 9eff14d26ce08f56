/**
 * Local replies on an HTTP/2 stream: plain HTTP for ordinary requests, trailers-only gRPC
 * responses (`:status 200`, `grpc-status`, `grpc-message`, no body) for gRPC requests.
 */
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Exchange } from '../exchange.js';
import { encodeGrpcMessage, grpcStatusForHttp } from './grpc.js';

export interface H2ReplyOptions {
  grpc: boolean;
  headers?: Record<string, string>;
}

/** Answers with the proxy's own reply; does nothing (but reset) if headers already went out. */
export function localReplyH2(
  stream: ServerHttp2Stream,
  ex: Exchange & { grpcStatus?: string },
  status: number,
  body: string,
  options: H2ReplyOptions,
): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    ex.status = ex.status || status;
    stream.close(0x2); // INTERNAL_ERROR: the response was cut short
    return;
  }
  const extra: OutgoingHttpHeaders = { ...options.headers };
  if (ex.requestId) extra['x-request-id'] = ex.requestId;
  if (options.grpc) {
    const code = grpcStatusForHttp(status);
    ex.status = 200;
    ex.grpcStatus = String(code);
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeGrpcMessage(body),
        ...extra,
      },
      { endStream: true },
    );
    return;
  }
  ex.status = status;
  const payload = Buffer.from(body);
  stream.respond({
    ':status': status,
    'content-type': 'text/plain',
    'content-length': payload.length,
    ...extra,
  });
  ex.responseBytes += payload.length;
  stream.end(payload);
}

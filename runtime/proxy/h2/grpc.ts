/**
 * gRPC over the mesh: recognising gRPC requests, the `grpc-timeout` header, and local replies
 * as trailers-only responses whose `grpc-status` maps the HTTP status the proxy would have sent
 * (gRPC's HTTP-to-status mapping: 400 → 13, 401 → 16, 403 → 7, 404 → 12,
 * 429/502/503/504 → 14, anything else → 2).
 */

/** True for `application/grpc` and its `+proto`/`+json`... variants. */
export function isGrpcContentType(value: string | string[] | undefined): boolean {
  return typeof value === 'string' && value.startsWith('application/grpc');
}

/** The `grpc-status` a local reply with HTTP `status` carries. */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 200:
      return 0;
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * `grpc-timeout` in milliseconds: 1 to 8 digits and a unit (H, M, S, m, u, n). Undefined when
 * absent or malformed (a malformed value is ignored, as gRPC servers do).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Math.max(1, Math.ceil(Number(m[1]) * UNIT_MS[m[2]]));
}

/** Percent-encodes a `grpc-message` value as the gRPC spec asks. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The effective deadline: the route timeout capped by the client's `grpc-timeout`. */
export function effectiveTimeout(routeMs: number | null, grpcMs: number | undefined): number | null {
  if (grpcMs === undefined) return routeMs;
  return routeMs === null ? grpcMs : Math.min(routeMs, grpcMs);
}

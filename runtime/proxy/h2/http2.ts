/**
 * node:http2, loaded on first use. Loading it costs a sidecar ~1.3 MB of RSS (its nghttp2 state
 * and JavaScript), and most sidecars never see HTTP/2: between sidecars HTTP/1.1 is the default,
 * and apps rarely speak h2c. The protocol constants the forwarders need are here as plain values
 * (RFC 9113 error codes and frame flags), so using them loads nothing.
 */

import type * as Http2 from 'node:http2';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let loaded: typeof Http2 | undefined;

export function http2(): typeof Http2 {
  loaded ??= require('node:http2') as typeof Http2;
  return loaded;
}

/** True once something used HTTP/2 in this process. */
export function http2Loaded(): boolean {
  return loaded !== undefined;
}

/** HTTP/2 error codes and flags (RFC 9113 §7 and §6.1), equal to node:http2's `constants`. */
export const H2 = {
  NGHTTP2_NO_ERROR: 0,
  NGHTTP2_INTERNAL_ERROR: 2,
  NGHTTP2_REFUSED_STREAM: 7,
  NGHTTP2_CANCEL: 8,
  NGHTTP2_FLAG_END_STREAM: 1,
} as const;

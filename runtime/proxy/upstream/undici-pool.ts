/**
 * undici's connection Pool, loaded without the rest of undici. `import { Pool } from 'undici'`
 * also loads fetch, WebSocket, caches and friends: 21 MB of RSS against 11.5 MB for the
 * dispatcher alone (measured in a bare Node 20 process), and the sidecar's budget is 70 MB.
 * Falls back to the package entry if the internal path ever moves.
 */
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as PoolType } from 'undici';

const require = createRequire(import.meta.url);

type RequestApi = (this: PoolType, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

function load(): { Pool: typeof PoolType; request: RequestApi } {
  try {
    // The package entry attaches `request` to Dispatcher.prototype; without it, call the API directly.
    const Pool = require('undici/lib/dispatcher/pool.js') as typeof PoolType;
    const { request } = require('undici/lib/api/index.js') as { request: RequestApi };
    if (typeof Pool === 'function' && typeof request === 'function') return { Pool, request };
  } catch {
    // fall through to the package entry
  }
  const undici = require('undici') as { Pool: typeof PoolType };
  return { Pool: undici.Pool, request: undici.Pool.prototype.request as RequestApi };
}

const loaded = load();
export const Pool: typeof PoolType = loaded.Pool;
export type Pool = PoolType;

/** `pool.request(options)`, whichever way undici was loaded. */
export function poolRequest(
  pool: PoolType,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return loaded.request.call(pool, options);
}

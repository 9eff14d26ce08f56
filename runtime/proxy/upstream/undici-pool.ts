/**
 * undici's connection Pool, loaded without the rest of undici, and the few internal symbols the
 * cluster-wide connection limit reads (`connection-budget.ts`). `import { Pool } from 'undici'`
 * also loads fetch, WebSocket, caches and friends: 21 MB of RSS against 11.5 MB for the
 * dispatcher alone (measured in a bare Node 20 process), and the sidecar's budget is 70 MB.
 * Falls back to the package entry if the internal path ever moves.
 */
import { createRequire, Module } from 'node:module';
import type { Dispatcher, Pool as PoolType } from 'undici';

const require = createRequire(import.meta.url);

/**
 * undici's Client loads its HTTP/2 support, and with it node:http2 (~1.3 MB of RSS), as soon as
 * it is required. Our pools never negotiate HTTP/2 (HTTP/2 between sidecars has its own client,
 * h2/), so the module is put in the require cache as a stand-in that loads the real one on its
 * first call.
 */
function deferClientH2(): void {
  let path: string;
  try {
    path = require.resolve('undici/lib/dispatcher/client-h2.js');
  } catch {
    return;
  }
  if (require.cache[path]) return;
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = function connectH2(this: unknown, ...args: unknown[]): unknown {
    if (require.cache[path] === standIn) delete require.cache[path];
    const real = require(path) as (...a: unknown[]) => unknown;
    return real.apply(this, args);
  };
  require.cache[path] = standIn;
}

type RequestApi = (this: PoolType, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

function load(): { Pool: typeof PoolType; request: RequestApi } {
  deferClientH2();
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

/**
 * undici's internal symbols for a connection's state: `socket[kClient]` is the Client that owns a
 * socket, `client[kSocket]` its current socket, `client[kSize]` its requests running or queued,
 * `pool[kQueued]` requests queued on a Pool for a free client. Undefined when this undici does not
 * have them where expected (the cluster-wide connection limit is then not enforced).
 */
export interface UndiciSymbols {
  kClient: symbol;
  kSocket: symbol;
  kSize: symbol;
  kQueued: symbol;
}

function loadSymbols(): UndiciSymbols | undefined {
  try {
    const s = require('undici/lib/core/symbols.js') as Partial<UndiciSymbols>;
    const { kClient, kSocket, kSize, kQueued } = s;
    if (
      typeof kClient !== 'symbol' ||
      typeof kSocket !== 'symbol' ||
      typeof kSize !== 'symbol' ||
      typeof kQueued !== 'symbol'
    )
      return undefined;
    // The symbols must be the ones the loaded Pool uses (its size getter is keyed by kSize).
    if (!(kSize in loaded.Pool.prototype)) return undefined;
    return { kClient, kSocket, kSize, kQueued };
  } catch {
    return undefined;
  }
}

export const undiciSymbols: UndiciSymbols | undefined = loadSymbols();

/**
 * The Pool's own internals (dispatcher/pool-base.js): `pool[kClients]` its clients (one
 * connection each), `client[kNeedDrain]` set by the Pool while it considers a client busy, and
 * `pool[kGetDispatcher]()` the method that picks (or adds) a client for a request. Undefined when
 * not where expected.
 */
export interface UndiciPoolSymbols {
  kClients: symbol;
  kNeedDrain: symbol;
  kGetDispatcher: symbol;
}

function loadPoolSymbols(): UndiciPoolSymbols | undefined {
  try {
    const s = require('undici/lib/dispatcher/pool-base.js') as Partial<UndiciPoolSymbols>;
    const { kClients, kNeedDrain, kGetDispatcher } = s;
    if (typeof kClients !== 'symbol' || typeof kNeedDrain !== 'symbol' || typeof kGetDispatcher !== 'symbol')
      return undefined;
    if (typeof (loaded.Pool.prototype as unknown as Record<symbol, unknown>)[kGetDispatcher] !== 'function')
      return undefined;
    return { kClients, kNeedDrain, kGetDispatcher };
  } catch {
    return undefined;
  }
}

export const undiciPoolSymbols: UndiciPoolSymbols | undefined = loadPoolSymbols();

/**
 * The destination a captured connection was sent to before the iptables REDIRECT (DESIGN.md
 * §4.3). Node exposes neither SO_ORIGINAL_DST nor IP_TRANSPARENT, so three methods are tried in
 * order, each decided by a test in a network namespace (test/proxy-part2/original-dst.test.ts):
 *
 * 1. `so_original_dst`: the small native addon in ./native (`npm run build:native`), one
 *    getsockopt per connection. Exact and cheap; used whenever the addon was built.
 * 2. `conntrack`: pure JavaScript. The kernel's connection tracking table
 *    (`/proc/net/nf_conntrack`, per network namespace) holds the original tuple of every
 *    redirected connection; the entry whose original source is the peer's address and port
 *    names the original destination. Costs a read of the table per connection, so it is the
 *    fallback, not the default.
 * 3. `local`: the socket's own local address. Right for listeners bound to the destination
 *    itself (explicit TCP listeners, TPROXY); it never invents a destination.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type OriginalDestinationMethod = 'so_original_dst' | 'conntrack' | 'local';

export interface OriginalDestination {
  address: string;
  port: number;
  method: OriginalDestinationMethod;
}

export interface OriginalDestinationOptions {
  /** Methods to try, in order. @default ['so_original_dst', 'conntrack', 'local'] */
  methods: readonly OriginalDestinationMethod[];
  /** Path of the conntrack table. @default '/proc/net/nf_conntrack' */
  conntrackPath: string;
  /** Path of the built addon; the default is ./native/build/Release/original_dst.node. */
  addonPath?: string;
}

export const ORIGINAL_DESTINATION_DEFAULTS: OriginalDestinationOptions = {
  methods: ['so_original_dst', 'conntrack', 'local'],
  conntrackPath: '/proc/net/nf_conntrack',
};

interface Addon {
  getOriginalDst(fd: number): { address: string; port: number };
}

/** Loads the addon from its build folder (the source tree's or, from build/, the repository's). */
export function loadOriginalDstAddon(path?: string): Addon | undefined {
  const require = createRequire(import.meta.url);
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = path
    ? [path]
    : [
        join(here, 'native/build/Release/original_dst.node'),
        join(here, '../../../../runtime/proxy/tcp/native/build/Release/original_dst.node'),
      ];
  for (const p of candidates) {
    try {
      return require(p) as Addon;
    } catch {
      // not built there
    }
  }
  return undefined;
}

function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Finds the original destination of the connection from `peer` in conntrack text. */
export function parseConntrack(
  text: string,
  peer: { address: string; port: number },
  local: { address: string; port: number },
): { address: string; port: number } | undefined {
  const sport = `sport=${peer.port} `;
  for (const line of text.split('\n')) {
    if (!line.includes(sport) || !line.includes(' tcp ')) continue;
    const src = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1]);
    const dst = [...line.matchAll(/dst=(\S+)/g)].map((m) => m[1]);
    const sports = [...line.matchAll(/sport=(\d+)/g)].map((m) => Number(m[1]));
    const dports = [...line.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
    if (src.length < 2 || dst.length < 2 || sports.length < 2 || dports.length < 2) continue;
    // Original tuple: the peer → the original destination; reply tuple: us → the peer.
    if (src[0] !== peer.address || sports[0] !== peer.port) continue;
    if (sports[1] !== local.port || dports[1] !== peer.port) continue;
    return { address: dst[0], port: dports[0] };
  }
  return undefined;
}

export type OriginalDestinationResolver = (socket: Socket) => Promise<OriginalDestination | undefined>;

/** Builds a resolver trying the configured methods in order. */
export function createOriginalDestinationResolver(
  options: Partial<OriginalDestinationOptions> = {},
): OriginalDestinationResolver {
  const o = { ...ORIGINAL_DESTINATION_DEFAULTS, ...options } satisfies OriginalDestinationOptions;
  const addon = o.methods.includes('so_original_dst') ? loadOriginalDstAddon(o.addonPath) : undefined;
  let conntrackUsable = o.methods.includes('conntrack');
  return async (socket) => {
    const local = { address: stripV4Mapped(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    for (const method of o.methods) {
      if (method === 'so_original_dst' && addon) {
        const fd = socketFd(socket);
        if (fd === undefined) continue;
        try {
          const d = addon.getOriginalDst(fd);
          return { address: d.address, port: d.port, method };
        } catch {
          // ENOENT: not a redirected connection
        }
      } else if (method === 'conntrack' && conntrackUsable) {
        const peer = { address: stripV4Mapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
        try {
          const d = parseConntrack(await readFile(o.conntrackPath, 'utf8'), peer, local);
          if (d) return { ...d, method };
        } catch {
          conntrackUsable = false;
        }
      } else if (method === 'local' && local.port > 0) {
        return { ...local, method };
      }
    }
    return undefined;
  };
}

/**
 * The addon alone, synchronously (for listeners that must decide before reading on): undefined
 * when the addon is not built or the connection was not redirected.
 */
export function createSyncOriginalDestination(
  addonPath?: string,
): ((socket: Socket) => { address: string; port: number } | undefined) | undefined {
  const addon = loadOriginalDstAddon(addonPath);
  if (!addon) return undefined;
  return (socket) => {
    const fd = socketFd(socket);
    if (fd === undefined) return undefined;
    try {
      return addon.getOriginalDst(fd);
    } catch {
      return undefined;
    }
  };
}

/** Which methods work in this process (for the admin config dump and the docs' decision). */
export function originalDestinationSupport(): { addon: boolean } {
  return { addon: loadOriginalDstAddon() !== undefined };
}

/**
 * Name resolution for upstreams named by host (ServiceEntry `resolution: DNS` endpoints and
 * ALLOW_ANY passthrough by Host header), at connect time, cached by the records' TTL. Names are
 * asked of a `node:dns` Resolver (A, then AAAA) so the TTL is known; when it has no answer the
 * system resolver (`dns.lookup`: the hosts file, then DNS) is asked and its answer kept for
 * `fallbackTtlMs`. Addresses of one name are handed out round robin. Plugs into `net.connect`
 * as its `lookup` option.
 */
import { lookup as systemLookup } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';

export interface DnsOptions {
  /** DNS servers (`127.0.0.1:5353`, `[::1]:53`); the system's (/etc/resolv.conf) when empty. */
  servers: readonly string[];
  /** Lower bound of the cache time, whatever the TTL says. */
  minTtlMs: number;
  /** Upper bound of the cache time. */
  maxTtlMs: number;
  /** Ask the system resolver (hosts file) when DNS has no answer. */
  systemFallback: boolean;
  /** Cache time of a system resolver answer (it carries no TTL). */
  fallbackTtlMs: number;
  /** Most names kept; the oldest entry goes first. */
  maxEntries: number;
  /** Per-query timeout. */
  timeoutMs: number;
}

export const DEFAULT_DNS_OPTIONS: DnsOptions = {
  servers: [],
  minTtlMs: 1_000,
  maxTtlMs: 300_000,
  systemFallback: true,
  fallbackTtlMs: 5_000,
  maxEntries: 1024,
  timeoutMs: 2_000,
};

interface Entry {
  addresses: { address: string; family: 4 | 6 }[];
  expires: number;
  next: number;
}

export class DnsCache {
  readonly options: DnsOptions;
  private readonly resolver: Resolver;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Queries sent to DNS (tests and /stats read it). */
  queries = 0;

  constructor(
    input: Partial<DnsOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULT_DNS_OPTIONS, ...input } satisfies DnsOptions;
    this.resolver = new Resolver({ timeout: this.options.timeoutMs, tries: 2 });
    if (this.options.servers.length > 0) this.resolver.setServers([...this.options.servers]);
  }

  /** Resolves `host` to one address (round robin over the cached answer). */
  async resolve(host: string): Promise<{ address: string; family: 4 | 6 }> {
    const name = host.toLowerCase().replace(/\.$/, '');
    const literal = isIP(name.replace(/^\[|\]$/g, ''));
    if (literal) return { address: name.replace(/^\[|\]$/g, ''), family: literal as 4 | 6 };
    let entry = this.entries.get(name);
    if (!entry || entry.expires <= this.now()) {
      let pending = this.inflight.get(name);
      if (!pending) {
        pending = this.query(name).finally(() => this.inflight.delete(name));
        this.inflight.set(name, pending);
      }
      entry = await pending;
    }
    const pick = entry.addresses[entry.next % entry.addresses.length];
    entry.next++;
    return pick;
  }

  /** A `lookup` for `net.connect` / `tls.connect`. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (r) => {
        if ((options as { all?: boolean }).all) (callback as never as AllCallback)(null, [r]);
        else callback(null, r.address, r.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };

  clear(): void {
    this.entries.clear();
  }

  private async query(name: string): Promise<Entry> {
    const o = this.options;
    this.queries++;
    let records: { address: string; ttl: number }[] = [];
    let family: 4 | 6 = 4;
    let dnsError: Error | undefined;
    try {
      records = await this.resolver.resolve4(name, { ttl: true });
    } catch (err) {
      dnsError = err as Error;
    }
    if (records.length === 0) {
      try {
        records = await this.resolver.resolve6(name, { ttl: true });
        family = 6;
      } catch {
        // keep the A error
      }
    }
    let entry: Entry;
    if (records.length > 0) {
      const ttlMs = Math.min(...records.map((r) => r.ttl)) * 1000;
      entry = {
        addresses: records.map((r) => ({ address: r.address, family })),
        expires: this.now() + Math.min(o.maxTtlMs, Math.max(o.minTtlMs, ttlMs)),
        next: 0,
      };
    } else if (o.systemFallback) {
      const found = await new Promise<{ address: string; family: number }[]>((resolve, reject) =>
        systemLookup(name, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
      ).catch((err: NodeJS.ErrnoException) => {
        throw Object.assign(
          new Error(`cannot resolve ${name}: ${dnsError?.message ?? ''} ${err.message}`.trim()),
          {
            code: 'ENOTFOUND',
          },
        );
      });
      entry = {
        addresses: found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })),
        expires: this.now() + o.fallbackTtlMs,
        next: 0,
      };
    } else {
      throw Object.assign(new Error(`cannot resolve ${name}: ${dnsError?.message ?? 'no address'}`), {
        code: 'ENOTFOUND',
      });
    }
    this.entries.delete(name);
    this.entries.set(name, entry);
    while (this.entries.size > o.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return entry;
  }
}

type AllCallback = (
  err: NodeJS.ErrnoException | null,
  addresses: { address: string; family: number }[],
) => void;

/**
 * IP addresses and CIDR blocks for AuthorizationPolicy `ipBlocks`: IPv4, IPv6 and IPv4-mapped
 * IPv6 (`::ffff:10.0.0.1`, as Node reports IPv4 peers on dual-stack sockets).
 */

export interface Cidr {
  v6: boolean;
  bits: bigint;
  prefix: number;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out = (out << 8n) | BigInt(n);
  }
  return out;
}

function parseV6(text: string): bigint | undefined {
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const left = halves[0] === '' ? [] : halves[0].split(':');
  const right = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let out = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out = (out << 16n) | BigInt(Number.parseInt(g, 16));
  }
  if (tailV4 !== undefined) out = (out & ~0xffffffffn) | tailV4;
  return out;
}

/** Parses an address; IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): { v6: boolean; bits: bigint } | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { v6: false, bits: v4 };
  const v6 = parseV6(text.replace(/%.*$/, ''));
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { v6: false, bits: v6 & 0xffffffffn };
  return { v6: true, bits: v6 };
}

/** Parses `a.b.c.d/n`, `x::/n` or a bare address (a /32 or /128). Throws on bad input. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const ip = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!ip) throw new Error(`invalid IP address or CIDR block '${text}'`);
  const max = ip.v6 ? 128 : 32;
  const prefix = slash >= 0 ? Number(text.slice(slash + 1)) : max;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw new Error(`invalid prefix length in '${text}'`);
  return { v6: ip.v6, bits: ip.bits, prefix };
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const ip = parseIp(address);
  if (!ip || ip.v6 !== cidr.v6) return false;
  const width = BigInt(cidr.v6 ? 128 : 32);
  const shift = width - BigInt(cidr.prefix);
  return ip.bits >> shift === cidr.bits >> shift;
}

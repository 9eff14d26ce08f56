/**
 * The per-request decision: host lookup, first matching rule, per-request weighted split.
 * Pure (randomness injected) and allocation-free on the common path: decisions are
 * precomputed per rule, match entry and destination, and returned shared (read-only).
 */
import { parseAuthority } from '../hosts.js';
import { testMatch } from './matchers.js';
import type { CompiledRule, PortRoutes, RouteTable, VirtualHost } from './table.js';
import type { RequestAttributes, RouteDecision } from './types.js';

/** Finds the virtual host a request's authority names, as the table's proxy resolves it. */
export function lookupHost(table: RouteTable, authority: string): VirtualHost | undefined {
  const direct = table.hosts.get(authority);
  if (direct) return direct;
  const { host, port } = parseAuthority(authority);
  const vh = table.hosts.get(host) ?? (port !== undefined ? table.hosts.get(`${host}:${port}`) : undefined);
  if (vh) return vh;
  for (const w of table.wildcardHosts) {
    if (w.host === '*' || (host.length > w.host.length - 1 && host.endsWith(w.host.slice(1)))) return w;
  }
  return undefined;
}

/** Which match entry of a rule holds (its slot), or -1. */
function matchSlot(rule: CompiledRule, req: RequestAttributes): number {
  const matches = rule.matches;
  if (matches === null) return 0;
  for (let i = 0; i < matches.length; i++) if (testMatch(matches[i], req)) return i;
  return -1;
}

/** Decides what happens to a request. `random` returns a number in [0, 1). */
export function route(
  table: RouteTable,
  req: RequestAttributes,
  random: () => number = Math.random,
): RouteDecision {
  const vh = lookupHost(table, req.authority);
  if (vh === undefined) return table.unknownHost;
  const routes: PortRoutes | undefined = vh.ports.get(req.port) ?? vh.anyPort;
  if (routes === undefined) return table.unknownHost;
  const rules = routes.rules;
  if (rules === null) return routes.fallback;
  for (let r = 0; r < rules.length; r++) {
    const rule = rules[r];
    const slot = matchSlot(rule, req);
    if (slot < 0) continue;
    const row = rule.decisions[slot];
    if (rule.redirect !== undefined) return withLocation(row[0], rule, req);
    if (row.length === 1) return row[0];
    const pick = random() * rule.total;
    const cumulative = rule.cumulative;
    for (let i = 0; i < cumulative.length; i++) if (pick < cumulative[i]) return row[i];
    return row[row.length - 1];
  }
  return routes.fallback;
}

function withLocation(template: RouteDecision, rule: CompiledRule, req: RequestAttributes): RouteDecision {
  const r = rule.redirect!;
  const scheme = r.scheme ?? req.scheme ?? 'http';
  const { host, port: authorityPort } = parseAuthority(req.authority);
  const authority = r.authority ?? host;
  let port: number | undefined = r.port;
  if (port === undefined && r.derivePort === 'FROM_REQUEST_PORT') port = req.port;
  if (port === undefined && r.derivePort === undefined && r.authority === undefined) port = authorityPort;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const hostPart = port !== undefined && port !== defaultPort ? `${authority}:${port}` : authority;
  const path = r.uri ?? req.path;
  const query = req.query ? `?${req.query}` : '';
  const redirect = { ...template.redirect!, location: `${scheme}://${hostPart}${path}${query}` };
  if (r.uri !== undefined) redirect.uri = r.uri;
  if (r.authority !== undefined) redirect.authority = r.authority;
  if (r.scheme !== undefined) redirect.scheme = r.scheme;
  if (port !== undefined) redirect.port = port;
  return { ...template, redirect };
}

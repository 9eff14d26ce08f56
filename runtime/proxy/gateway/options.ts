/**
 * Options of the gateway mode (`tsmesh proxy --gateway`), merged with defaults in one literal
 * and validated with errors that name the option, the value and what is allowed.
 */

export interface GatewayOptions {
  /**
   * Directory of TLS credentials for HTTPS servers: `<dir>/<credentialName>/tls.crt` and
   * `tls.key`. Without it, HTTPS servers are not served (logged).
   */
  credentialDir?: string;
  /**
   * Added to every Gateway server port to get the local port, so a Gateway on port 80 can run
   * without root (offset 8000 → 8080). Ports in `portMap` are not offset.
   */
  portOffset: number;
  /** Explicit local port for a Gateway server port (`{ 80: 8080, 443: 8443 }`); 0 = ephemeral (tests). */
  portMap: Readonly<Record<number, number>>;
  /** Address the gateway listeners bind; the proxy's `address` when absent. */
  address?: string;
}

export type GatewayOptionsInput = Partial<GatewayOptions>;

export const DEFAULT_GATEWAY_OPTIONS = { portOffset: 0, portMap: {} } satisfies GatewayOptions;

export function resolveGatewayOptions(input: GatewayOptionsInput): GatewayOptions {
  const o = { ...DEFAULT_GATEWAY_OPTIONS, ...input } satisfies GatewayOptions;
  const problems: string[] = [];
  if (!Number.isInteger(o.portOffset) || o.portOffset < 0 || o.portOffset > 65535)
    problems.push(`gateway.portOffset must be an integer in 0..65535, got ${o.portOffset}`);
  for (const [from, to] of Object.entries(o.portMap) as [string, number][]) {
    const f = Number(from);
    if (!Number.isInteger(f) || f < 1 || f > 65535)
      problems.push(`gateway.portMap: key must be a port in 1..65535, got '${from}'`);
    if (!Number.isInteger(to) || to < 0 || to > 65535)
      problems.push(`gateway.portMap[${from}] must be a port in 0..65535, got ${to}`);
  }
  if (o.credentialDir === '') problems.push('gateway.credentialDir must not be empty');
  if (problems.length > 0) throw new Error(`invalid gateway options:\n  - ${problems.join('\n  - ')}`);
  return o;
}

/** The local port for a Gateway server port, or an error when the offset leaves the port range. */
export function localPort(o: GatewayOptions, port: number): number {
  const mapped = o.portMap[port];
  if (mapped !== undefined) return mapped;
  const local = port + o.portOffset;
  if (local > 65535)
    throw new Error(`gateway port ${port} + port offset ${o.portOffset} = ${local} is not a port`);
  return local;
}

/** Parses `--port-map 80=8080,443=8443`. */
export function parsePortMap(text: string): Record<number, number> {
  const out: Record<number, number> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([0-9]{1,5})=([0-9]{1,5})$/.exec(item);
    if (!m) throw new Error(`--port-map: expected GATEWAY_PORT=LOCAL_PORT[,...], got '${item}'`);
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

/**
 * Which ports a gateway proxy listens on, compiled once per snapshot from the Gateway objects
 * whose `selector` matches the proxy's labels: one listener per server port, HTTP or HTTPS
 * (TLS terminated with a credential), each with the host patterns its servers accept.
 */
import type { Gateway, MeshObject } from '../../../lib/api/types.js';
import { hostMatches } from '../../../lib/hosts.js';
import type { ProxyIdentity } from '../../../lib/model.js';
import { gatewaysFor } from '../../../lib/routing/scope.js';

/** One `servers[]` entry as the gateway runs it. */
export interface GatewayServer {
  /** `namespace/name` of the Gateway. */
  gateway: string;
  /** Index in `spec.servers`. */
  index: number;
  /** Host patterns without their `namespace/` part (`*`, `*.example.com`, `bookinfo.example.com`). */
  hosts: readonly string[];
  /** The credential (`credentialName`) of an HTTPS server. */
  credentialName?: string;
}

/** One listening port. */
export interface GatewayListenerSpec {
  /** The port the Gateway names (before any local port mapping). */
  port: number;
  protocol: 'HTTP' | 'HTTPS';
  servers: readonly GatewayServer[];
}

export interface GatewayPlan {
  listeners: Map<number, GatewayListenerSpec>;
  /** Servers that could not be served, each with the reason (logged, never silently dropped). */
  problems: string[];
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC']);

function gatewayRef(g: Gateway): string {
  return `${g.metadata.namespace ?? 'default'}/${g.metadata.name}`;
}

/** Compiles the listeners for `proxy` from the snapshot's objects. */
export function planGatewayListeners(objects: readonly MeshObject[], proxy: ProxyIdentity): GatewayPlan {
  const listeners = new Map<number, GatewayListenerSpec>();
  const problems: string[] = [];
  const gateways = gatewaysFor(objects, { ...proxy, mode: 'gateway' }).sort((a, b) =>
    gatewayRef(a) < gatewayRef(b) ? -1 : 1,
  );
  for (const gw of gateways) {
    const ref = gatewayRef(gw);
    (gw.spec?.servers ?? []).forEach((server, index) => {
      const where = `Gateway ${ref}: spec.servers[${index}]`;
      const number = server.port?.number;
      const declared = (server.port?.protocol ?? '').toUpperCase();
      let protocol: GatewayListenerSpec['protocol'];
      if (HTTP_PROTOCOLS.has(declared)) protocol = 'HTTP';
      else if (declared === 'HTTPS') protocol = 'HTTPS';
      else {
        problems.push(`${where}.port.protocol ${declared} is not served by the gateway (HTTP or HTTPS)`);
        return;
      }
      const entry: GatewayServer = {
        gateway: ref,
        index,
        hosts: (server.hosts ?? []).map((h) => {
          const slash = h.indexOf('/');
          return (slash >= 0 ? h.slice(slash + 1) : h).toLowerCase();
        }),
      };
      if (protocol === 'HTTPS') {
        const mode = server.tls?.mode ?? 'SIMPLE';
        if (mode !== 'SIMPLE' || !server.tls?.credentialName) {
          problems.push(`${where}.tls: only mode SIMPLE with credentialName is served, got mode ${mode}`);
          return;
        }
        entry.credentialName = server.tls.credentialName;
      }
      const existing = listeners.get(number);
      if (existing && existing.protocol !== protocol) {
        problems.push(
          `${where}: port ${number} is already served as ${existing.protocol} by ${existing.servers[0].gateway}; ${protocol} on the same port is ignored`,
        );
        return;
      }
      if (existing) (existing.servers as GatewayServer[]).push(entry);
      else listeners.set(number, { port: number, protocol, servers: [entry] });
    });
  }
  return { listeners, problems };
}

/** The server of a listener that accepts `host`, most specific pattern first; undefined: 404. */
export function serverFor(spec: GatewayListenerSpec, host: string): GatewayServer | undefined {
  let best: GatewayServer | undefined;
  let bestScore = -1;
  for (const s of spec.servers) {
    for (const p of s.hosts) {
      if (!hostMatches(p, host)) continue;
      const score = p === host ? 1_000_000 : p.length;
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
  }
  return best;
}

/**
 * The gateway's listeners: one HTTP or HTTPS server per Gateway server port, reconciled with each
 * applied snapshot (ports added, removed, or switched between HTTP and HTTPS; credentials
 * re-read). HTTPS picks the credential by SNI among the servers of the port (the most specific
 * host pattern wins; no or unknown SNI gets the port's first server).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { ActiveConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { rejectMalformed } from '../listeners/inbound.js';
import { CredentialError, CredentialStore } from './credentials.js';
import { createGatewayHandler } from './handler.js';
import {
  type GatewayOptions,
  type GatewayOptionsInput,
  localPort,
  resolveGatewayOptions,
} from './options.js';
import { type GatewayListenerSpec, planGatewayListeners, serverFor } from './servers.js';

interface Running {
  spec: GatewayListenerSpec;
  server: Server;
  protocol: GatewayListenerSpec['protocol'];
}

/** A bound gateway listener, as reported to operators and tests. */
export interface GatewayPortInfo {
  /** The Gateway server port. */
  port: number;
  /** The port actually bound (after offset or mapping). */
  localPort: number;
  protocol: 'HTTP' | 'HTTPS';
  hosts: string[];
}

export class GatewayListeners {
  readonly options: GatewayOptions;
  private readonly running = new Map<number, Running>();
  private readonly credentials: CredentialStore;
  private address = '0.0.0.0';

  constructor(
    private readonly ctx: ProxyContext,
    input: GatewayOptionsInput = {},
  ) {
    this.options = resolveGatewayOptions(input);
    this.credentials = new CredentialStore(this.options.credentialDir);
  }

  /** Remembers where to bind; listeners open when the first snapshot is applied. */
  start(address: string): void {
    this.address = this.options.address ?? address;
  }

  /**
   * Brings the listeners in line with a new config. Problems with one server (a missing
   * credential, a port in use) are logged and leave the other listeners serving.
   */
  async reconcile(cfg: ActiveConfig): Promise<void> {
    const plan = planGatewayListeners(cfg.snapshot.objects, cfg.snapshot.proxy);
    const log = this.ctx.options.log;
    for (const p of plan.problems) log('warn', `gateway: ${p}`);
    if (plan.listeners.size === 0)
      log('warn', 'gateway: no Gateway selects this proxy (check the Gateway selector and the pod labels)');
    for (const [port, r] of this.running) {
      const next = plan.listeners.get(port);
      if (!next || next.protocol !== r.protocol) {
        this.running.delete(port);
        await closeServer(r.server);
      }
    }
    for (const [port, spec] of plan.listeners) {
      if (spec.protocol === 'HTTPS' && !this.checkCredentials(spec)) {
        const r = this.running.get(port);
        if (r) {
          this.running.delete(port);
          await closeServer(r.server);
        }
        continue;
      }
      const existing = this.running.get(port);
      if (existing) {
        existing.spec = spec;
        continue;
      }
      const entry = { spec, protocol: spec.protocol } as Running;
      entry.server = this.createServer(entry);
      try {
        await listen(entry.server, localPort(this.options, port), this.address);
        this.running.set(port, entry);
        log(
          'info',
          `gateway: ${spec.protocol} on ${this.address}:${boundPort(entry.server)} for port ${port}`,
        );
      } catch (err) {
        log('error', `gateway: port ${port}: ${(err as Error).message}`);
      }
    }
  }

  /** The bound listeners, by Gateway port. */
  ports(): GatewayPortInfo[] {
    return [...this.running.values()]
      .map((r) => ({
        port: r.spec.port,
        localPort: boundPort(r.server),
        protocol: r.protocol,
        hosts: [...new Set(r.spec.servers.flatMap((s) => s.hosts))],
      }))
      .sort((a, b) => a.port - b.port);
  }

  async close(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => closeServer(r.server)));
  }

  /** Loads every credential of an HTTPS listener; false (logged) when one is unusable. */
  private checkCredentials(spec: GatewayListenerSpec): boolean {
    for (const s of spec.servers) {
      try {
        this.credentials.context(s.credentialName!);
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        this.ctx.options.log('error', `gateway: ${s.gateway} port ${spec.port} not served: ${err.message}`);
        return false;
      }
    }
    return true;
  }

  private createServer(entry: Running): Server {
    const o = this.ctx.options;
    const settings = {
      maxHeaderSize: o.maxHeaderBytes,
      insecureHTTPParser: false,
      requestTimeout: 0,
      keepAliveTimeout: o.downstreamIdleTimeoutMs,
    };
    const handler = createGatewayHandler(this.ctx, {
      spec: () => (this.running.get(entry.spec.port) === entry ? entry.spec : undefined),
      scheme: entry.protocol === 'HTTPS' ? 'https' : 'http',
    });
    const server: Server =
      entry.protocol === 'HTTPS'
        ? (createHttpsServer(
            {
              ...settings,
              SNICallback: (servername, cb) => {
                try {
                  cb(null, this.contextFor(entry.spec, servername));
                } catch (err) {
                  cb(err as Error);
                }
              },
              ...this.defaultCredential(entry.spec),
            },
            handler,
          ) as unknown as Server)
        : createHttpServer(settings, handler);
    server.maxHeadersCount = o.maxHeadersCount + 1;
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => rejectMalformed(err, socket));
    return server;
  }

  /** The credential for an SNI name: the server whose hosts match it best, else the first. */
  private contextFor(spec: GatewayListenerSpec, servername: string): SecureContext {
    const server = (servername ? serverFor(spec, servername.toLowerCase()) : undefined) ?? spec.servers[0];
    return this.credentials.context(server.credentialName!);
  }

  /** Certificate and key for clients that send no SNI (read at listener creation). */
  private defaultCredential(spec: GatewayListenerSpec): { cert?: Buffer; key?: Buffer } {
    const name = spec.servers[0]?.credentialName;
    if (!name) return {};
    const paths = this.credentials.paths(name);
    return { cert: readFileSync(paths.cert), key: readFileSync(paths.key) };
  }
}

function boundPort(server: Server): number {
  const a = server.address();
  return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

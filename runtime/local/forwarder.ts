#!/usr/bin/env node
/**
 * Runs inside a pod's network namespace and forwards every connection accepted on a Unix socket
 * to an address there: how `tsmesh up` (in the host's namespace) reaches the ingress gateway
 * without a route or a rule in the host's tables.
 *
 *   node forwarder.js <unix-socket> <host> <port>
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';

/** Pipes one accepted connection to `to` (both directions, errors and closes propagated). */
export function bridge(client: Socket, to: { host?: string; port?: number; path?: string }): void {
  const upstream = to.path ? connect(to.path) : connect(to.port!, to.host!);
  pipeline(client, upstream, client, () => {
    client.destroy();
    upstream.destroy();
  });
}

export function forward(to: Parameters<typeof bridge>[1]): Server {
  return createServer((client) => bridge(client, to));
}

const [socketPath, host, port] = process.argv.slice(2);
if (socketPath && host && port && process.argv[1]?.endsWith('forwarder.js')) {
  rmSync(socketPath, { force: true });
  const server = forward({ host, port: Number(port) });
  server.listen(socketPath, () => console.log(`forwarding ${socketPath} to ${host}:${port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

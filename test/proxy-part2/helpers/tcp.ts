/** TCP apps and clients for the part-2 proxy tests. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpApp {
  server: Server;
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections currently open. */
  open: Set<Socket>;
  close(): Promise<void>;
}

/** A TCP server that greets with `<name>\n` and echoes everything back. */
export async function startTcpEcho(name: string): Promise<TcpApp> {
  const open = new Set<Socket>();
  const app: TcpApp = {
    server: createServer((s) => {
      app.accepted++;
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
      s.write(`${name}\n`);
      s.pipe(s);
    }),
    port: 0,
    accepted: 0,
    open,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        app.server.close(() => resolve());
      }),
  };
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
  app.port = (app.server.address() as { port: number }).port;
  return app;
}

export interface TcpExchange {
  /** Everything received until the server closed or `timeoutMs` passed. */
  data: string;
  /** The server closed the connection (rather than the client timing out). */
  closedByPeer: boolean;
}

/** Connects, sends `payload`, waits until `expect` bytes arrived (then closes) or the peer closed. */
export function tcpExchange(
  port: number,
  payload: string,
  options: { expectBytes?: number; timeoutMs?: number } = {},
): Promise<TcpExchange> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let size = 0;
    let closedByPeer = true;
    const t = setTimeout(() => {
      closedByPeer = false;
      s.destroy();
    }, options.timeoutMs ?? 3000);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (options.expectBytes !== undefined && size >= options.expectBytes) {
        closedByPeer = false;
        s.end();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(chunks).toString(), closedByPeer });
    });
    s.write(payload);
  });
}

/** Opens a connection and resolves once the first bytes (the greeting) arrived. */
export function openTcp(port: number): Promise<{ socket: Socket; greeting: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('data', (c: Buffer) => resolve({ socket: s, greeting: c.toString() }));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the greeting')));
  });
}

/** A deterministic [0, 1) sequence (xorshift), for weighted splits. */
export function seeded(seed = 42): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

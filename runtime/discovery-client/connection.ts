/**
 * One TLS connection to the control plane, as a frame stream: verifies the control plane's
 * certificate (the mesh CA, its SPIFFE id and its Service DNS name), sends and receives frames,
 * answers nothing by itself.
 */
import { EventEmitter } from 'node:events';
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { decodeControlPlaneMessage } from '../../lib/protocol/decode.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/framing.js';
import { type ControlPlaneMessage, DISCOVERY_ALPN, type ProxyMessage } from '../../lib/protocol/messages.js';

export interface ConnectOptions {
  host: string;
  port: number;
  trustBundlePem: string[];
  serverName: string;
  expectedServerId: string;
  localAddress?: string;
  clientCert?: { certPem: string; chainPem: string; keyPem: string };
  maxFrameBytes?: number;
  connectTimeoutMs?: number;
}

/** Checks the control plane's certificate beyond the chain: its DNS name and its SPIFFE id. */
export function checkControlPlaneIdentity(
  cert: PeerCertificate,
  serverName: string,
  expectedId: string,
): Error | undefined {
  const entries = (cert.subjectaltname ?? '').split(', ');
  const dns = entries.filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase());
  const uris = entries.filter((e) => e.startsWith('URI:')).map((e) => e.slice(4));
  if (!dns.includes(serverName.toLowerCase())) {
    return new Error(
      `control plane certificate is not for ${serverName} (DNS names: ${dns.join(', ') || 'none'})`,
    );
  }
  if (uris.length !== 1 || uris[0] !== expectedId) {
    return new Error(`control plane certificate identity ${uris.join(', ') || 'none'} is not ${expectedId}`);
  }
  return undefined;
}

export class ControlPlaneConnection extends EventEmitter<{
  message: [ControlPlaneMessage];
  close: [Error | undefined];
}> {
  private socket?: TLSSocket;
  private closeError?: Error;

  private constructor() {
    super();
  }

  static open(options: ConnectOptions): Promise<ControlPlaneConnection> {
    const conn = new ControlPlaneConnection();
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: options.host,
        port: options.port,
        servername: options.serverName,
        ca: options.trustBundlePem,
        ALPNProtocols: [DISCOVERY_ALPN],
        minVersion: 'TLSv1.2',
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        ...(options.clientCert
          ? { cert: options.clientCert.certPem + options.clientCert.chainPem, key: options.clientCert.keyPem }
          : {}),
        checkServerIdentity: (_host, cert) =>
          checkControlPlaneIdentity(cert, options.serverName, options.expectedServerId),
      });
      conn.socket = socket;
      const timer = setTimeout(
        () => socket.destroy(new Error(`no TLS handshake within ${options.connectTimeoutMs ?? 10_000} ms`)),
        options.connectTimeoutMs ?? 10_000,
      );
      const decoder = new FrameDecoder(options.maxFrameBytes);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(conn);
      });
      socket.on('data', (chunk: Buffer) => {
        let values: unknown[];
        try {
          values = decoder.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        for (const v of values) {
          let msg: ControlPlaneMessage;
          try {
            msg = decodeControlPlaneMessage(v);
          } catch (err) {
            socket.destroy(err as Error);
            return;
          }
          if (msg.type === 'error' && msg.fatal)
            conn.closeError ??= new Error(`control plane: ${msg.message}`);
          conn.emit('message', msg);
        }
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        conn.closeError ??= err;
        reject(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        conn.emit('close', conn.closeError);
      });
    });
  }

  get closed(): boolean {
    return !this.socket || this.socket.destroyed;
  }

  send(message: ProxyMessage): void {
    if (!this.closed) this.socket!.write(encodeFrame(message));
  }

  close(error?: Error): void {
    if (error) this.closeError ??= error;
    this.socket?.destroy();
  }

  /**
   * Waits for the first message that `pick` accepts (a value) or refuses (an Error); rejects on
   * close or timeout too.
   */
  waitFor<T>(
    pick: (m: ControlPlaneMessage) => T | Error | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ControlPlaneMessage): void => {
        const value = pick(m);
        if (value instanceof Error) {
          done();
          reject(value);
        } else if (value !== undefined) {
          done();
          resolve(value);
        }
      };
      const onClose = (err?: Error): void => {
        done();
        reject(err ?? new Error(`connection closed while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.off('message', onMessage);
        this.off('close', onClose);
      };
      this.on('message', onMessage);
      this.on('close', onClose);
    });
  }
}

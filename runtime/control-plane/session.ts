/**
 * One discovery connection: frames in and out, and what the control plane knows about the proxy
 * on the other end. The decisions (certificates, registration, pushes) are the control plane's.
 */
import type { TLSSocket } from 'node:tls';
import type { ProxyIdentity, WorkloadInstance } from '../../lib/model.js';
import type { SyncState } from '../../lib/protocol/admin.js';
import { decodeProxyMessage, ProtocolError } from '../../lib/protocol/decode.js';
import { encodeFrame, encodeJsonFrame, FrameDecoder, type FrameError } from '../../lib/protocol/framing.js';
import type { ControlPlaneMessage, ErrorCode, ProxyMessage } from '../../lib/protocol/messages.js';
import { normalizeAddress } from './identity-checks.js';

export interface SessionHandler {
  onMessage(session: DiscoverySession, message: ProxyMessage): void | Promise<void>;
  onClose(session: DiscoverySession): void;
}

export class DiscoverySession {
  readonly peerAddress: string;
  readonly connectedAt = new Date();
  protocolVersion = 0;
  tsmeshVersion = '';
  /** Verified SPIFFE id of the client certificate, if one was presented. */
  readonly spiffeId?: string;
  certificate?: { serial: string; notAfter: Date };
  instance?: WorkloadInstance;
  proxy?: ProxyIdentity;
  /** The proxy said it already holds a snapshot (it reconnected). */
  resumed = false;

  sentVersion?: number;
  sentHash?: string;
  /** The change generation the last sent snapshot reflects, and when that change happened. */
  sentGeneration = 0;
  sentChangeAt = 0;
  /** What the sent snapshot's content was built from (scope content + proxy identity). */
  sentContentKey?: string;
  /** Content changed while a snapshot was unanswered; send the newest on the answer. */
  pushPending = false;
  /** Bytes of the unanswered snapshot. */
  inflightBytes = 0;
  ackedVersion?: number;
  ackedHash?: string;
  nackError?: string;
  nackedVersion?: number;
  closed = false;
  private failed = false;
  private readonly decoder: FrameDecoder;

  constructor(
    readonly socket: TLSSocket,
    spiffeId: string | undefined,
    private readonly handler: SessionHandler,
    options: { maxFrameBytes: number; idleTimeoutMs: number },
  ) {
    this.spiffeId = spiffeId;
    this.peerAddress = normalizeAddress(socket.remoteAddress);
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      handler.onClose(this);
    });
  }

  get state(): SyncState {
    if (this.nackError !== undefined && this.nackedVersion === this.sentVersion) return 'NACKED';
    if (this.sentVersion !== undefined && this.ackedVersion === this.sentVersion) return 'SYNCED';
    return 'STALE';
  }

  send(message: ControlPlaneMessage): void {
    if (this.closed) return;
    this.socket.write(encodeFrame(message));
  }

  /** Sends pre-serialized JSON; returns the bytes written. */
  sendJson(json: string): number {
    if (this.closed) return 0;
    const frame = encodeJsonFrame(json);
    this.socket.write(frame);
    return frame.length;
  }

  fail(code: ErrorCode, message: string, requestId?: string): void {
    if (this.failed) return;
    this.failed = true;
    this.send({ type: 'error', code, message, fatal: true, ...(requestId ? { requestId } : {}) });
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.failed) return;
    let values: unknown[];
    try {
      values = this.decoder.push(chunk);
    } catch (err) {
      this.fail('bad-frame', (err as FrameError).message);
      return;
    }
    for (const value of values) {
      let message: ProxyMessage;
      try {
        message = decodeProxyMessage(value, this.protocolVersion);
      } catch (err) {
        if (err instanceof ProtocolError) {
          this.send({ type: 'error', code: 'invalid-request', message: err.message });
          continue;
        }
        throw err;
      }
      if (this.protocolVersion === 0 && message.type !== 'hello') {
        this.fail('invalid-request', `the first frame must be hello, got ${message.type}`);
        return;
      }
      Promise.resolve(this.handler.onMessage(this, message)).catch((err: Error) =>
        this.send({ type: 'error', code: 'internal', message: err.message }),
      );
    }
  }
}

/**
 * In-process snapshot and certificate sources: the proxy's inputs pushed by code. Tests and
 * embedders use them; `push()` resolves when the proxy applied the value and rejects with the
 * proxy's reason when it refused it (the NACK).
 */
import type { ProxySnapshot } from '../../lib/snapshot.js';
import type { CertificateBundle, CertificateSource, SnapshotSource } from './sources.js';

class MemorySource<T> {
  private handler: ((value: T) => void | Promise<void>) | undefined;
  private latest: T | undefined;
  private stopped = false;

  constructor(initial?: T) {
    this.latest = initial;
  }

  start(handler: (value: T) => void | Promise<void>): void {
    this.handler = handler;
    this.stopped = false;
    if (this.latest !== undefined)
      void Promise.resolve()
        .then(() => this.deliver(this.latest as T))
        .catch(() => undefined);
  }

  /** Delivers a value; resolves when applied, rejects with the refusal. */
  async push(value: T): Promise<void> {
    this.latest = value;
    if (!this.handler || this.stopped) return;
    await this.deliver(value);
  }

  private async deliver(value: T): Promise<void> {
    await this.handler?.(value);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.handler = undefined;
  }
}

export class MemorySnapshotSource extends MemorySource<ProxySnapshot> implements SnapshotSource {}
export class MemoryCertificateSource extends MemorySource<CertificateBundle> implements CertificateSource {}

/**
 * Issues workload certificates: checks the CSR's proof of possession, signs the identity the
 * caller proved (never one taken from the CSR), and remembers what it issued for the admin API.
 */
import { verifyCsr } from '../../lib/pki/index.js';
import type { CertificateStatus } from '../../lib/protocol/admin.js';
import type { LoadedCa } from './ca-store.js';
import type { ControlPlaneMetrics } from './metrics.js';

const MAX_REMEMBERED = 100_000;

export interface IssuedForWorkload {
  certPem: string;
  chainPem: string;
  trustBundle: string[];
  serial: string;
  notAfter: Date;
}

export class CertificateService {
  private readonly issued = new Map<string, CertificateStatus>();

  constructor(
    private readonly ca: LoadedCa,
    private readonly metrics: ControlPlaneMetrics,
  ) {}

  async issue(request: {
    csrPem: string;
    identity: string;
    ttlMs: number;
    pod?: string;
  }): Promise<IssuedForWorkload> {
    const started = performance.now();
    let publicKeyPem: string;
    try {
      ({ publicKeyPem } = verifyCsr(request.csrPem));
    } catch (err) {
      this.metrics.csrRejected++;
      throw Object.assign(new Error(`csr: ${(err as Error).message}`), { code: 'invalid-request' });
    }
    const cert = await this.ca.signer.issue({
      publicKeyPem,
      spiffeId: request.identity,
      ttlMs: request.ttlMs,
    });
    this.metrics.certificatesIssued++;
    this.metrics.issueLatency.observe((performance.now() - started) / 1000);
    this.remember({
      serial: cert.serial,
      identity: request.identity,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      ...(request.pod ? { pod: request.pod } : {}),
    });
    const chainPem = this.ca.caCertPem === this.ca.trustBundle[0] ? '' : this.ca.caCertPem;
    return {
      certPem: cert.certPem,
      chainPem,
      trustBundle: this.ca.trustBundle,
      serial: cert.serial,
      notAfter: cert.notAfter,
    };
  }

  private remember(status: CertificateStatus): void {
    if (this.issued.size >= MAX_REMEMBERED) {
      const now = new Date().toISOString();
      for (const [serial, s] of this.issued) if (s.notAfter < now) this.issued.delete(serial);
      if (this.issued.size >= MAX_REMEMBERED) this.issued.delete(this.issued.keys().next().value as string);
    }
    this.issued.set(status.serial, status);
  }

  /** Unexpired certificates issued by this process, soonest expiry first. */
  list(): CertificateStatus[] {
    const now = new Date().toISOString();
    return [...this.issued.values()]
      .filter((s) => s.notAfter > now)
      .sort((a, b) => (a.notAfter < b.notAfter ? -1 : 1));
  }
}

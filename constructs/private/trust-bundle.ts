import { X509Certificate } from 'node:crypto';

/** Checks the PEM bundle of root certificates: CA certificates only, never a private key. */
export function checkTrustBundle(id: string, pem: string): string {
  if (typeof pem !== 'string') {
    throw new Error(`mesh '${id}': trustBundle must be a PEM string, got ${typeof pem}`);
  }
  if (/PRIVATE KEY/.test(pem)) {
    throw new Error(
      `mesh '${id}': trustBundle contains a private key; pass only the root certificate(s) ('tsmesh ca init' prints them)`,
    );
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new Error(`mesh '${id}': trustBundle must hold at least one PEM certificate, got none`);
  }
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new Error(
        `mesh '${id}': trustBundle certificate ${i + 1} cannot be parsed: ${(err as Error).message}`,
      );
    }
    if (!cert.ca) {
      throw new Error(
        `mesh '${id}': trustBundle certificate ${i + 1} (${cert.subject}) is not a CA certificate`,
      );
    }
  }
  return `${blocks.join('\n')}\n`;
}

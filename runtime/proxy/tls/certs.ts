/**
 * Workload certificates: reading the facts out of PEM text, building TLS contexts from a bundle,
 * and the peer checks the mesh adds on top of chain verification (exactly one URI SAN that is a
 * SPIFFE id, not a CA).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { parseSpiffeId } from '../../../lib/identity.js';
import type { CertificateBundle } from '../sources.js';

/** Splits PEM text that may hold several certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The URI entries of a subjectAltName string as Node prints it (`URI:a, DNS:b`). */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  for (const part of subjectAltName.split(/,\s*/)) {
    if (part.startsWith('URI:')) out.push(part.slice(4));
  }
  return out;
}

/**
 * Builds a CertificateBundle from PEM text. Throws with a message naming what is wrong
 * (missing certificate, no single SPIFFE URI SAN, key not matching).
 */
export function certificateBundleFromPem(input: {
  certPem: string;
  keyPem: string;
  trustBundlePem: string | string[];
  chainPem?: string;
}): CertificateBundle {
  const certs = splitPemCertificates(input.certPem);
  if (certs.length === 0) throw new Error('certificate: no PEM certificate found');
  const leaf = new X509Certificate(certs[0]);
  const chain = [...certs.slice(1), ...splitPemCertificates(input.chainPem ?? '')];
  const roots = Array.isArray(input.trustBundlePem)
    ? input.trustBundlePem.flatMap(splitPemCertificates)
    : splitPemCertificates(input.trustBundlePem);
  if (roots.length === 0) throw new Error('trust bundle: no PEM certificate found');
  const uris = uriSans(leaf.subjectAltName);
  if (uris.length !== 1 || !parseSpiffeId(uris[0])) {
    throw new Error(`certificate: expected exactly one SPIFFE URI SAN, got ${JSON.stringify(uris)}`);
  }
  if (!input.keyPem.includes('PRIVATE KEY')) throw new Error('key: no PEM private key found');
  // Fails when the key does not belong to the certificate.
  createSecureContext({ cert: certs[0], key: input.keyPem });
  return {
    certPem: certs[0],
    chainPem: chain.join('\n'),
    keyPem: input.keyPem,
    trustBundlePem: roots,
    spiffeId: uris[0],
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
  };
}

/** True when `now` lies inside the certificate's validity. */
export function certificateValidAt(bundle: CertificateBundle, now = Date.now()): boolean {
  return bundle.notBefore.getTime() <= now && now < bundle.notAfter.getTime();
}

/** The TLS context both sides of mesh mTLS use: our cert and key, the trust bundle as CAs. */
export function meshSecureContext(bundle: CertificateBundle): SecureContext {
  return createSecureContext(meshTlsOptions(bundle));
}

/** The options of `meshSecureContext`, for `tls.Server#setSecureContext`. */
export function meshTlsOptions(bundle: CertificateBundle): SecureContextOptions {
  return {
    cert: bundle.chainPem ? `${bundle.certPem}\n${bundle.chainPem}` : bundle.certPem,
    key: bundle.keyPem,
    ca: bundle.trustBundlePem,
    minVersion: 'TLSv1.2',
    // Needed for session resumption on a server that requests client certificates: without it
    // OpenSSL fails every resumed handshake (ERR_SSL_SESSION_ID_CONTEXT_UNINITIALIZED, alert 80),
    // which turned each upstream reconnect under load into UF,URX (measured in bench/proxy.bench.ts).
    sessionIdContext: 'tsmesh-mesh-mtls',
  };
}

export type PeerCheck = { ok: true; spiffeId: string } | { ok: false; reason: string };

/**
 * The mesh's checks on a peer certificate that already chained to the trust bundle: exactly
 * one URI SAN, a valid SPIFFE id, not a CA.
 */
export function checkPeerCertificate(cert: X509Certificate | undefined): PeerCheck {
  if (!cert) return { ok: false, reason: 'peer presented no certificate' };
  if (cert.ca) return { ok: false, reason: 'peer certificate is a CA' };
  const uris = uriSans(cert.subjectAltName);
  if (uris.length !== 1) return { ok: false, reason: `peer certificate has ${uris.length} URI SANs, want 1` };
  if (!parseSpiffeId(uris[0])) return { ok: false, reason: `peer URI SAN ${uris[0]} is not a SPIFFE id` };
  return { ok: true, spiffeId: uris[0] };
}

/** sha256 of the DER certificate, hex: the `Hash=` of x-forwarded-client-cert. */
export function certificateHash(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

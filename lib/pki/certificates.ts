/**
 * X.509 structures with node-forge; every signature computed with node:crypto (./keys.ts),
 * because forge's own RSA signing is synchronous and slow.
 */
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  verify,
  X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import { signSha256 } from './keys.js';

const { pki, asn1 } = forge;
/** forge functions its type definitions do not declare. */
const pkiExtra = forge.pki as unknown as {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: unknown): forge.asn1.Asn1;
};
const SHA256_WITH_RSA = pki.oids.sha256WithRSAEncryption;
const ONE_MINUTE_MS = 60_000;

export interface CertificateInfo {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** URI subject alternative names (SPIFFE ids). */
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  isCa: boolean;
  subject: string;
  issuer: string;
  fingerprint256: string;
}

/** Splits a PEM text holding one or more certificates into one PEM string each. */
export function splitPemBundle(text: string): string[] {
  return (
    text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? []
  );
}

/** The facts of a certificate that the mesh cares about. */
export function describeCertificate(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  const uris: string[] = [];
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of splitSubjectAltName(cert.subjectAltName ?? '')) {
    if (entry.startsWith('URI:')) uris.push(entry.slice(4));
    else if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(entry.slice(11));
  }
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    uris,
    dnsNames,
    ipAddresses,
    isCa: cert.ca,
    subject: cert.subject,
    issuer: cert.issuer,
    fingerprint256: cert.fingerprint256,
  };
}

/** Node prints SANs as `URI:a, DNS:b`, quoting entries that contain commas or quotes. */
function splitSubjectAltName(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      quoted = !quoted;
      continue;
    }
    if (c === '\\' && quoted && i + 1 < text.length) {
      current += text[++i];
      continue;
    }
    if (c === ',' && !quoted && text[i + 1] === ' ') {
      out.push(current);
      current = '';
      i++;
      continue;
    }
    current += c;
  }
  if (current) out.push(current);
  return out.map((e) => e.replace(/^(URI|DNS):"(.*)"$/, '$1:$2'));
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // positive
  if (bytes[0] === 0) bytes[0] = 1; // no leading zero byte, so the hex form is canonical
  return bytes.toString('hex');
}

async function signForgeCertificate(cert: forge.pki.Certificate, key: KeyObject): Promise<string> {
  cert.signatureOid = SHA256_WITH_RSA;
  (cert as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = SHA256_WITH_RSA;
  const tbs = pkiExtra.getTBSCertificate(cert);
  (cert as unknown as { tbsCertificate: unknown }).tbsCertificate = tbs;
  const der = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = await signSha256(der, key);
  (cert as unknown as { signature: string }).signature = signature.toString('binary');
  return pki.certificateToPem(cert);
}

export interface RootOptions {
  privateKeyPem: string;
  publicKeyPem: string;
  trustDomain: string;
  /** @default 10 years */
  validityMs?: number;
  now?: Date;
}

/** A self-signed root for the mesh. */
export async function createRootCertificate(options: RootOptions): Promise<string> {
  const now = options.now ?? new Date();
  const validity = options.validityMs ?? 10 * 365 * 24 * 3600_000;
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(options.publicKeyPem);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - ONE_MINUTE_MS);
  cert.validity.notAfter = new Date(now.getTime() + validity);
  const subject = [
    { name: 'organizationName', value: 'tsmesh' },
    { name: 'commonName', value: `tsmesh root CA ${options.trustDomain}` },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return signForgeCertificate(cert, createPrivateKey(options.privateKeyPem));
}

export interface IssueOptions {
  /** The public key to certify (PEM, RSA). */
  publicKeyPem: string;
  /** The single URI SAN. */
  spiffeId: string;
  /** Extra DNS names (the control plane's own Service names). */
  dnsNames?: string[];
  ttlMs: number;
  now?: Date;
}

export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Signs workload certificates with one root (or intermediate) key. Parses its CA once. */
export class CertificateSigner {
  private readonly key: KeyObject;
  private readonly issuerAttributes: forge.pki.CertificateField[];
  private readonly issuerKeyId: string;

  constructor(
    readonly caCertPem: string,
    caKeyPem: string,
  ) {
    this.key = createPrivateKey(caKeyPem);
    const ca = pki.certificateFromPem(caCertPem);
    this.issuerAttributes = ca.subject.attributes;
    const caPublic = createPublicKey(caCertPem);
    const derived = createPublicKey(this.key);
    const a = caPublic.export({ type: 'spki', format: 'der' });
    const b = derived.export({ type: 'spki', format: 'der' });
    if (!a.equals(b)) throw new Error('the CA key does not belong to the CA certificate');
    const ski = ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
    this.issuerKeyId = ski?.subjectKeyIdentifier
      ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
      : pki.getPublicKeyFingerprint(ca.publicKey, { type: 'RSAPublicKey' }).getBytes();
  }

  /** A leaf certificate: one URI SAN, not a CA, serverAuth and clientAuth, NotBefore a minute back. */
  async issue(options: IssueOptions): Promise<IssuedCertificate> {
    const now = options.now ?? new Date();
    const cert = pki.createCertificate();
    cert.publicKey = pki.publicKeyFromPem(options.publicKeyPem);
    cert.serialNumber = randomSerial();
    cert.validity.notBefore = new Date(now.getTime() - ONE_MINUTE_MS);
    cert.validity.notAfter = new Date(now.getTime() + options.ttlMs);
    cert.setSubject([]);
    cert.setIssuer(this.issuerAttributes);
    const altNames: { type: number; value: string }[] = [{ type: 6, value: options.spiffeId }];
    for (const dns of options.dnsNames ?? []) altNames.push({ type: 2, value: dns });
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.issuerKeyId },
      { name: 'subjectAltName', altNames, critical: true },
    ]);
    const certPem = await signForgeCertificate(cert, this.key);
    return {
      certPem,
      serial: cert.serialNumber,
      notBefore: cert.validity.notBefore,
      notAfter: cert.validity.notAfter,
    };
  }
}

/** Builds a PKCS#10 request for `privateKeyPem`/`publicKeyPem`; the subject carries nothing trusted. */
export async function createCsr(keys: { privateKeyPem: string; publicKeyPem: string }): Promise<string> {
  const csr = pki.createCertificationRequest();
  csr.publicKey = pki.publicKeyFromPem(keys.publicKeyPem);
  csr.setSubject([{ name: 'organizationName', value: 'tsmesh' }]);
  csr.signatureOid = SHA256_WITH_RSA;
  (csr as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = SHA256_WITH_RSA;
  const info = pkiExtra.getCertificationRequestInfo(csr);
  (csr as unknown as { certificationRequestInfo: unknown }).certificationRequestInfo = info;
  const der = Buffer.from(asn1.toDer(info).getBytes(), 'binary');
  const signature = await signSha256(der, createPrivateKey(keys.privateKeyPem));
  (csr as unknown as { signature: string }).signature = signature.toString('binary');
  return pki.certificationRequestToPem(csr);
}

/**
 * The public key of a CSR after checking its self-signature (proof of possession). Throws with a
 * clear message for anything that is not an RSA SHA-256 PKCS#10 request signed by its own key.
 */
export function verifyCsr(csrPem: string): { publicKeyPem: string } {
  let csr: ReturnType<typeof pki.certificationRequestFromPem>;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new Error(`invalid CSR: ${(err as Error).message}`);
  }
  if (csr.signatureOid !== SHA256_WITH_RSA) {
    throw new Error(`invalid CSR: signature algorithm ${csr.signatureOid} is not sha256WithRSAEncryption`);
  }
  const publicKeyPem = pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey);
  const info = (csr as unknown as { certificationRequestInfo: forge.asn1.Asn1 }).certificationRequestInfo;
  const der = Buffer.from(asn1.toDer(info).getBytes(), 'binary');
  const signature = Buffer.from((csr as unknown as { signature: string }).signature, 'binary');
  if (!verify('sha256', der, publicKeyPem, signature)) {
    throw new Error('invalid CSR: its signature does not verify with its own public key');
  }
  const bits = (csr.publicKey as forge.pki.rsa.PublicKey).n.bitLength();
  if (bits < 2048) throw new Error(`invalid CSR: RSA key of ${bits} bits; at least 2048 required`);
  return { publicKeyPem };
}

/**
 * A throwaway mesh PKI for tests: a root CA and SPIFFE leaf certificates made with the openssl
 * command line (EC P-256 keys, so generating a handful takes milliseconds). Also bad variants a
 * proxy must refuse: a leaf from another root, a leaf with two URI SANs, a leaf that is a CA.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateBundle } from '../../../runtime/proxy/sources.js';

export interface TestRoot {
  certPem: string;
  keyPem: string;
}

export interface LeafOptions {
  /** URI SANs (normally exactly one SPIFFE id). */
  uris: string[];
  /** Make the leaf a CA (basicConstraints CA:TRUE), which peers must refuse. */
  isCa?: boolean;
  /** Validity in days (default 1). Negative values give an expired certificate. */
  days?: number;
}

export interface TestPki {
  root: TestRoot;
  /** Issues a leaf signed by `root` (or by another root). */
  leaf(options: LeafOptions, issuer?: TestRoot): CertificateBundle;
  /** A second, unrelated root (for "does not chain to the trust bundle" cases). */
  otherRoot(): TestRoot;
  /** Removes the temporary directory. */
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeRoot(dir: string, name: string): TestRoot {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-sha256',
      '-days',
      '3650',
      '-subj',
      `/O=tsmesh-test/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      cert,
    ],
    dir,
  );
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

let counter = 0;

/** Creates a root CA in a temporary directory. Call `cleanup()` when done. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-pki-'));
  const root = makeRoot(dir, 'root');
  let roots = 0;
  return {
    root,
    otherRoot: () => makeRoot(dir, `other-root-${++roots}`),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    leaf(options: LeafOptions, issuer: TestRoot = root): CertificateBundle {
      const n = ++counter;
      const key = join(dir, `leaf-${n}.key`);
      const csr = join(dir, `leaf-${n}.csr`);
      const cert = join(dir, `leaf-${n}.pem`);
      const ext = join(dir, `leaf-${n}.ext`);
      const caKey = join(dir, `issuer-${n}.key`);
      const caCert = join(dir, `issuer-${n}.pem`);
      writeFileSync(caKey, issuer.keyPem);
      writeFileSync(caCert, issuer.certPem);
      const san = options.uris.map((u) => `URI:${u}`).join(',');
      writeFileSync(
        ext,
        [
          options.isCa ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=critical,CA:FALSE',
          options.isCa
            ? 'keyUsage=critical,digitalSignature,keyCertSign'
            : 'keyUsage=critical,digitalSignature,keyEncipherment',
          'extendedKeyUsage=serverAuth,clientAuth',
          san ? `subjectAltName=critical,${san}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
      openssl(['req', '-new', '-key', key, '-subj', '/O=tsmesh-test', '-out', csr], dir);
      const days = options.days ?? 1;
      if (days > 0) {
        const args = ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial'];
        args.push('-sha256', '-extfile', ext, '-days', String(days), '-out', cert);
        openssl(args, dir);
      } else {
        // An already expired certificate: `openssl ca` is the 3.0 way to set explicit dates.
        const db = join(dir, `ca-${n}`);
        mkdirSync(db);
        writeFileSync(join(db, 'index.txt'), '');
        writeFileSync(join(db, 'serial'), '01\n');
        const conf = join(db, 'ca.cnf');
        writeFileSync(
          conf,
          `[ca]\ndefault_ca=d\n[d]\ndatabase=${db}/index.txt\nnew_certs_dir=${db}\nserial=${db}/serial\n` +
            'policy=p\ndefault_md=sha256\nunique_subject=no\n[p]\norganizationName=optional\ncommonName=optional\n',
        );
        openssl(
          [
            'ca',
            '-batch',
            '-config',
            conf,
            '-in',
            csr,
            '-out',
            cert,
            '-cert',
            caCert,
            '-keyfile',
            caKey,
            '-notext',
          ].concat(['-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', ext]),
          dir,
        );
      }
      const certPem = readFileSync(cert, 'utf8');
      const keyPem = readFileSync(key, 'utf8');
      return bundleFromPem(certPem, keyPem, [root.certPem]);
    },
  };
}

/** Builds a CertificateBundle from PEM text, reading the facts from the certificate. */
export function bundleFromPem(certPem: string, keyPem: string, trustBundlePem: string[]): CertificateBundle {
  const leaf = new X509Certificate(certPem);
  const uri = /URI:([^,\s]+)/.exec(leaf.subjectAltName ?? '')?.[1] ?? '';
  return {
    certPem,
    chainPem: '',
    keyPem,
    trustBundlePem,
    spiffeId: uri,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
  };
}

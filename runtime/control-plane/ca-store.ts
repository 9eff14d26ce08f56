/**
 * The CA's files. Locally the control plane creates them on first run and reuses them after;
 * in Kubernetes they come from the `tsmesh-ca` Secret and their absence is fatal.
 *
 * Files: `ca-cert.pem` (the signing certificate), `ca-key.pem` (its key, 0600),
 * `root-cert.pem` (the mesh root), `trust-bundle.pem` (every accepted root, one or more).
 */
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CA_SECRET_NAME } from '../../lib/constants.js';
import {
  CertificateSigner,
  createRootCertificate,
  generateRsaKeyPair,
  splitPemBundle,
} from '../../lib/pki/index.js';
import { writeFileAtomic } from './atomic-file.js';

export const CA_FILES = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  root: 'root-cert.pem',
  bundle: 'trust-bundle.pem',
} as const;

export interface LoadedCa {
  signer: CertificateSigner;
  /** Every root the mesh accepts (PEM each); the current root first. */
  trustBundle: string[];
  caCertPem: string;
  created: boolean;
}

export class CaMissingError extends Error {
  override name = 'CaMissingError';
}

export function caMissingAdvice(dir: string, namespace: string): string {
  return [
    `no CA found in ${dir} (expected ${CA_FILES.cert} and ${CA_FILES.key}).`,
    'Create one and store it as a Secret, then mount it at that path:',
    `  tsmesh ca init --out ./tsmesh-ca --namespace ${namespace} > ${CA_SECRET_NAME}-secret.yaml`,
    `  kubectl apply -f ${CA_SECRET_NAME}-secret.yaml`,
    'Keep ./tsmesh-ca/ca-key.pem somewhere safe (or delete it): it signs every workload identity.',
  ].join('\n');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates a new root CA in `dir` (key 0600, folder 0700). Refuses to overwrite an existing key. */
export async function createCaFiles(dir: string, trustDomain: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await exists(join(dir, CA_FILES.key)))
    throw new Error(`${join(dir, CA_FILES.key)} exists; refusing to overwrite a CA key`);
  const keys = await generateRsaKeyPair(2048);
  const rootPem = await createRootCertificate({ ...keys, trustDomain });
  await writeFileAtomic(join(dir, CA_FILES.key), keys.privateKeyPem, 0o600);
  await writeFileAtomic(join(dir, CA_FILES.cert), rootPem, 0o644);
  await writeFileAtomic(join(dir, CA_FILES.root), rootPem, 0o644);
  await writeFileAtomic(join(dir, CA_FILES.bundle), rootPem, 0o644);
}

/** Loads the CA from `dir`; creates it first when `create` is set and nothing is there. */
export async function loadCa(options: {
  dir: string;
  create: boolean;
  trustDomain: string;
  namespace: string;
}): Promise<LoadedCa> {
  const { dir } = options;
  let created = false;
  if (!(await exists(join(dir, CA_FILES.key))) || !(await exists(join(dir, CA_FILES.cert)))) {
    if (!options.create) throw new CaMissingError(caMissingAdvice(dir, options.namespace));
    await createCaFiles(dir, options.trustDomain);
    created = true;
  }
  const keyPath = join(dir, CA_FILES.key);
  if (options.create) {
    // Local mode owns the file: keep it private even if something widened it.
    const mode = (await stat(keyPath)).mode & 0o777;
    if (mode & 0o077) await chmod(keyPath, 0o600);
  }
  const caCertPem = await readFile(join(dir, CA_FILES.cert), 'utf8');
  const caKeyPem = await readFile(keyPath, 'utf8');
  const signer = new CertificateSigner(caCertPem, caKeyPem);
  const bundleText = (await exists(join(dir, CA_FILES.bundle)))
    ? await readFile(join(dir, CA_FILES.bundle), 'utf8')
    : (await exists(join(dir, CA_FILES.root)))
      ? await readFile(join(dir, CA_FILES.root), 'utf8')
      : caCertPem;
  const trustBundle = splitPemBundle(bundleText);
  if (trustBundle.length === 0) throw new Error(`${join(dir, CA_FILES.bundle)} holds no certificate`);
  return { signer, trustBundle, caCertPem, created };
}

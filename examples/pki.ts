/**
 * The examples' trust bundle: a public test root generated once with openssl. Its private key was
 * never kept; `tsmesh up` creates its own CA under .tsmesh/ and overrides the bundle at run time.
 * For a real cluster, pass the output of `tsmesh ca init` instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function exampleTrustBundle(): string {
  const candidates = [
    fileURLToPath(new URL('./pki/root-cert.pem', import.meta.url)),
    fileURLToPath(new URL('../../examples/pki/root-cert.pem', import.meta.url)),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new Error(`example trust bundle not found (looked at ${candidates.join(', ')})`);
  return readFileSync(path, 'utf8');
}

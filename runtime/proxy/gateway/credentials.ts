/**
 * TLS credentials of HTTPS gateway servers. A Gateway names a credential (`credentialName`); the
 * gateway proxy finds it as a directory `<credential dir>/<credentialName>/` holding `tls.crt`
 * (the certificate chain, PEM) and `tls.key` (its private key, PEM): the layout of a mounted
 * Kubernetes TLS Secret. Files are read when a snapshot is applied and again when they change.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';

export class CredentialError extends Error {}

interface Loaded {
  context: SecureContext;
  /** mtimes of tls.crt and tls.key when read. */
  stamp: string;
}

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Reads and caches credentials from one directory. */
export class CredentialStore {
  private readonly loaded = new Map<string, Loaded>();

  constructor(private readonly dir: string | undefined) {}

  /** The files of a credential. */
  paths(name: string): { cert: string; key: string } {
    if (!this.dir)
      throw new CredentialError(`credential '${name}': no credential directory (--credential-dir)`);
    if (!NAME.test(name))
      throw new CredentialError(
        `credential '${name}': not a valid name (lower-case letters, digits, '-', '.')`,
      );
    return { cert: join(this.dir, name, 'tls.crt'), key: join(this.dir, name, 'tls.key') };
  }

  /** The TLS context of a credential; re-read when its files changed. Throws CredentialError. */
  context(name: string): SecureContext {
    const { cert, key } = this.paths(name);
    let stamp: string;
    try {
      stamp = `${statSync(cert).mtimeMs}|${statSync(key).mtimeMs}`;
    } catch (err) {
      throw new CredentialError(
        `credential '${name}': cannot read ${cert} and ${key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    const cached = this.loaded.get(name);
    if (cached && cached.stamp === stamp) return cached.context;
    let context: SecureContext;
    try {
      context = createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    } catch (err) {
      throw new CredentialError(`credential '${name}': ${cert} / ${key} unusable: ${(err as Error).message}`);
    }
    this.loaded.set(name, { context, stamp });
    return context;
  }
}

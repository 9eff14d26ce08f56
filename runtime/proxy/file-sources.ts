/**
 * Snapshot and certificate sources backed by files, reloaded when they change: for tests,
 * debugging and benchmarks (`tsmesh proxy --snapshot FILE --cert-dir DIR`).
 *
 * - snapshot: one JSON (or YAML) document of lib/snapshot.ts's `ProxySnapshot`;
 * - certificates: `cert.pem` (leaf, optionally followed by intermediates), `key.pem`,
 *   `root-cert.pem` (the trust bundle: one or more roots), optional `cert-chain.pem`.
 *
 * The directory is watched (atomic renames and symlink swaps included; events for other files
 * are ignored) and polled as a safety net, where a file is read again only when its size, mtime
 * or inode changed; a change is applied only when the content differs. A file that cannot be read or parsed
 * is logged and the last good value stays in force.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import type { CertificateBundle, CertificateSource, SnapshotSource } from './sources.js';
import { certificateBundleFromPem } from './tls/certs.js';

export interface FileSourceOptions {
  /** Safety-net poll interval. @default 2000 */
  pollMs?: number;
  /** Waits this long after a change event before reading (writers often write in steps). @default 50 */
  debounceMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

const DEFAULTS = { pollMs: 2000, debounceMs: 50, log: () => undefined };

/** Watches one directory and calls `reload` (serialized) when something in it may have changed. */
class DirectoryWatcher {
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    /** File names that matter; events for other files in the directory are ignored. */
    private readonly names: readonly string[],
    private readonly reload: () => Promise<void>,
    private readonly o: Required<FileSourceOptions>,
  ) {}

  start(): void {
    this.kick(0);
    try {
      this.watcher = watch(this.dir, (_event, name) => {
        // `..data` and friends: the kubelet's atomic symlink swap of a mounted volume.
        if (name && !this.names.includes(String(name)) && !String(name).startsWith('..')) return;
        this.kick(this.o.debounceMs);
      });
      this.watcher.on('error', () => undefined);
    } catch (err) {
      this.o.log(
        'warn',
        `cannot watch ${this.dir} (${(err as Error).message}); polling every ${this.o.pollMs} ms`,
      );
    }
    this.poll = setInterval(() => this.kick(0), this.o.pollMs);
    this.poll.unref();
  }

  private kick(delay: number): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.running = this.running.then(this.reload, this.reload);
    }, delay);
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    await this.running.catch(() => undefined);
  }
}

/** size, mtime and inode of each file: polls read a file again only when this changes. */
async function signature(files: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    files.map((f) =>
      stat(f).then(
        (st) => `${st.ino}:${st.size}:${st.mtimeMs}`,
        () => 'missing',
      ),
    ),
  );
  return parts.join('|');
}

function digest(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

/**
 * Parses a snapshot file's text: JSON, or YAML (the YAML parser is loaded only then: it costs
 * about 9 MB of RSS, a sidecar's budget is 70 MB).
 */
export async function parseSnapshotText(text: string, file: string): Promise<ProxySnapshot> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    try {
      const { parse } = await import('yaml');
      value = parse(text);
    } catch (err) {
      throw new Error(`${file}: not valid JSON or YAML: ${(err as Error).message}`);
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${file}: expected one snapshot object`);
  return value as ProxySnapshot;
}

export class FileSnapshotSource implements SnapshotSource {
  private readonly o: Required<FileSourceOptions>;
  private watcher: DirectoryWatcher | undefined;
  private last = '';

  constructor(
    readonly file: string,
    options: FileSourceOptions = {},
  ) {
    this.o = {
      pollMs: options.pollMs ?? DEFAULTS.pollMs,
      debounceMs: options.debounceMs ?? DEFAULTS.debounceMs,
      log: options.log ?? DEFAULTS.log,
    };
  }

  start(onSnapshot: (snapshot: ProxySnapshot) => void | Promise<void>): void {
    let seen = '';
    const reload = async () => {
      const sig = await signature([this.file]);
      if (sig === seen) return;
      seen = sig;
      let text: string;
      try {
        text = await readFile(this.file, 'utf8');
      } catch (err) {
        if (this.last === '')
          this.o.log(
            'warn',
            `waiting for snapshot file ${this.file}: ${(err as NodeJS.ErrnoException).code}`,
          );
        return;
      }
      const d = digest(text);
      if (d === this.last) return;
      this.last = d;
      try {
        await onSnapshot(await parseSnapshotText(text, this.file));
        this.o.log('info', `applied snapshot from ${this.file}`);
      } catch (err) {
        this.o.log('warn', `snapshot from ${this.file} not applied: ${(err as Error).message}`);
      }
    };
    this.watcher = new DirectoryWatcher(dirname(this.file), [basename(this.file)], reload, this.o);
    this.watcher.start();
  }

  async stop(): Promise<void> {
    await this.watcher?.stop();
  }
}

export const CERT_FILES = {
  cert: 'cert.pem',
  key: 'key.pem',
  roots: 'root-cert.pem',
  chain: 'cert-chain.pem',
} as const;

/** Reads a certificate directory into a bundle; throws naming the file that is wrong. */
export async function readCertificateDir(dir: string): Promise<CertificateBundle> {
  const read = async (name: string, optional = false): Promise<string> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new Error(`${join(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const [certPem, keyPem, rootsPem, chainPem] = await Promise.all([
    read(CERT_FILES.cert),
    read(CERT_FILES.key),
    read(CERT_FILES.roots),
    read(CERT_FILES.chain, true),
  ]);
  try {
    return certificateBundleFromPem({ certPem, keyPem, trustBundlePem: rootsPem, chainPem });
  } catch (err) {
    throw new Error(`${dir}: ${(err as Error).message}`);
  }
}

export class FileCertificateSource implements CertificateSource {
  private readonly o: Required<FileSourceOptions>;
  private watcher: DirectoryWatcher | undefined;
  private last = '';

  constructor(
    readonly dir: string,
    options: FileSourceOptions = {},
  ) {
    this.o = {
      pollMs: options.pollMs ?? DEFAULTS.pollMs,
      debounceMs: options.debounceMs ?? DEFAULTS.debounceMs,
      log: options.log ?? DEFAULTS.log,
    };
  }

  start(onCertificate: (bundle: CertificateBundle) => void | Promise<void>): void {
    const files = Object.values(CERT_FILES).map((f) => join(this.dir, f));
    let seen = '';
    const reload = async () => {
      const sig = await signature(files);
      if (sig === seen) return;
      seen = sig;
      let bundle: CertificateBundle;
      try {
        bundle = await readCertificateDir(this.dir);
      } catch (err) {
        const d = digest((err as Error).message);
        if (d !== this.last) this.o.log('warn', `certificate not loaded: ${(err as Error).message}`);
        this.last = d;
        return;
      }
      const d = digest(bundle.certPem, bundle.keyPem, bundle.chainPem, ...bundle.trustBundlePem);
      if (d === this.last) return;
      this.last = d;
      try {
        await onCertificate(bundle);
        this.o.log(
          'info',
          `applied certificate ${bundle.spiffeId} (serial ${bundle.serial}) from ${basename(this.dir)}`,
        );
      } catch (err) {
        this.o.log('warn', `certificate from ${this.dir} not applied: ${(err as Error).message}`);
      }
    };
    this.watcher = new DirectoryWatcher(this.dir, Object.values(CERT_FILES), reload, this.o);
    this.watcher.start();
  }

  async stop(): Promise<void> {
    await this.watcher?.stop();
  }
}

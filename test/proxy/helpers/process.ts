/** The `tsmesh` CLI as a child process (from the TypeScript sources), for process-level tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateBundle } from '../../../runtime/proxy/sources.js';
import { send } from './mesh.js';

const MAIN = join(import.meta.dirname, '../../../runtime/cli/main.ts');

export interface TsmeshProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
}

export function startTsmesh(args: string[]): TsmeshProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return { child, stderr: () => err };
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Kills a process that is still running and waits for it to exit. */
export async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGKILL');
  await exitOf(child);
}

/** Writes `cert.pem`, `key.pem` and `root-cert.pem` (the `--cert-dir` layout) into `dir/certs`. */
export function writeCertDir(dir: string, cert: CertificateBundle, rootPem: string): string {
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, 'cert.pem'), cert.certPem);
  writeFileSync(join(certDir, 'key.pem'), cert.keyPem);
  writeFileSync(join(certDir, 'root-cert.pem'), rootPem);
  return certDir;
}

/** Polls `/healthz/ready` on `port` until it answers 200; throws with `why()` after `timeoutMs`. */
export async function waitReady(
  port: number,
  why: () => string = () => '',
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await readyStatus(port)) !== 200) {
    if (Date.now() > end) throw new Error(`not ready after ${timeoutMs} ms ${why()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function readyStatus(port: number): Promise<number> {
  return (await send(port, '/healthz/ready', { host: 'x' }).catch(() => ({ status: 0 }))).status;
}

/**
 * Helpers for gateway and egress tests: a self-signed server credential laid out as the
 * gateway expects it (`<dir>/<name>/tls.crt`, `tls.key`), an HTTPS client, and a poll.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CredentialDir {
  dir: string;
  /** The certificate of each credential, to trust it in a client. */
  certPem(name: string): string;
  cleanup(): void;
}

/** Makes a credential directory with one self-signed certificate per `name → DNS names`. */
export function makeCredentialDir(credentials: Record<string, string[]>): CredentialDir {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-gw-cred-'));
  for (const [name, dnsNames] of Object.entries(credentials)) {
    const sub = join(dir, name);
    mkdirSync(sub);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(sub, 'tls.key'),
        '-out',
        join(sub, 'tls.crt'),
        '-days',
        '1',
        '-subj',
        `/CN=${dnsNames[0]}`,
        '-addext',
        `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(',')}`,
      ],
      { stdio: 'pipe' },
    );
  }
  return {
    dir,
    certPem: (name) => readFileSync(join(dir, name, 'tls.crt'), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface HttpsAnswer {
  status: number;
  body: string;
  /** The subject CN of the certificate the server presented. */
  servedCn: string;
}

/** One HTTPS request to 127.0.0.1:`port` with SNI `servername`, trusting `ca`. */
export function httpsGet(
  port: number,
  path: string,
  options: { servername: string; host?: string; ca: string },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: options.servername,
        headers: { host: options.host ?? options.servername },
        ca: options.ca,
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            servedCn: String(cert?.subject?.CN ?? ''),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Polls `check` every 10 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

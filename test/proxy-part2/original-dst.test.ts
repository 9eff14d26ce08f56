/**
 * How the sidecar learns a captured connection's original destination (DESIGN.md §4.3), decided
 * by this test: the real capture script runs in a "pod" network namespace joined to a "remote"
 * one by a veth pair (needs root, which CI has); a client in the pod connects to the remote
 * address, iptables redirects it to 15001, and each method reports what it found.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureScript } from '../../lib/capture.js';
import { parseConntrack } from '../../runtime/proxy/tcp/original-dst.js';
import { createNamespacePair, type NamespacePair } from '../helpers/netns.js';
import { ensureAddon } from './helpers/addon.js';

const tag = `tsod${process.pid % 100000}`;
const podNs = `${tag}-pod`;
const POD_IP = '10.252.9.1';
const REMOTE_IP = '10.252.9.2';
const ROOT = join(import.meta.dirname, '../..');

const CLIENT = `
import net from 'node:net';
const s = net.connect(Number(process.argv[3]), process.argv[2]);
let out = '';
s.setTimeout(5000, () => { console.log('timeout'); process.exit(2); });
s.on('data', (d) => { out += d; });
s.on('end', () => { console.log(out.trim()); process.exit(0); });
s.on('error', (e) => { console.log('error:' + e.code); process.exit(1); });
`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('original destination of a captured connection', () => {
  let dir: string;
  let net: NamespacePair | undefined;
  let probe: ChildProcess | undefined;

  beforeAll(async () => {
    // The addon is built through its npm script, against the local Node headers.
    await ensureAddon();
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-odst-'));
    writeFileSync(join(dir, 'client.mjs'), CLIENT);
    writeFileSync(join(dir, 'capture.sh'), captureScript());
    net = createNamespacePair(tag, POD_IP, REMOTE_IP);
    sh('ip', ['netns', 'exec', podNs, 'sh', join(dir, 'capture.sh')]);
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        podNs,
        'setpriv',
        '--regid=1337',
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'test/proxy-part2/fixtures/original-dst-probe.ts'),
        '15001',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    probe = child;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('probe did not start')), 30_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`probe exited with ${code}`)));
    });
  }, 90_000);

  afterAll(() => {
    probe?.kill('SIGKILL');
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is found by the native addon and by the conntrack table, not by the local address', () => {
    const line = sh('ip', [
      'netns',
      'exec',
      podNs,
      process.execPath,
      join(dir, 'client.mjs'),
      REMOTE_IP,
      '5432',
    ]);
    const found = JSON.parse(line.trim());
    expect(found.so_original_dst).toEqual({ address: REMOTE_IP, port: 5432, method: 'so_original_dst' });
    expect(found.conntrack).toEqual({ address: REMOTE_IP, port: 5432, method: 'conntrack' });
    // After the REDIRECT the socket itself only shows the proxy's own port.
    expect(found.local.port).toBe(15001);
  });

  it('reads the original tuple out of conntrack text', () => {
    const text =
      'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.5 dst=10.96.0.10 sport=40000 dport=5432 ' +
      'src=10.0.0.5 dst=10.0.0.5 sport=15001 dport=40000 [ASSURED] mark=0 zone=0 use=2\n' +
      'ipv4     2 tcp      6 431999 ESTABLISHED src=10.0.0.5 dst=10.96.0.11 sport=40001 dport=80 ' +
      'src=10.0.0.5 dst=10.0.0.5 sport=15001 dport=40001 [ASSURED] mark=0 zone=0 use=2\n';
    const local = { address: '10.0.0.5', port: 15001 };
    expect(parseConntrack(text, { address: '10.0.0.5', port: 40001 }, local)).toEqual({
      address: '10.96.0.11',
      port: 80,
    });
    expect(parseConntrack(text, { address: '10.0.0.5', port: 40002 }, local)).toBeUndefined();
  });
});

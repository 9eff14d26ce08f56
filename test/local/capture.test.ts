import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureOptionError, captureCleanupScript, captureScript, parseList } from '../../lib/capture.js';
import { createNamespacePair, type NamespacePair } from '../helpers/netns.js';

describe('captureScript text', () => {
  const script = captureScript();

  it('redirects inbound TCP to 15006 and outbound TCP to 15001', () => {
    expect(script).toContain('iptables -w -t nat -A TSMESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006');
    expect(script).toContain('iptables -w -t nat -A TSMESH_REDIRECT -p tcp -j REDIRECT --to-ports 15001');
    expect(script).toContain('-A PREROUTING -p tcp -j TSMESH_INBOUND');
    expect(script).toContain('-A OUTPUT -p tcp -j TSMESH_OUTPUT');
  });

  it('excludes the proxy owner, loopback and the sidecar ports before redirecting', () => {
    const lines = script.split('\n');
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    const redirect = at('-A TSMESH_OUTPUT -j TSMESH_REDIRECT');
    expect(redirect).toBeGreaterThan(0);
    for (const rule of [
      '-A TSMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A TSMESH_OUTPUT -m owner --gid-owner 1337 -j RETURN',
      '-A TSMESH_OUTPUT -o lo -j RETURN',
      '-A TSMESH_OUTPUT -p tcp --dport 15006 -j RETURN',
      '-A TSMESH_OUTPUT -p tcp --dport 15012 -j RETURN',
    ]) {
      const i = at(rule);
      expect(i, rule).toBeGreaterThan(0);
      expect(i, rule).toBeLessThan(redirect);
    }
    expect(at('-A TSMESH_INBOUND -p tcp --dport 15000:15021 -j RETURN')).toBeLessThan(
      at('-A TSMESH_INBOUND -p tcp -j TSMESH_IN_REDIRECT'),
    );
  });

  it('starts by removing an earlier installation, so it is idempotent', () => {
    const remove = script.indexOf('-D PREROUTING');
    expect(remove).toBeGreaterThan(0);
    expect(remove).toBeLessThan(script.indexOf('-N TSMESH_INBOUND'));
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain('set -eu');
  });

  it('honours excluded ports and CIDRs and included inbound ports', () => {
    const s = captureScript({
      excludeOutboundPorts: [5432, '6000-6010'],
      excludeOutboundCidrs: ['10.0.0.0/8', '192.168.1.1'],
      includeInboundPorts: [9080],
      proxyUid: 2000,
      iptables: 'iptables-legacy',
    });
    expect(s).toContain('iptables-legacy -w -t nat -A TSMESH_OUTPUT -p tcp --dport 5432 -j RETURN');
    expect(s).toContain('-A TSMESH_OUTPUT -p tcp --dport 6000:6010 -j RETURN');
    expect(s).toContain('-A TSMESH_OUTPUT -d 10.0.0.0/8 -j RETURN');
    expect(s).toContain('-A TSMESH_OUTPUT -d 192.168.1.1/32 -j RETURN');
    expect(s).toContain('-A TSMESH_INBOUND -p tcp --dport 9080 -j TSMESH_IN_REDIRECT');
    expect(s).not.toContain('-A TSMESH_INBOUND -p tcp -j TSMESH_IN_REDIRECT');
    expect(s).toContain('--uid-owner 2000');
    expect(s).not.toContain('--dport 15006 -j RETURN');
  });

  it('refuses options that would not make valid rules, naming the option and the value', () => {
    expect(() => captureScript({ inboundPort: 70000 })).toThrow(
      'capture option inboundPort: 70000 is not a port (1-65535)',
    );
    expect(() => captureScript({ excludeOutboundPorts: ['80; rm -rf /'] })).toThrow(CaptureOptionError);
    expect(() => captureScript({ excludeOutboundPorts: ['90-80'] })).toThrow('ends before it starts');
    expect(() => captureScript({ excludeOutboundCidrs: ['10.0.0.0/33'] })).toThrow(
      'capture option excludeOutboundCidrs[0]: "10.0.0.0/33" is not an IPv4 address or CIDR',
    );
    expect(() => captureScript({ iptables: 'iptables $(reboot)' })).toThrow('capture option iptables');
  });

  it('cleans up with a script that deletes every chain it created', () => {
    const c = captureCleanupScript();
    for (const chain of ['TSMESH_INBOUND', 'TSMESH_IN_REDIRECT', 'TSMESH_OUTPUT', 'TSMESH_REDIRECT']) {
      expect(c).toContain(chain);
    }
    expect(c).toContain('-X "$chain"');
    expect(c).not.toContain(' -A ');
  });

  it('parses annotation lists', () => {
    expect(parseList(' 8080, 9090,,')).toEqual(['8080', '9090']);
    expect(parseList(undefined)).toEqual([]);
  });
});

// --------------------------------------------------------------------------------------------
// The same script, run for real inside two network namespaces this test creates (needs root,
// which CI has): a "pod" namespace with the rules and a "remote" namespace joined by a veth pair.

const tag = `tsmc${process.pid % 100000}`;
const pod = `${tag}-pod`;
const remote = `${tag}-rem`;
const POD_IP = '10.251.7.1';
const REMOTE_IP = '10.251.7.2';

/** Listens on every given port and answers each connection with `<name>:<local port>`. */
const LISTENER = `
import net from 'node:net';
const [name, ...ports] = process.argv.slice(2);
let pending = ports.length;
for (const port of ports) {
  net.createServer((s) => { s.end(name + ':' + s.localPort + '\\n'); })
    .listen(Number(port), '0.0.0.0', () => { if (--pending === 0) console.log('ready'); });
}
`;
const CLIENT = `
import net from 'node:net';
const s = net.connect(Number(process.argv[3]), process.argv[2]);
let out = '';
s.setTimeout(3000, () => { console.log('timeout'); process.exit(2); });
s.on('data', (d) => { out += d; });
s.on('end', () => { console.log(out.trim()); process.exit(0); });
s.on('error', (e) => { console.log('error:' + e.code); process.exit(1); });
`;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    input,
    encoding: 'utf8',
    timeout: 15_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

describe('captureScript in a network namespace', () => {
  let dir: string;
  let net: NamespacePair | undefined;
  const children: ChildProcess[] = [];

  function listen(ns: string, name: string, ports: number[]): Promise<void> {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, join(dir, 'listener.mjs'), name, ...ports.map(String)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`listener ${name} exited with ${code}`)));
    });
  }

  function connect(ns: string, host: string, port: number, asProxyGroup = false): string {
    const prefix = asProxyGroup ? ['setpriv', '--regid=1337', '--clear-groups'] : [];
    const args = [
      'netns',
      'exec',
      ns,
      ...prefix,
      process.execPath,
      join(dir, 'client.mjs'),
      host,
      String(port),
    ];
    try {
      return sh('ip', args).trim();
    } catch (e) {
      return String((e as { stdout?: string }).stdout ?? e).trim();
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-capture-'));
    writeFileSync(join(dir, 'listener.mjs'), LISTENER);
    writeFileSync(join(dir, 'client.mjs'), CLIENT);
    writeFileSync(join(dir, 'capture.sh'), captureScript());
    net = createNamespacePair(tag, POD_IP, REMOTE_IP);
    sh('ip', ['netns', 'exec', pod, 'sh', join(dir, 'capture.sh')]);
    // Running it twice must leave exactly one copy of each rule.
    sh('ip', ['netns', 'exec', pod, 'sh', join(dir, 'capture.sh')]);
    await Promise.all([
      listen(pod, 'pod', [15001, 15006, 15021, 9080]),
      listen(remote, 'remote', [8080, 15006]),
    ]);
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs each rule once even when run twice', () => {
    const rules = sh('ip', ['netns', 'exec', pod, 'iptables-save', '-t', 'nat']);
    expect(rules.match(/-A PREROUTING -p tcp -j TSMESH_INBOUND/g)).toHaveLength(1);
    expect(rules.match(/-A OUTPUT -p tcp -j TSMESH_OUTPUT/g)).toHaveLength(1);
    expect(rules.match(/-A TSMESH_OUTPUT -j TSMESH_REDIRECT/g)).toHaveLength(1);
  });

  it('sends an app connection to a remote port to the outbound port 15001', () => {
    expect(connect(pod, REMOTE_IP, 8080)).toBe('pod:15001');
  });

  it('lets traffic of group 1337 (the proxy) through to the remote port', () => {
    expect(connect(pod, REMOTE_IP, 8080, true)).toBe('remote:8080');
  });

  it('lets connections to a peer sidecar inbound port 15006 through', () => {
    expect(connect(pod, REMOTE_IP, 15006)).toBe('remote:15006');
  });

  it('does not capture loopback', () => {
    expect(connect(pod, '127.0.0.1', 9080)).toBe('pod:9080');
  });

  it('sends inbound connections to the inbound port 15006, except the sidecar ports', () => {
    expect(connect(remote, POD_IP, 9080)).toBe('pod:15006');
    expect(connect(remote, POD_IP, 15021)).toBe('pod:15021');
  });

  it('removes everything with the cleanup script', () => {
    writeFileSync(join(dir, 'cleanup.sh'), captureCleanupScript());
    sh('ip', ['netns', 'exec', pod, 'sh', join(dir, 'cleanup.sh')]);
    sh('ip', ['netns', 'exec', pod, 'sh', join(dir, 'cleanup.sh')]);
    expect(sh('ip', ['netns', 'exec', pod, 'iptables-save', '-t', 'nat'])).not.toContain('TSMESH');
    expect(connect(pod, REMOTE_IP, 8080)).toBe('remote:8080');
  });
});

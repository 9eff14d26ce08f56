/**
 * A sidecar behind the real capture script, in a "pod" network namespace joined to a "remote"
 * one by a veth pair (needs root, which CI has): captured TCP to a service VIP follows the TCP
 * route, TCP to an address outside the registry passes through under ALLOW_ANY and is closed
 * under REGISTRY_ONLY, and HTTP to such an address still reaches the HTTP side. Run once with
 * the native SO_ORIGINAL_DST addon and once with the pure-JS conntrack fallback.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import { captureScript } from '../../lib/capture.js';
import { createNamespacePair, type NamespacePair } from '../helpers/netns.js';
import { istio, pod, service } from '../proxy/helpers/snapshot.js';
import { ensureAddon } from './helpers/addon.js';

const tag = `tscp${process.pid % 100000}`;
const podNs = `${tag}-pod`;
const remoteNs = `${tag}-rem`;
const POD_IP = '10.254.3.1';
const REMOTE_IP = '10.254.3.2';
const ROOT = join(import.meta.dirname, '../..');

/** Remote servers: each greets with `<name>:<port>` and echoes. */
const SERVERS = `
import net from 'node:net';
let pending = 0;
for (const arg of process.argv.slice(2)) {
  const [name, port] = arg.split(':');
  pending++;
  net.createServer((s) => { s.on('error', () => {}); s.write(name + ':' + port + '\\n'); s.pipe(s); })
    .listen(Number(port), '0.0.0.0', () => { if (--pending === 0) console.log('ready'); });
}
`;
/** Connects, sends a line, prints what came back before the peer closed or 1.5 s passed. */
const CLIENT = `
import net from 'node:net';
const s = net.connect(Number(process.argv[3]), process.argv[2]);
let out = '';
const done = (why) => { console.log(JSON.stringify({ out, why })); process.exit(0); };
s.setTimeout(1500, () => done('timeout'));
s.on('data', (d) => { out += d; if (out.includes('ping')) s.end(); });
s.on('close', () => done('closed'));
s.on('error', (e) => done('error:' + e.code));
s.write(process.argv[4] ?? 'ping\\n');
`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

function waitLine(child: ChildProcess, prefix: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${prefix}' line in time`)), timeoutMs);
    const onData = (d: Buffer) => {
      const line = d
        .toString()
        .split('\n')
        .find((l) => l.startsWith(prefix));
      if (line) {
        clearTimeout(t);
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before '${prefix}'`)));
  });
}

const remotePod = pod({ name: 'cache-0', app: 'cache', ports: [6379], address: REMOTE_IP, meshed: false });
remotePod.ports = [{ containerPort: 6379, name: 'tcp-cache', protocol: 'tcp' }];

function config(
  policy: 'ALLOW_ANY' | 'REGISTRY_ONLY',
  mtls: 'PERMISSIVE' | 'STRICT' = 'PERMISSIVE',
): MeshObject[] {
  const cache = service('cache', [{ port: 6379, targetPort: 6379, name: 'tcp-cache' }]);
  // The captured pod's own app: a TCP port clients without a sidecar call.
  const local = service('client', [{ port: 9000, targetPort: 9000, name: 'tcp-local' }]);
  (cache as unknown as { spec: { clusterIP?: string } }).spec.clusterIP = '10.254.99.9';
  return [
    cache,
    local,
    istio('PeerAuthentication', 'default', { mtls: { mode: mtls } }),
    {
      apiVersion: 'tsmesh.dev/v1alpha1',
      kind: 'MeshConfig',
      metadata: { name: 'mesh', namespace: 'tsmesh-system' },
      spec: { outboundTrafficPolicy: { mode: policy } },
    } as MeshObject,
  ];
}

describe.each([
  ['the native addon', 'so_original_dst'],
  ['the conntrack table', 'conntrack'],
])('a captured sidecar finding original destinations with %s', (_name, method) => {
  let dir: string;
  let net: NamespacePair | undefined;
  const children: ChildProcess[] = [];
  let sidecar: ChildProcess;
  let version = 0;

  const connect = (host: string, port: number, payload?: string) =>
    JSON.parse(
      sh('ip', [
        'netns',
        'exec',
        podNs,
        process.execPath,
        join(dir, 'client.mjs'),
        host,
        String(port),
        ...(payload ? [payload] : []),
      ]),
    ) as { out: string; why: string };
  const apply = async (objects: MeshObject[]) => {
    version++;
    sidecar.stdin!.write(`${JSON.stringify({ version, objects, workloads: [remotePod] })}\n`);
    expect((await waitLine(sidecar, 'applied')) || '').toBe(`applied ${version}`);
  };

  beforeAll(async () => {
    await ensureAddon();
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-capture-'));
    writeFileSync(join(dir, 'servers.mjs'), SERVERS);
    writeFileSync(join(dir, 'client.mjs'), CLIENT);
    writeFileSync(join(dir, 'capture.sh'), captureScript());
    net = createNamespacePair(tag, POD_IP, REMOTE_IP);
    // kube-proxy's part: the service VIP is translated to the endpoint inside the pod.
    sh('ip', ['-n', podNs, 'route', 'add', '10.254.99.9/32', 'dev', `${tag}a`]);
    sh('ip', ['netns', 'exec', podNs, 'sh', join(dir, 'capture.sh')]);
    const servers = spawn(
      'ip',
      ['netns', 'exec', remoteNs, process.execPath, join(dir, 'servers.mjs'), 'cache:6379', 'external:7000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(servers);
    await waitLine(servers, 'ready');
    const local = spawn(
      'ip',
      ['netns', 'exec', podNs, process.execPath, join(dir, 'servers.mjs'), 'local:9000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(local);
    await waitLine(local, 'ready');
    sidecar = spawn(
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
        join(ROOT, 'test/proxy-part2/fixtures/capture-sidecar.ts'),
        POD_IP,
        method,
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    children.push(sidecar);
    await waitLine(sidecar, 'ready');
  }, 120_000);

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('routes TCP to a service VIP through the sidecar to the endpoint', async () => {
    await apply(config('ALLOW_ANY'));
    const r = connect('10.254.99.9', 6379);
    expect(r.out).toBe('cache:6379\nping\n');
  });

  it('passes TCP to an unknown destination through under ALLOW_ANY', () => {
    const r = connect(REMOTE_IP, 7000);
    expect(r.out).toBe('external:7000\nping\n');
  });

  it('closes TCP to an unknown destination under REGISTRY_ONLY, but still routes known services', async () => {
    await apply(config('REGISTRY_ONLY'));
    const r = connect(REMOTE_IP, 7000);
    expect(r.out).toBe('');
    expect(r.why).toBe('closed');
    expect(connect('10.254.99.9', 6379).out).toBe('cache:6379\nping\n');
  });

  it('lets a client without a sidecar reach a TCP app port under PERMISSIVE, and not under STRICT', async () => {
    await apply(config('ALLOW_ANY'));
    const fromRemote = () =>
      JSON.parse(
        sh('ip', ['netns', 'exec', remoteNs, process.execPath, join(dir, 'client.mjs'), POD_IP, '9000']),
      ) as {
        out: string;
      };
    if (method === 'so_original_dst') {
      expect(fromRemote().out).toBe('local:9000\nping\n');
      await apply(config('ALLOW_ANY', 'STRICT'));
      expect(fromRemote().out).toBe('');
    } else {
      // Without the addon the inbound listener cannot tell a TCP port and treats it as HTTP.
      expect(fromRemote().out).toMatch(/^(HTTP\/1\.1 400|)/);
      expect(fromRemote().out).not.toContain('local:9000');
    }
    await apply(config('REGISTRY_ONLY'));
  });

  it('answers HTTP to an unknown destination from the HTTP side', () => {
    const r = connect(
      REMOTE_IP,
      7000,
      'GET / HTTP/1.1\r\nhost: external.example:7000\r\nconnection: close\r\n\r\n',
    );
    expect(r.out).toMatch(/^HTTP\/1\.1 502 /);
  });
});

import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import { FileCertificateSource, FileSnapshotSource } from '../../runtime/proxy/file-sources.js';
import type { CertificateBundle } from '../../runtime/proxy/sources.js';
import { createTestPki, type TestPki } from './helpers/pki.js';

/** Resolves when `check` holds, polling every 20 ms; throws after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Long enough that only the watcher, not the safety-net poll, can explain a reload in these tests.
const NO_POLL = { pollMs: 600_000, debounceMs: 20 };

describe('file sources', () => {
  let pki: TestPki;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(() => {
    pki = createTestPki();
  });
  afterAll(() => pki?.cleanup());
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('applies a snapshot file, again after an atomic rename, and not for other files or identical content', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-file-sources-'));
    const file = join(dir, 'snapshot.json');
    const write = (version: string) => {
      writeFileSync(join(dir, 'next.json'), JSON.stringify({ version }));
      renameSync(join(dir, 'next.json'), file);
    };
    write('1');
    const seen: string[] = [];
    const source = new FileSnapshotSource(file, NO_POLL);
    source.start((s: ProxySnapshot) => {
      seen.push(String((s as unknown as { version: string }).version));
    });
    stops.push(() => source.stop());
    await until(() => seen.length === 1, 'the first snapshot');
    expect(seen).toEqual(['1']);

    write('2');
    await until(() => seen.length === 2, 'the renamed snapshot');
    expect(seen).toEqual(['1', '2']);

    // A neighbour written often and the same content written again change nothing.
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, 'proxy.log'), `line ${i}\n`, { flag: 'a' });
    write('2');
    await sleep(300);
    expect(seen).toEqual(['1', '2']);
  });

  it('keeps the last good snapshot when the file becomes invalid, and logs why', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-file-sources-'));
    const file = join(dir, 'snapshot.json');
    writeFileSync(file, JSON.stringify({ version: 'good' }));
    const seen: string[] = [];
    const logs: string[] = [];
    const source = new FileSnapshotSource(file, { ...NO_POLL, log: (_l, m) => logs.push(m) });
    source.start((s) => {
      seen.push(String((s as unknown as { version: string }).version));
    });
    stops.push(() => source.stop());
    await until(() => seen.length === 1, 'the first snapshot');
    writeFileSync(file, '[1, 2');
    await until(() => logs.some((m) => m.includes('not applied')), 'the warning');
    expect(logs.find((m) => m.includes('not applied'))).toContain(file);
    expect(seen).toEqual(['good']);
  });

  it("follows the kubelet's atomic ..data symlink swap of a mounted certificate directory", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-file-sources-'));
    const names = ['cert.pem', 'key.pem', 'root-cert.pem'];
    const publish = (version: string, bundle: CertificateBundle) => {
      const data = join(dir, `..${version}`);
      mkdirSync(data);
      writeFileSync(join(data, 'cert.pem'), bundle.certPem);
      writeFileSync(join(data, 'key.pem'), bundle.keyPem);
      writeFileSync(join(data, 'root-cert.pem'), pki.root.certPem);
      symlinkSync(`..${version}`, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    const first = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/first'] });
    const second = pki.leaf({ uris: ['spiffe://cluster.local/ns/default/sa/second'] });
    publish('2026_11_30_01', first);
    for (const name of names) symlinkSync(join('..data', name), join(dir, name));

    const seen: string[] = [];
    const source = new FileCertificateSource(dir, NO_POLL);
    source.start((b) => {
      seen.push(b.spiffeId);
    });
    stops.push(() => source.stop());
    await until(() => seen.length === 1, 'the first certificate');

    publish('2026_11_30_02', second);
    rmSync(join(dir, '..2026_11_30_01'), { recursive: true });
    await until(() => seen.length === 2, 'the swapped certificate');
    expect(seen).toEqual([
      'spiffe://cluster.local/ns/default/sa/first',
      'spiffe://cluster.local/ns/default/sa/second',
    ]);
  });
});

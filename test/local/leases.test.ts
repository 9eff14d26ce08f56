import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  acquireLease,
  type LeaseRecord,
  ownerAlive,
  processStart,
  readLeases,
} from '../../runtime/local/leases.js';
import { LogSink } from '../../runtime/local/logs.js';
import { serviceNames, topology } from '../../runtime/local/topology.js';
import { tempDir } from './helpers.js';

describe('leases', () => {
  it('gives concurrent runs different instance numbers', async () => {
    const dir = tempDir('tsmesh-leases-');
    const leases = await Promise.all(
      Array.from({ length: 5 }, (_, i) => acquireLease({ dir, stateDir: `/s${i}`, mode: 'netns' })),
    );
    expect(new Set(leases.map((l) => l.record.index)).size).toBe(5);
    expect(readLeases(dir)).toHaveLength(5);
    leases[2].release();
    expect(readLeases(dir).map((l) => l.index)).not.toContain(leases[2].record.index);
    const again = await acquireLease({ dir, stateDir: '/again', mode: 'netns' });
    expect(again.record.index).toBe(leases[2].record.index);
  });

  it('reclaims the lease of a dead runner after cleaning what it left', async () => {
    const dir = tempDir('tsmesh-leases-');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const stale: LeaseRecord = {
      index: 0,
      pid: Number(dead.stdout.trim()),
      pidStart: '1',
      stateDir: '/crashed',
      mode: 'netns',
      created: new Date().toISOString(),
    };
    writeFileSync(join(dir, '0.json'), JSON.stringify(stale));
    const reclaimed: LeaseRecord[] = [];
    const lease = await acquireLease({
      dir,
      stateDir: '/new',
      mode: 'netns',
      reclaim: (r) => void reclaimed.push(r),
    });
    expect(lease.record.index).toBe(0);
    expect(reclaimed.map((r) => r.stateDir)).toEqual(['/crashed']);
    expect(JSON.parse(readFileSync(join(dir, '0.json'), 'utf8')).stateDir).toBe('/new');
  });

  it('tells a live owner from a reused pid by the process start time', () => {
    const me = { pid: process.pid, pidStart: processStart(process.pid)! };
    expect(ownerAlive(me)).toBe(true);
    expect(ownerAlive({ pid: process.pid, pidStart: '1' })).toBe(false);
  });
});

describe('names and addresses', () => {
  it('derives namespace names, subnets and short link names from the instance', () => {
    const t = topology(7, 'netns');
    expect(t.podNs({ name: 'reviews-v1-0', namespace: 'default' })).toBe('tsm-7-reviews-v1-0');
    expect(t.podNs({ name: 'httpbin-0', namespace: 'foo' })).toBe('tsm-7-httpbin-0.foo');
    expect(t.podAddress(0)).toBe('10.244.7.10');
    expect(t.serviceAddress(3)).toBe('10.96.7.13');
    expect(t.bridgePort(239).length).toBeLessThanOrEqual(15);
    expect(topology(7, 'loopback').podAddress(1)).toBe('127.42.7.11');
    expect(() => t.podAddress(240)).toThrow('more than 240 pods');
  });

  it('lists every DNS name form a pod can use for a service', () => {
    expect(serviceNames({ name: 'reviews', namespace: 'default' }, 'default')).toEqual([
      'reviews',
      'reviews.default',
      'reviews.default.svc',
      'reviews.default.svc.cluster.local',
    ]);
    expect(serviceNames({ name: 'httpbin', namespace: 'foo' }, 'default')[0]).toBe('httpbin.foo');
  });
});

describe('log prefixes', () => {
  it('prefixes each line with its pod, padded, colored per pod when asked', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => {
      text += d;
    });
    const sink = new LogSink({ out, color: true, width: 8 });
    sink.line('web-0', 'hello');
    sink.line('client-0', 'hi');
    sink.line('web-0', 'again');
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('\u001b[36mweb-0    | \u001b[0mhello');
    expect(lines[1]).toBe('\u001b[33mclient-0 | \u001b[0mhi');
    expect(lines[2]).toBe('\u001b[36mweb-0    | \u001b[0magain');
  });
});

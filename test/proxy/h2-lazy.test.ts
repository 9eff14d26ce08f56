import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2, http2, http2Loaded } from '../../runtime/proxy/h2/http2.js';
import { type EchoServer, startEcho } from './helpers/echo.js';
import { type PeerPorts, type Sidecar, send } from './helpers/mesh.js';
import { startPair } from './helpers/pair.js';
import { createTestPki, type TestPki } from './helpers/pki.js';
import { pod, service } from './helpers/snapshot.js';

/** A mesh that speaks HTTP/1.1 only never loads node:http2 (~1.3 MB per sidecar). */
describe('node:http2 on first use', () => {
  let pki: TestPki;
  let app: EchoServer;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    app = await startEcho('reviews-v1');
    const reviews = pod({ name: 'reviews-v1-0', app: 'reviews', version: 'v1', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    ({ server, client } = await startPair({
      pki,
      peers,
      objects: [
        service('reviews', [{ port: 9080, targetPort: app.port }]),
        service('sleep', [{ port: 80, targetPort: 8080 }]),
      ],
      workloads: [reviews, sleep],
      server: reviews,
      client: sleep,
    }));
  });

  afterAll(async () => {
    await client?.proxy.stop();
    await server?.proxy.stop();
    await app?.close();
    pki?.cleanup();
  });

  it('serves HTTP/1.1 over mesh mTLS without loading HTTP/2', async () => {
    const res = await send(client.ports.outbound, '/one', { host: 'reviews:9080' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).url).toBe('/one');
    expect(http2Loaded()).toBe(false);
  });

  it("uses node:http2's own values for the error codes and flags it spells out", () => {
    const { constants } = http2();
    expect(http2Loaded()).toBe(true);
    for (const [name, value] of Object.entries(H2)) {
      expect(value, name).toBe(constants[name as keyof typeof constants]);
    }
  });

  it("keeps undici's HTTP/1.1 pool from loading node:http2 (a fresh process)", () => {
    const pool = join(import.meta.dirname, '../../runtime/proxy/upstream/undici-pool.ts');
    const script = `
      const { createServer } = await import('node:http');
      const { Pool, poolRequest } = await import(${JSON.stringify(pool)});
      const server = createServer((req, res) => res.end('hi')).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const res = await poolRequest(new Pool('http://127.0.0.1:' + server.address().port), { method: 'GET', path: '/' });
      const body = await res.body.text();
      console.log(JSON.stringify({ status: res.statusCode, body, http2: process.moduleLoadList.filter((m) => m.includes('http2')) }));
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out)).toEqual({ status: 200, body: 'hi', http2: [] });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { proxyOptionsFromCli, UsageError } from '../../runtime/proxy/main.js';
import { parseTcpListeners } from '../../runtime/proxy/tcp/listeners.js';

describe('tsmesh proxy flags for part-2 features', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-flags-'));
  writeFileSync(join(dir, 'snapshot.json'), '{}');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = { snapshot: join(dir, 'snapshot.json'), certDir: dir, address: '127.0.0.1' };

  it('parses --tcp-listener lists and refuses bad entries, naming them', () => {
    expect(parseTcpListeners('15432=db:5432, 16379=cache.prod.svc.cluster.local:6379')).toEqual([
      { port: 15432, destination: 'db:5432' },
      { port: 16379, destination: 'cache.prod.svc.cluster.local:6379' },
    ]);
    expect(() => parseTcpListeners('15432=db')).toThrow(
      "--tcp-listener: '15432=db' is not LOCAL_PORT=HOST:PORT (e.g. 5432=db:5432)",
    );
    expect(() => parseTcpListeners('99999=db:5432')).toThrow("'99999=db:5432'");
  });

  it('turns --tcp-listener and --trace-collector into proxy options', async () => {
    const { options, close } = await proxyOptionsFromCli({
      ...base,
      tcpListener: '15432=db:5432',
      traceCollector: 'http://127.0.0.1:9411/api/v2/spans',
    });
    expect(options.protocols?.tcpListeners).toEqual([{ port: 15432, destination: 'db:5432' }]);
    expect(options.traceExport?.endpoint).toBe('http://127.0.0.1:9411/api/v2/spans');
    await close();
  });

  it('answers a usage error for a collector that is not an http(s) URL', async () => {
    await expect(proxyOptionsFromCli({ ...base, traceCollector: 'zipkin' })).rejects.toThrow(UsageError);
    await expect(proxyOptionsFromCli({ ...base, traceCollector: 'zipkin' })).rejects.toThrow(
      /--trace-collector: .*traceExport.endpoint must be an http\(s\) URL, got 'zipkin'/s,
    );
  });
});

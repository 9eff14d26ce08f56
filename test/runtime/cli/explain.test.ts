import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExplain } from '../../../runtime/cli/commands/explain.js';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-explain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(
  join(dir, 'mesh.yaml'),
  `apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: default }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews-v1, namespace: default }
spec:
  selector: { matchLabels: { app: reviews, version: v1 } }
  template:
    metadata: { labels: { app: reviews, version: v1 } }
    spec: { serviceAccountName: reviews, containers: [{ name: app, image: reviews, ports: [{ containerPort: 9080 }] }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: productpage-v1, namespace: default }
spec:
  selector: { matchLabels: { app: productpage } }
  template:
    metadata: { labels: { app: productpage } }
    spec: { serviceAccountName: productpage, containers: [{ name: app, image: productpage }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews } }]
    timeout: 3s
`,
);
writeFileSync(
  join(dir, 'broken.yaml'),
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: bad, namespace: default }
spec: { hosts: [reviews], http: [{ route: [{ destination: { host: reviews }, weight: -5 }] }] }
`,
);

function capture() {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
  };
  return io;
}

const base = { file: [join(dir, 'mesh.yaml')], header: [] as string[], request: 'GET', output: 'text' };

describe('tsmesh explain', () => {
  it('prints the decision as text', async () => {
    const io = capture();
    const code = await runExplain(
      'http://reviews:9080/',
      { ...base, from: 'default/productpage-v1', header: ['end-user: jason'] },
      io,
    );
    expect(code).toBe(0);
    expect(io.stdout).toContain('VirtualService default/reviews, rule 0');
    expect(io.stdout).toContain('timeout   3000 ms');
  });

  it('prints the documented JSON schema with -o json', async () => {
    const io = capture();
    expect(
      await runExplain(
        'http://reviews:9080/',
        { ...base, output: 'json', from: 'default/productpage-v1' },
        io,
      ),
    ).toBe(0);
    const doc = JSON.parse(io.stdout);
    expect(doc).toMatchObject({
      schema: 'tsmesh.explain/v1',
      route: { kind: 'no-route' },
      verdict: { status: 404 },
    });
  });

  it('exits 1 when the config has errors', async () => {
    const io = capture();
    expect(await runExplain('http://reviews:9080/', { ...base, file: [dir] }, io)).toBe(1);
    expect(io.stderr).toMatch(/weight/);
  });

  it('exits 2 for a malformed header', async () => {
    const io = capture();
    expect(await runExplain('http://reviews:9080/', { ...base, header: ['no-colon'] }, io)).toBe(2);
    expect(io.stderr).toMatch(/name: value/);
  });

  it('exits 2 for an unknown caller', async () => {
    const io = capture();
    expect(await runExplain('http://reviews:9080/', { ...base, from: 'default/ghost' }, io)).toBe(2);
    expect(io.stderr).toMatch(/unknown caller/);
  });
});

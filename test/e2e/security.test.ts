import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookinfoManifests, E2eMesh } from './helpers.js';

// Bookinfo's mesh-wide STRICT mTLS and its AuthorizationPolicies, seen from a meshed client
// (default/sleep) and an unmeshed one (legacy/sleep).
const mesh = new E2eMesh();
const REVIEWS = 'http://reviews.default:9080/reviews/0';

/** curl from a pod: the HTTP status (000 when no HTTP answer came), the body and curl's exit code. */
async function curl(
  from: string,
  namespace: string,
  url: string,
): Promise<{ code: string; body: string; exit: number }> {
  const res = await mesh.exec(from, ['curl', '-s', '-m', '10', '-w', '\n%{http_code}', url], namespace);
  const i = res.stdout.lastIndexOf('\n');
  return {
    code: res.stdout.slice(i + 1).trim(),
    body: res.stdout.slice(0, Math.max(i, 0)),
    exit: res.status,
  };
}

describe('bookinfo security', () => {
  beforeAll(() => {
    mesh.up(bookinfoManifests(mesh.dir));
  });
  afterAll(() => {
    const down = mesh.down();
    console.log(`e2e security.test.ts: ${mesh.elapsed()} (up, tests, down)`);
    expect(down.status).toBe(0);
  });

  it('STRICT mTLS refuses a plaintext client from an unmeshed pod, while a meshed one is served', async () => {
    expect((await curl('sleep', 'default', REVIEWS)).code).toBe('200');
    const plain = await curl('sleep', 'legacy', REVIEWS);
    expect(plain.code).toBe('000');
    // 52: empty reply, 56: connection reset; either way no HTTP answer at all.
    expect([52, 56]).toContain(plain.exit);
  });

  it('PERMISSIVE for the namespace accepts plaintext, which then meets the AuthorizationPolicy; deleting it restores STRICT', async () => {
    const permissive = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec:
  mtls: { mode: PERMISSIVE }
`;
    expect(mesh.apply(permissive).status).toBe(0);
    const plain = await curl('sleep', 'legacy', REVIEWS);
    expect(plain.code).toBe('403');
    expect(plain.body).toBe('RBAC: access denied');
    expect(mesh.remove(permissive).status).toBe(0);
    expect((await curl('sleep', 'legacy', REVIEWS)).code).toBe('000');
  });

  it('denies sleep → details with 403 RBAC: access denied (only productpage is allowed)', async () => {
    const denied = await curl('sleep', 'default', 'http://details:9080/details/0');
    expect(denied.code).toBe('403');
    expect(denied.body).toBe('RBAC: access denied');
    const page = await curl('sleep', 'default', 'http://productpage:9080/productpage?u=normal');
    expect(page.code).toBe('200');
    expect(page.body).toContain('Reviewer1');
  });

  it('a DENY policy applied at run time takes effect once ACKed and goes away when deleted', async () => {
    const deny = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-sleep, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: DENY
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/sleep] } }]
      to: [{ operation: { paths: ["/reviews/*"] } }]
`;
    expect(mesh.apply(deny).status).toBe(0);
    const denied = await curl('sleep', 'default', REVIEWS);
    expect(denied).toMatchObject({ code: '403', body: 'RBAC: access denied' });
    // productpage's own calls to reviews are still allowed.
    expect((await curl('sleep', 'default', 'http://productpage:9080/productpage?u=normal')).body).toContain(
      'Reviewer1',
    );
    expect(mesh.remove(deny).status).toBe(0);
    expect((await curl('sleep', 'default', REVIEWS)).code).toBe('200');
  });
});

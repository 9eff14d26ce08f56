import { describe, expect, it } from 'vitest';
import type { AuthorizationPolicySpec, MeshObject } from '../../../lib/api/types.js';
import { type AuthzRequest, authorize, compileAuthorization } from '../../../lib/policy/authz.js';
import { cidrContains, parseCidr } from '../../../lib/policy/cidr.js';

function ap(name: string, spec: AuthorizationPolicySpec, namespace = 'default'): MeshObject {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec,
  };
}

const workload = { namespace: 'default', labels: { app: 'reviews', version: 'v1' } };
const SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';

function req(overrides: Partial<AuthzRequest> = {}): AuthzRequest {
  return {
    principal: PRODUCTPAGE,
    sourceIp: '10.0.0.7',
    host: 'reviews.default.svc.cluster.local:9080',
    port: 9080,
    method: 'GET',
    path: '/reviews/0',
    headers: {},
    protocol: 'http',
    ...overrides,
  };
}

const decide = (policies: MeshObject[], r: Partial<AuthzRequest> = {}) =>
  authorize(compileAuthorization(policies, workload), req(r));

describe('authorization order', () => {
  it('allows everything when no policy applies', () => {
    expect(decide([])).toMatchObject({
      allowed: true,
      action: 'ALLOW',
      reason: expect.stringMatching(/no ALLOW policy/),
    });
  });

  it('denies with a DENY policy before any ALLOW policy is considered', () => {
    const policies = [
      ap('allow-all', { action: 'ALLOW', rules: [{}] }),
      ap('deny-admin', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }),
    ];
    expect(decide(policies, { path: '/admin/x' })).toMatchObject({
      allowed: false,
      policy: 'default/deny-admin',
      ruleIndex: 0,
    });
    expect(decide(policies, { path: '/reviews/0' })).toMatchObject({
      allowed: true,
      policy: 'default/allow-all',
    });
  });

  it('makes an ALLOW policy without rules deny everything', () => {
    expect(decide([ap('allow-nothing', { action: 'ALLOW' })])).toMatchObject({
      allowed: false,
      action: 'DENY',
    });
    expect(decide([ap('allow-nothing', {})]).allowed).toBe(false);
  });

  it('makes rules: [{}] match everything', () => {
    expect(decide([ap('allow-all', { rules: [{}] })])).toMatchObject({
      allowed: true,
      policy: 'default/allow-all',
      ruleIndex: 0,
    });
  });

  it('denies when ALLOW policies exist and none matches', () => {
    const r = decide([
      ap('only-sleep', {
        rules: [{ from: [{ source: { principals: ['cluster.local/ns/foo/sa/sleep'] } }] }],
      }),
    ]);
    expect(r).toMatchObject({ allowed: false, action: 'DENY' });
    expect(r.policy).toBeUndefined();
  });

  it('never lets AUDIT change the decision', () => {
    const r = decide([
      ap('audit', { action: 'AUDIT', rules: [{}] }),
      ap('deny', { action: 'DENY', rules: [{}] }),
    ]);
    expect(r).toMatchObject({
      allowed: false,
      policy: 'default/deny',
      audit: { policy: 'default/audit', ruleIndex: 0 },
    });
    expect(decide([ap('audit', { action: 'AUDIT', rules: [{}] })]).allowed).toBe(true);
  });

  it('denies on a CUSTOM policy that reached the engine (fail closed)', () => {
    expect(decide([ap('ext', { action: 'CUSTOM', provider: { name: 'x' }, rules: [{}] })]).allowed).toBe(
      false,
    );
  });

  it('applies root-namespace policies to every namespace', () => {
    expect(decide([ap('deny-all', { action: 'DENY', rules: [{}] }, 'tsmesh-system')])).toMatchObject({
      allowed: false,
      policy: 'tsmesh-system/deny-all',
    });
  });

  it('ignores policies of other namespaces and of unselected workloads', () => {
    const policies = [
      ap('other-ns', { action: 'DENY', rules: [{}] }, 'bar'),
      ap('ratings-only', { action: 'DENY', selector: { matchLabels: { app: 'ratings' } }, rules: [{}] }),
    ];
    expect(decide(policies).allowed).toBe(true);
  });
});

describe('rule matching', () => {
  const allow = (spec: AuthorizationPolicySpec['rules']) => [ap('p', { rules: spec })];
  const cases: [string, AuthorizationPolicySpec['rules'], Partial<AuthzRequest>, boolean][] = [
    [
      'principal without scheme',
      [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/bookinfo-productpage'] } }] }],
      {},
      true,
    ],
    ['principal prefix*', [{ from: [{ source: { principals: ['cluster.local/ns/default/*'] } }] }], {}, true],
    ['principal *suffix', [{ from: [{ source: { principals: ['*/sa/sleep'] } }] }], {}, false],
    [
      'principal * needs mTLS',
      [{ from: [{ source: { principals: ['*'] } }] }],
      { principal: undefined },
      false,
    ],
    [
      'notPrincipals * matches plaintext',
      [{ from: [{ source: { notPrincipals: ['*'] } }] }],
      { principal: undefined },
      true,
    ],
    [
      'namespaces from the principal',
      [{ from: [{ source: { namespaces: ['foo'] } }] }],
      { principal: SLEEP },
      true,
    ],
    ['notNamespaces', [{ from: [{ source: { notNamespaces: ['foo'] } }] }], { principal: SLEEP }, false],
    ['ipBlocks CIDR', [{ from: [{ source: { ipBlocks: ['10.0.0.0/24'] } }] }], {}, true],
    ['ipBlocks outside', [{ from: [{ source: { ipBlocks: ['10.1.0.0/16'] } }] }], {}, false],
    [
      'ipBlocks with an IPv4-mapped address',
      [{ from: [{ source: { ipBlocks: ['10.0.0.7'] } }] }],
      { sourceIp: '::ffff:10.0.0.7' },
      true,
    ],
    ['methods', [{ to: [{ operation: { methods: ['GET', 'HEAD'] } }] }], {}, true],
    ['notMethods', [{ to: [{ operation: { notMethods: ['GET'] } }] }], {}, false],
    ['paths exact', [{ to: [{ operation: { paths: ['/reviews/0'] } }] }], {}, true],
    ['paths prefix*', [{ to: [{ operation: { paths: ['/reviews/*'] } }] }], {}, true],
    ['paths *suffix', [{ to: [{ operation: { paths: ['*/0'] } }] }], {}, true],
    ['notPaths', [{ to: [{ operation: { notPaths: ['/reviews/*'] } }] }], {}, false],
    ['ports', [{ to: [{ operation: { ports: ['9080'] } }] }], {}, true],
    [
      'hosts ignore port and case',
      [{ to: [{ operation: { hosts: ['Reviews.default.svc.cluster.local'] } }] }],
      {},
      true,
    ],
    ['hosts wildcard', [{ to: [{ operation: { hosts: ['*.example.com'] } }] }], {}, false],
    [
      'fields in one source are ANDed',
      [{ from: [{ source: { namespaces: ['default'], ipBlocks: ['192.168.0.0/16'] } }] }],
      {},
      false,
    ],
    ['values of one field are ORed', [{ from: [{ source: { namespaces: ['x', 'default'] } }] }], {}, true],
    [
      'sources are ORed',
      [{ from: [{ source: { namespaces: ['x'] } }, { source: { namespaces: ['default'] } }] }],
      {},
      true,
    ],
    [
      'from and to are ANDed',
      [{ from: [{ source: { namespaces: ['default'] } }], to: [{ operation: { methods: ['POST'] } }] }],
      {},
      false,
    ],
    [
      'when header',
      [{ when: [{ key: 'request.headers[X-Token]', values: ['abc'] }] }],
      { headers: { 'x-token': 'abc' } },
      true,
    ],
    [
      'when header notValues',
      [{ when: [{ key: 'request.headers[x-token]', notValues: ['abc'] }] }],
      { headers: { 'x-token': 'abc' } },
      false,
    ],
    ['when source.ip', [{ when: [{ key: 'source.ip', values: ['10.0.0.0/8'] }] }], {}, true],
    ['when source.namespace', [{ when: [{ key: 'source.namespace', values: ['default'] }] }], {}, true],
    [
      'when source.principal',
      [{ when: [{ key: 'source.principal', values: ['cluster.local/ns/foo/sa/sleep'] }] }],
      {},
      false,
    ],
    ['when destination.port', [{ when: [{ key: 'destination.port', values: ['9080'] }] }], {}, true],
    [
      'all when conditions must hold',
      [
        {
          when: [
            { key: 'source.namespace', values: ['default'] },
            { key: 'destination.port', values: ['1'] },
          ],
        },
      ],
      {},
      false,
    ],
    [
      'an unsupported when key never matches in ALLOW',
      [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }],
      {},
      false,
    ],
  ];
  it.each(cases)('%s → allowed %s', (_name, rules, r, want) => {
    expect(decide(allow(rules), r).allowed).toBe(want);
  });
});

describe('TCP connections fail closed', () => {
  const tcp: Partial<AuthzRequest> = {
    protocol: 'tcp',
    method: undefined,
    path: undefined,
    headers: undefined,
    host: '10.0.0.9',
  };
  it('does not match an ALLOW rule with HTTP-only fields', () => {
    expect(
      decide([ap('get-only', { rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })], tcp).allowed,
    ).toBe(false);
  });
  it('matches a DENY rule with HTTP-only fields', () => {
    expect(
      decide(
        [ap('no-post', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] })],
        tcp,
      ).allowed,
    ).toBe(false);
  });
  it('still evaluates the other fields of such a DENY rule', () => {
    const policies = [
      ap('no-sleep-post', {
        action: 'DENY',
        rules: [{ from: [{ source: { namespaces: ['foo'] } }], to: [{ operation: { methods: ['POST'] } }] }],
      }),
    ];
    expect(decide(policies, tcp).allowed).toBe(true);
    expect(decide(policies, { ...tcp, principal: SLEEP }).allowed).toBe(false);
  });
  it('matches ALLOW rules with TCP fields only', () => {
    expect(decide([ap('port', { rules: [{ to: [{ operation: { ports: ['9080'] } }] }] })], tcp).allowed).toBe(
      true,
    );
  });
  it('treats header conditions as HTTP-only', () => {
    expect(
      decide([ap('hdr', { rules: [{ when: [{ key: 'request.headers[x]', values: ['1'] }] }] })], tcp).allowed,
    ).toBe(false);
  });
});

describe('CIDR blocks', () => {
  it.each([
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['2001:db8::/32', '2001:db8:1::5', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['::1', '::1', true],
    ['10.0.0.1', '::ffff:10.0.0.1', true],
    ['10.0.0.0/8', '2001:db8::1', false],
  ])('%s contains %s: %s', (cidr, ip, want) => {
    expect(cidrContains(parseCidr(cidr), ip)).toBe(want);
  });
  it('rejects a malformed block', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => parseCidr('300.0.0.1')).toThrow(/invalid/);
  });
});

describe('verdict objects', () => {
  it('does not leak an audit note into later verdicts', () => {
    const compiled = compileAuthorization(
      [
        ap('audit-get', { action: 'AUDIT', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }),
        ap('all', { rules: [{}] }),
      ],
      workload,
    );
    expect(authorize(compiled, req()).audit).toEqual({ policy: 'default/audit-get', ruleIndex: 0 });
    expect(authorize(compiled, req({ method: 'POST' })).audit).toBeUndefined();
  });
  it('gives the same verdict for the same request every time', () => {
    const compiled = compileAuthorization(
      [ap('deny', { action: 'DENY', rules: [{ to: [{ operation: { paths: ['/x'] } }] }] })],
      workload,
    );
    expect(authorize(compiled, req({ path: '/x' }))).toEqual(authorize(compiled, req({ path: '/x' })));
    expect(authorize(compiled, req()).allowed).toBe(true);
  });
});

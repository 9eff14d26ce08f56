import { describe, expect, it } from 'vitest';
import type { CorsPolicy, HTTPRoute, MeshObject } from '../../../lib/api/types.js';
import { validateObjects } from '../../../lib/api/validate.js';
import { explain, formatExplain } from '../../../lib/explain.js';
import { CompiledCors, compileRoutes, route } from '../../../lib/routing/index.js';
import { bookinfo, proxy, request, service, virtualService } from './fixtures.js';

const POLICY: CorsPolicy = {
  allowOrigins: [
    { exact: 'https://shop.example' },
    { prefix: 'https://dev.' },
    { regex: 'https://[a-z]+\\.corp' },
  ],
  allowMethods: ['GET', 'POST'],
  allowHeaders: ['content-type', 'X-Api-Key'],
  exposeHeaders: ['x-trace'],
  maxAge: '24h',
  allowCredentials: true,
};

function vsWithCors(corsPolicy: unknown): MeshObject {
  return virtualService('reviews', {
    hosts: ['reviews'],
    http: [{ route: [{ destination: { host: 'reviews' } }], corsPolicy } as HTTPRoute],
  });
}

/** path → message of each diagnostic for one object. */
function problems(obj: MeshObject): [string, string, string][] {
  return validateObjects([obj], { target: 'bundled' }).map((d) => [d.code, d.path ?? '', d.message]);
}

describe('corsPolicy validation', () => {
  it('accepts a full policy for the bundled runtime', () => {
    expect(problems(vsWithCors({ ...POLICY, unmatchedPreflights: 'IGNORE' }))).toEqual([]);
  });

  it.each([
    [
      'an allowOrigins entry without exact, prefix or regex',
      { allowOrigins: [{}] },
      'IST0106',
      'spec.http[0].corsPolicy.allowOrigins[0]',
      'set one of exact, prefix, regex',
    ],
    [
      'an allowOrigins regex that is not RE2',
      { allowOrigins: [{ regex: '(?<=a)b' }] },
      'IST0106',
      'spec.http[0].corsPolicy.allowOrigins[0].regex',
      'is not a valid RE2 regex',
    ],
    [
      'a method no CORS policy can allow',
      { allowOrigins: [{ exact: 'https://a' }], allowMethods: ['GET', 'FETCH'] },
      'IST0106',
      'spec.http[0].corsPolicy.allowMethods[1]',
      '"FETCH" is not an HTTP method a CORS policy can allow',
    ],
    [
      'a header name with a space',
      { allowOrigins: [{ exact: 'https://a' }], allowHeaders: ['x api'] },
      'IST0106',
      'spec.http[0].corsPolicy.allowHeaders[0]',
      '"x api" is not a valid header name',
    ],
    [
      'a maxAge with a fraction of a second',
      { allowOrigins: [{ exact: 'https://a' }], maxAge: '1500ms' },
      'IST0106',
      'spec.http[0].corsPolicy.maxAge',
      'maxAge is sent in whole seconds',
    ],
    [
      'a maxAge that is not a duration',
      { allowOrigins: [{ exact: 'https://a' }], maxAge: '10' },
      'IST0106',
      'spec.http[0].corsPolicy.maxAge',
      'is not a valid duration',
    ],
    [
      'an unknown unmatchedPreflights',
      { allowOrigins: [{ exact: 'https://a' }], unmatchedPreflights: 'DROP' },
      'IST0106',
      'spec.http[0].corsPolicy.unmatchedPreflights',
      'DROP',
    ],
    [
      'allowCredentials that is not a boolean',
      { allowOrigins: [{ exact: 'https://a' }], allowCredentials: 'yes' },
      'IST0106',
      'spec.http[0].corsPolicy.allowCredentials',
      'yes',
    ],
    [
      'the deprecated allowOrigin list',
      { allowOrigin: ['https://a'] },
      'TSM0001',
      'spec.http[0].corsPolicy.allowOrigin',
      'use allowOrigins',
    ],
  ])('refuses %s, naming the field', (_name, policy, code, path, message) => {
    const found = problems(vsWithCors(policy));
    expect(found.map(([c, p]) => [c, p])).toContainEqual([code, path]);
    expect(found.find(([, p]) => p === path)?.[2]).toContain(message);
  });
});

describe('CompiledCors', () => {
  const cors = new CompiledCors(POLICY);

  it('renders the header values once: methods and headers joined, maxAge in seconds', () => {
    expect(cors.allowMethods).toBe('GET,POST');
    expect(cors.allowHeaders).toBe('content-type,X-Api-Key');
    expect(cors.exposeHeaders).toBe('x-trace');
    expect(cors.maxAge).toBe('86400');
    expect(cors.allowCredentials).toBe(true);
    expect(cors.unmatchedPreflights).toBe('FORWARD');
  });

  it('matches origins by exact, prefix and whole-value RE2 regex', () => {
    expect(cors.allowsOrigin('https://shop.example')).toBe(true);
    expect(cors.allowsOrigin('https://shop.example.evil')).toBe(false);
    expect(cors.allowsOrigin('https://dev.anything')).toBe(true);
    expect(cors.allowsOrigin('https://sales.corp')).toBe(true);
    expect(cors.allowsOrigin('https://sales.corp.evil')).toBe(false);
    expect(cors.allowsOrigin('http://shop.example')).toBe(false);
  });

  it('answers an allowed preflight with every preflight header', () => {
    expect(cors.evaluate('OPTIONS', 'https://shop.example', 'POST', 'content-type')).toEqual({
      kind: 'preflight',
      originAllowed: true,
      headers: {
        'access-control-allow-origin': 'https://shop.example',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': 'content-type,X-Api-Key',
        'access-control-max-age': '86400',
      },
    });
  });

  it('forwards a preflight from another origin by default, answers it without allow-origin under IGNORE', () => {
    expect(cors.evaluate('OPTIONS', 'https://other.example', 'POST', undefined)).toBeUndefined();
    const ignore = new CompiledCors({ ...POLICY, unmatchedPreflights: 'IGNORE' });
    const out = ignore.evaluate('OPTIONS', 'https://other.example', 'POST', undefined);
    expect(out?.kind).toBe('preflight');
    expect(out?.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('adds allow-origin, expose-headers and credentials for an actual request from an allowed origin', () => {
    expect(cors.evaluate('POST', 'https://dev.x', undefined, undefined)).toEqual({
      kind: 'response',
      headers: {
        'access-control-allow-origin': 'https://dev.x',
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'x-trace',
      },
    });
    // OPTIONS without Access-Control-Request-Method is not a preflight.
    expect(cors.evaluate('OPTIONS', 'https://dev.x', undefined, undefined)?.kind).toBe('response');
  });

  it('leaves requests without Origin, and actual requests from other origins, alone', () => {
    expect(cors.evaluate('GET', undefined, undefined, undefined)).toBeUndefined();
    expect(cors.evaluate('OPTIONS', '', 'GET', undefined)).toBeUndefined();
    expect(cors.evaluate('GET', 'https://other.example', undefined, undefined)).toBeUndefined();
  });

  it('treats an entry that matches "*" as any origin, and "*" methods and headers as an echo', () => {
    const any = new CompiledCors({
      allowOrigins: [{ exact: '*' }],
      allowMethods: ['*'],
      allowHeaders: ['*'],
    });
    expect(any.evaluate('OPTIONS', 'https://x.y', 'PATCH', 'x-a,x-b')?.headers).toEqual({
      'access-control-allow-origin': 'https://x.y',
      'access-control-allow-methods': 'PATCH',
      'access-control-allow-headers': 'x-a,x-b',
    });
    const none = new CompiledCors({});
    expect(none.allowsOrigin('https://x.y')).toBe(false);
  });
});

describe('corsPolicy in the route table', () => {
  const table = (vs: MeshObject) => {
    const b = bookinfo();
    return compileRoutes({ objects: [...b.objects, vs], workloads: b.workloads }, proxy());
  };

  it('is compiled into the decisions of the rule that sets it, and only that rule', () => {
    const t = table(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {
            match: [{ uri: { prefix: '/api' } }],
            route: [{ destination: { host: 'reviews' } }],
            corsPolicy: POLICY,
          },
          { route: [{ destination: { host: 'ratings' } }] },
        ],
      }),
    );
    const api = route(t, request('http://reviews:9080/api/x'));
    expect(api.cors).toBeInstanceOf(CompiledCors);
    expect(api.cors?.allowsOrigin('https://shop.example')).toBe(true);
    // Shared, compiled once: the same object for every request of the rule.
    expect(route(t, request('http://reviews:9080/api/y')).cors).toBe(api.cors);
    expect(route(t, request('http://reviews:9080/other')).cors).toBeUndefined();
  });

  it('explain says when the proxy answers a preflight, and what it adds to an actual response', () => {
    const objects = [service('reviews'), vsWithCors(POLICY)];
    const pre = explain(
      { objects },
      {
        url: 'http://reviews:9080/',
        method: 'OPTIONS',
        headers: { Origin: 'https://shop.example', 'Access-Control-Request-Method': 'POST' },
      },
    );
    expect(pre.verdict.outcome).toBe('cors-preflight');
    expect(pre.verdict.status).toBe(200);
    expect(pre.route.cors?.effect).toBe('preflight-answered');
    expect(pre.route.cors?.headers?.['access-control-allow-origin']).toBe('https://shop.example');
    expect(formatExplain(pre)).toContain('preflight answered by the proxy (200)');
    expect(formatExplain(pre)).toContain('CORS preflight from allowed origin https://shop.example');

    const actual = explain(
      { objects },
      { url: 'http://reviews:9080/', headers: { origin: 'https://shop.example' } },
    );
    expect(actual.verdict.outcome).not.toBe('cors-preflight');
    expect(actual.route.cors?.effect).toBe('response-headers');

    const other = explain(
      { objects },
      {
        url: 'http://reviews:9080/',
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      },
    );
    expect(other.route.cors?.effect).toBe('preflight-forwarded');
    expect(other.verdict.outcome).not.toBe('cors-preflight');
    expect(JSON.parse(JSON.stringify(other)).route.cors.policy.allowOrigins).toHaveLength(3);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { ProxyIdentity } from '../../lib/model.js';
import { DnsCache } from '../../runtime/proxy/egress/dns.js';
import { CredentialError, CredentialStore } from '../../runtime/proxy/gateway/credentials.js';
import { applyEdgeHeaders } from '../../runtime/proxy/gateway/edge-headers.js';
import { localPort, parsePortMap, resolveGatewayOptions } from '../../runtime/proxy/gateway/options.js';
import { planGatewayListeners, serverFor } from '../../runtime/proxy/gateway/servers.js';
import { istio } from '../proxy/helpers/snapshot.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';

const proxy: ProxyIdentity = {
  namespace: 'istio-system',
  workload: 'gw',
  serviceAccount: 'gw',
  labels: { istio: 'ingressgateway', app: 'gw' },
};

function gateway(
  name: string,
  servers: unknown[],
  selector: Record<string, string> = { istio: 'ingressgateway' },
) {
  return istio('Gateway', name, { selector, servers }, 'istio-system') as MeshObject;
}

describe('gateway listener plan', () => {
  it('groups servers by port and keeps only Gateways whose selector matches the proxy', () => {
    const plan = planGatewayListeners(
      [
        gateway('a', [
          { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['ns1/a.example.com'] },
        ]),
        gateway('b', [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.b.example.com'] }]),
        gateway('other', [{ port: { number: 81, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }], {
          istio: 'egress',
        }),
      ],
      proxy,
    );
    expect([...plan.listeners.keys()]).toEqual([80]);
    expect(plan.listeners.get(80)!.servers.map((s) => s.hosts)).toEqual([
      ['a.example.com'],
      ['*.b.example.com'],
    ]);
    expect(plan.problems).toEqual([]);
  });

  it('names a port served as HTTP and HTTPS at once, and keeps the first', () => {
    const plan = planGatewayListeners(
      [
        gateway('a', [{ port: { number: 443, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }]),
        gateway('b', [
          {
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            hosts: ['*'],
            tls: { mode: 'SIMPLE', credentialName: 'c' },
          },
        ]),
      ],
      proxy,
    );
    expect(plan.listeners.get(443)!.protocol).toBe('HTTP');
    expect(plan.problems).toEqual([
      'Gateway istio-system/b: spec.servers[0]: port 443 is already served as HTTP by istio-system/a; HTTPS on the same port is ignored',
    ]);
  });

  it('prefers an exact server host over a wildcard, and the longest wildcard', () => {
    const plan = planGatewayListeners(
      [
        gateway('a', [
          { port: { number: 80, name: 'a', protocol: 'HTTP' }, hosts: ['*'] },
          { port: { number: 80, name: 'b', protocol: 'HTTP' }, hosts: ['*.example.com'] },
          { port: { number: 80, name: 'c', protocol: 'HTTP' }, hosts: ['www.example.com'] },
        ]),
      ],
      proxy,
    );
    const spec = plan.listeners.get(80)!;
    expect(serverFor(spec, 'www.example.com')!.index).toBe(2);
    expect(serverFor(spec, 'api.example.com')!.index).toBe(1);
    expect(serverFor(spec, 'example.org')!.index).toBe(0);
  });
});

describe('gateway options', () => {
  it('maps ports by offset unless the map names them', () => {
    const o = resolveGatewayOptions({ portOffset: 8000, portMap: { 443: 9443 } });
    expect(localPort(o, 80)).toBe(8080);
    expect(localPort(o, 443)).toBe(9443);
    expect(() => localPort(o, 60000)).toThrow('gateway port 60000 + port offset 8000 = 68000 is not a port');
  });

  it('refuses bad values, naming each', () => {
    expect(() => resolveGatewayOptions({ portOffset: -1, portMap: { 70000: 1 } })).toThrow(
      /portOffset must be an integer in 0..65535, got -1[\s\S]*portMap: key must be a port in 1..65535, got '70000'/,
    );
    expect(parsePortMap('80=8080, 443=8443')).toEqual({ 80: 8080, 443: 8443 });
    expect(() => parsePortMap('80:8080')).toThrow("expected GATEWAY_PORT=LOCAL_PORT[,...], got '80:8080'");
  });

  it('names the credential files that are missing', () => {
    const store = new CredentialStore('/nonexistent-dir');
    expect(() => store.context('web-cert')).toThrow(CredentialError);
    expect(() => store.context('web-cert')).toThrow('/nonexistent-dir/web-cert/tls.crt');
    expect(() => store.context('../etc')).toThrow('not a valid name');
    expect(() => new CredentialStore(undefined).context('x')).toThrow('--credential-dir');
  });
});

describe('edge headers', () => {
  it('appends the client to x-forwarded-for and replaces the other forwarded facts', () => {
    const list = [
      'x-forwarded-for',
      '1.2.3.4',
      'X-Forwarded-Proto',
      'https',
      'x-forwarded-host',
      'evil',
      'a',
      'b',
    ];
    applyEdgeHeaders(list, {
      clientAddress: '::ffff:10.0.0.9',
      scheme: 'http',
      authority: 'web.example.com',
    });
    expect(list).toEqual([
      'a',
      'b',
      'x-forwarded-for',
      '1.2.3.4, 10.0.0.9',
      'x-envoy-external-address',
      '10.0.0.9',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'web.example.com',
    ]);
  });
});

describe('DNS cache', () => {
  let dns: TestDnsServer;
  beforeAll(async () => {
    dns = await startDnsServer({ 'two.test': ['127.0.0.2', '127.0.0.3'], 'short.test': ['127.0.0.4'] }, 30);
  });
  afterAll(async () => dns?.close());

  it('keeps an answer for its TTL, then asks again', async () => {
    let now = 1_000_000;
    const cache = new DnsCache({ servers: [dns.address], systemFallback: false }, () => now);
    expect((await cache.resolve('short.test')).address).toBe('127.0.0.4');
    now += 29_000;
    await cache.resolve('SHORT.test.');
    expect(dns.queries.get('short.test')).toBe(1);
    now += 2_000;
    await cache.resolve('short.test');
    expect(dns.queries.get('short.test')).toBe(2);
  });

  it('hands out the addresses of a name round robin, and literals as they are', async () => {
    const cache = new DnsCache({ servers: [dns.address], systemFallback: false });
    const got = [];
    for (let i = 0; i < 4; i++) got.push((await cache.resolve('two.test')).address);
    expect(got).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3']);
    expect(await cache.resolve('127.0.0.9')).toEqual({ address: '127.0.0.9', family: 4 });
    expect(await cache.resolve('[::1]')).toEqual({ address: '::1', family: 6 });
  });

  it('fails with ENOTFOUND naming the host when nothing answers', async () => {
    const cache = new DnsCache({ servers: [dns.address], systemFallback: false });
    await expect(cache.resolve('missing.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(cache.resolve('missing.test')).rejects.toThrow('cannot resolve missing.test');
  });
});

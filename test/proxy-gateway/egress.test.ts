import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { HttpRequestRecord } from '../../runtime/proxy/telemetry/index.js';
import { type EchoServer, startEcho } from '../proxy/helpers/echo.js';
import { type PeerPorts, type Sidecar, send, startSidecar } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, service, spiffe } from '../proxy/helpers/snapshot.js';
import { capturingTelemetry } from '../proxy/helpers/telemetry.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';

function meshConfig(mode: 'ALLOW_ANY' | 'REGISTRY_ONLY'): MeshObject {
  return {
    apiVersion: 'tsmesh.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: 'mesh', namespace: 'tsmesh-system' },
    spec: { outboundTrafficPolicy: { mode } },
  } as MeshObject;
}

describe('egress from a sidecar', () => {
  let pki: TestPki;
  let external: EchoServer;
  let other: EchoServer;
  let dns: TestDnsServer;
  let strict: Sidecar;
  let open: Sidecar;
  let strictRecords: HttpRequestRecord[];
  const peers: PeerPorts = new Map();

  beforeAll(async () => {
    pki = createTestPki();
    external = await startEcho('external');
    other = await startEcho('other');
    dns = await startDnsServer({
      'backend.dns.test': ['127.0.0.1'],
      'passthrough.test': ['127.0.0.1'],
      'none.test': ['127.0.0.1'],
    });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const entries: MeshObject[] = [
      istio('ServiceEntry', 'external-static', {
        hosts: ['external.test'],
        location: 'MESH_EXTERNAL',
        resolution: 'STATIC',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        endpoints: [{ address: '127.0.0.1', ports: { http: external.port } }],
      }),
      istio('ServiceEntry', 'external-dns', {
        hosts: ['api.dns.test'],
        location: 'MESH_EXTERNAL',
        resolution: 'DNS',
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        endpoints: [{ address: 'backend.dns.test', ports: { http: external.port } }],
      }),
      istio('ServiceEntry', 'external-none', {
        hosts: ['none.test'],
        location: 'MESH_EXTERNAL',
        resolution: 'NONE',
        ports: [{ number: other.port, name: 'http', protocol: 'HTTP' }],
      }),
    ];
    const objects = [service('sleep', [{ port: 80, targetPort: 8080 }]), ...entries];
    const egress = { dns: { servers: [dns.address], systemFallback: false } };
    const captured = capturingTelemetry();
    strictRecords = captured.records;
    strict = await startSidecar({
      pod: sleep,
      objects: [meshConfig('REGISTRY_ONLY'), ...objects],
      workloads: [sleep],
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
      options: { egress, telemetry: captured.telemetry },
    });
    open = await startSidecar({
      pod: sleep,
      objects: [meshConfig('ALLOW_ANY'), ...objects],
      workloads: [sleep],
      peers: new Map(),
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
      options: { egress },
    });
  });

  afterAll(async () => {
    await strict?.proxy.stop();
    await open?.proxy.stop();
    await external?.close();
    await other?.close();
    await dns?.close();
    pki?.cleanup();
  });

  it('refuses an unknown host under REGISTRY_ONLY with 502 NR to the BlackHoleCluster', async () => {
    const before = other.received.length;
    const res = await send(strict.ports.outbound, '/x', { host: `127.0.0.1:${other.port}` });
    expect(res.status).toBe(502);
    expect(res.body).toContain('REGISTRY_ONLY');
    expect(other.received.length).toBe(before);
    const rec = strictRecords.at(-1)!;
    expect(rec.responseFlags).toBe('NR');
    expect(rec.upstreamCluster).toBe('BlackHoleCluster');
    expect(rec.status).toBe(502);
  });

  it('passes an unknown host through to the Host header destination under ALLOW_ANY', async () => {
    const res = await send(open.ports.outbound, '/direct?q=1', { host: `127.0.0.1:${other.port}` });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.server).toBe('other');
    expect(got.url).toBe('/direct?q=1');
    expect(got.headers.host).toBe(`127.0.0.1:${other.port}`);
    // Plain HTTP to a destination outside the mesh: no mesh identity, no peer metadata.
    expect(got.headers['x-forwarded-client-cert']).toBeUndefined();
    expect(got.headers['x-tsmesh-peer-metadata']).toBeUndefined();
  });

  it('resolves a passthrough host name with DNS (the in-test resolver)', async () => {
    const res = await send(open.ports.outbound, '/named', { host: `passthrough.test:${other.port}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).headers.host).toBe(`passthrough.test:${other.port}`);
    expect(dns.queries.get('passthrough.test')).toBe(1);
  });

  it('answers 503 UF when a passthrough host does not resolve', async () => {
    const res = await send(open.ports.outbound, '/', { host: 'nowhere.test:8080' });
    expect(res.status).toBe(503);
    expect(res.body).toContain('nowhere.test');
  });

  it('sends a STATIC ServiceEntry host to its endpoint, under REGISTRY_ONLY too', async () => {
    const res = await send(strict.ports.outbound, '/static', { host: 'external.test' });
    expect(res.status).toBe(200);
    const got = JSON.parse(res.body);
    expect(got.server).toBe('external');
    expect(got.headers.host).toBe('external.test');
    expect(got.headers['x-forwarded-client-cert']).toBeUndefined();
    const rec = strictRecords.at(-1)!;
    expect(rec.upstreamCluster).toBe('outbound|80||external.test');
    expect(rec.upstreamHost).toBe(`127.0.0.1:${external.port}`);
  });

  it('resolves a DNS ServiceEntry endpoint through the resolver and caches it by TTL', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await send(strict.ports.outbound, `/dns/${i}`, { host: 'api.dns.test' });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body).server).toBe('external');
    }
    expect(dns.queries.get('backend.dns.test')).toBe(1);
    expect(strictRecords.at(-1)!.upstreamHost).toBe(`backend.dns.test:${external.port}`);
  });

  it('sends a resolution NONE ServiceEntry host to the Host header destination', async () => {
    const res = await send(strict.ports.outbound, '/none', { host: `none.test:${other.port}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).server).toBe('other');
    expect(dns.queries.get('none.test')).toBe(1);
  });
});

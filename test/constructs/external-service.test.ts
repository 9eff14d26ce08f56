import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { ExternalProtocol, ExternalResolution, ExternalService } from '../../constructs/index.js';
import { find, newMesh, synth } from './helpers.js';

describe('ExternalService', () => {
  it('emits a ServiceEntry', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    new ExternalService(chart, 'httpbin-org', {
      mesh,
      hosts: ['httpbin.org'],
      ports: [{ number: 443, protocol: ExternalProtocol.TLS }],
    });
    expect(find(synth(chart), 'ServiceEntry', 'httpbin-org', 'default').spec).toEqual({
      hosts: ['httpbin.org'],
      location: 'MESH_EXTERNAL',
      resolution: 'DNS',
      ports: [{ number: 443, protocol: 'TLS', name: 'tls-443' }],
    });
  });

  it('fails on bad hosts, missing endpoints and DNS for wildcards', () => {
    const chart = Testing.chart();
    const mesh = newMesh(chart);
    const ports = [{ number: 80, protocol: ExternalProtocol.HTTP }];
    expect(() => new ExternalService(chart, 'a', { mesh, hosts: ['Bad Host'], ports })).toThrow(
      /hosts must be DNS names/,
    );
    expect(
      () =>
        new ExternalService(chart, 'b', {
          mesh,
          hosts: ['x.org'],
          ports,
          resolution: ExternalResolution.STATIC,
        }),
    ).toThrow(/STATIC resolution needs endpoints/);
    expect(() => new ExternalService(chart, 'c', { mesh, hosts: ['*.x.org'], ports })).toThrow(
      /DNS resolution cannot resolve wildcard hosts/,
    );
    expect(
      () =>
        new ExternalService(chart, 'd', {
          mesh,
          hosts: ['x.org'],
          ports: [{ number: 80, protocol: 'FTP' as ExternalProtocol }],
        }),
    ).toThrow(/protocol must be one of HTTP, HTTPS, HTTP2, GRPC, TLS, TCP, got "FTP"/);
  });
});

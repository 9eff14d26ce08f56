import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { ServiceEntrySpec } from '../lib/api/types.js';
import { ServiceEntry } from './istio/service-entry.js';
import type { Mesh } from './mesh.js';
import { checkDnsLabel, checkPort } from './private/validate-input.js';

/** Protocols of an external service's ports. */
export enum ExternalProtocol {
  HTTP = 'HTTP',
  HTTPS = 'HTTPS',
  HTTP2 = 'HTTP2',
  GRPC = 'GRPC',
  TLS = 'TLS',
  TCP = 'TCP',
}

/** How sidecars find the addresses of an external service. */
export enum ExternalResolution {
  /** Resolve the hosts with DNS. */
  DNS = 'DNS',
  /** Use the addresses of the listed endpoints. */
  STATIC = 'STATIC',
  /** Forward to the address the app connected to. */
  NONE = 'NONE',
}

/** A port of an external service. */
export interface ExternalPort {
  readonly number: number;
  readonly protocol: ExternalProtocol;
  /**
   * The port name.
   * @default - '<protocol>-<number>' in lower case
   */
  readonly name?: string;
}

/** Props of {@link ExternalService}. */
export interface ExternalServiceProps {
  /** The mesh. */
  readonly mesh: Mesh;
  /** The host names (`api.example.com`, `*.example.com`). */
  readonly hosts: string[];
  /** The ports. */
  readonly ports: ExternalPort[];
  /**
   * Address resolution.
   * @default ExternalResolution.DNS
   */
  readonly resolution?: ExternalResolution;
  /**
   * Endpoint addresses (for STATIC resolution).
   * @default - none
   */
  readonly endpoints?: string[];
  /**
   * The namespace of the ServiceEntry.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * The object name.
   * @default - the construct id
   */
  readonly name?: string;
}

/**
 * A service outside the mesh that workloads may call (a ServiceEntry). Needed when the mesh's
 * outbound policy is REGISTRY_ONLY.
 *
 * @example
 * new ExternalService(chart, 'httpbin-org', {
 *   mesh,
 *   hosts: ['httpbin.org'],
 *   ports: [{ number: 80, protocol: ExternalProtocol.HTTP }],
 * });
 */
export class ExternalService extends Construct {
  public readonly serviceEntry: ServiceEntry;

  public constructor(scope: Construct, id: string, props: ExternalServiceProps) {
    super(scope, id);
    const what = `external service '${props.name ?? id}'`;
    if (!props.hosts?.length) throw new Error(`${what}: hosts must list at least one host, got none`);
    for (const h of props.hosts) {
      if (!/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(h)) {
        throw new Error(`${what}: hosts must be DNS names (optionally '*.' first), got ${JSON.stringify(h)}`);
      }
    }
    if (!props.ports?.length) throw new Error(`${what}: ports must list at least one port, got none`);
    const resolution = props.resolution ?? ExternalResolution.DNS;
    if (resolution === ExternalResolution.STATIC && !props.endpoints?.length) {
      throw new Error(`${what}: STATIC resolution needs endpoints`);
    }
    if (resolution === ExternalResolution.DNS && props.hosts.some((h) => h.startsWith('*'))) {
      throw new Error(`${what}: DNS resolution cannot resolve wildcard hosts; use ExternalResolution.NONE`);
    }
    const spec: ServiceEntrySpec = {
      hosts: [...props.hosts],
      location: 'MESH_EXTERNAL',
      resolution,
      ports: props.ports.map((p) => {
        checkPort(`${what}: port`, p.number);
        if (!Object.values(ExternalProtocol).includes(p.protocol)) {
          throw new Error(
            `${what}: port ${p.number} protocol must be one of ${Object.values(ExternalProtocol).join(', ')}, got ${JSON.stringify(p.protocol)}`,
          );
        }
        return {
          number: p.number,
          protocol: p.protocol,
          name: p.name ?? `${p.protocol.toLowerCase()}-${p.number}`,
        };
      }),
    };
    if (props.endpoints?.length) spec.endpoints = props.endpoints.map((address) => ({ address }));
    props.mesh.addChart(Chart.of(this));
    this.serviceEntry = new ServiceEntry(this, 'Resource', {
      metadata: {
        name: checkDnsLabel(`${what}: name`, props.name ?? id),
        namespace: checkDnsLabel(
          `${what}: namespace`,
          props.namespace ?? Chart.of(this).namespace ?? 'default',
        ),
      },
      spec,
    });
  }
}

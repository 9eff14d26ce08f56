import { ApiObject, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ANNOTATIONS, LABELS, PORTS, TSMESH_VERSION } from '../lib/constants.js';
import { Gateway } from './istio/gateway.js';
import { VirtualService } from './istio/virtual-service.js';
import type { Mesh } from './mesh.js';
import { proxyContainer, proxyEnv, proxyVolumes } from './private/inject.js';
import { PROXY_RESOURCES, renderResources } from './private/resources.js';
import { checkDnsLabel, checkInteger, checkPort } from './private/validate-input.js';
import { type HttpRouteMatch, renderMatch } from './route-match.js';
import type { IMeshService, IPrincipal } from './service-base.js';

/** The label selecting ingress gateway workloads (Istio's). */
export const INGRESS_GATEWAY_SELECTOR = { istio: 'ingressgateway' } as const;

/** Props of {@link IngressGateway}. */
export interface IngressGatewayProps {
  /** The mesh. */
  readonly mesh: Mesh;
  /**
   * The gateway's name (Deployment, Service, ServiceAccount and Gateway).
   * @default 'tsmesh-ingressgateway' ('istio-ingressgateway' for the istio target)
   */
  readonly name?: string;
  /**
   * The namespace of the gateway workload and its Gateway object.
   * @default - the mesh's root namespace
   */
  readonly namespace?: string;
  /**
   * The port the gateway proxy listens on.
   * @default 8080
   */
  readonly port?: number;
  /**
   * The port of the gateway's Service.
   * @default 80
   */
  readonly servicePort?: number;
  /**
   * The hosts the gateway accepts.
   * @default ['*']
   */
  readonly hosts?: string[];
  /**
   * The Service type.
   * @default kplus.ServiceType.LOAD_BALANCER
   */
  readonly serviceType?: kplus.ServiceType;
  /**
   * Replicas of the gateway.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * CPU and memory of the gateway proxy.
   * @default - requests 100m CPU and 128Mi memory, limits 2 CPU and 1Gi memory
   */
  readonly resources?: kplus.ContainerResources;
}

/** Options of {@link IngressGateway.addRoute}. */
export interface GatewayRouteOptions {
  /** The service receiving the requests. */
  readonly service: IMeshService;
  /**
   * Requests must satisfy one of these matches.
   * @default - every request
   */
  readonly match?: HttpRouteMatch[];
  /**
   * The service port.
   * @default - the service's only port
   */
  readonly port?: number;
  /**
   * The VirtualService's name.
   * @default - the route's id
   */
  readonly name?: string;
}

/**
 * An ingress gateway: a Deployment running the same proxy in gateway mode (`proxy --gateway`),
 * its Service, and a Gateway object; `addRoute` binds services to it with a VirtualService.
 * With the istio target only the Gateway and VirtualServices are emitted (Istio's own
 * `istio-ingressgateway` serves them).
 *
 * @example
 * const gateway = new IngressGateway(chart, 'ingress', { mesh });
 * gateway.addRoute('bookinfo', {
 *   service: productpage,
 *   match: [{ path: PathMatch.exact('/productpage') }, { path: PathMatch.prefix('/api/v1/products') }],
 * });
 * productpage.allowFrom(gateway);
 */
export class IngressGateway extends Construct implements IPrincipal {
  public readonly gatewayName: string;
  public readonly namespace: string;
  public readonly serviceAccountName: string;
  public readonly gateway: Gateway;
  private readonly mesh: Mesh;

  public constructor(scope: Construct, id: string, props: IngressGatewayProps) {
    super(scope, id);
    const mesh = props.mesh;
    this.mesh = mesh;
    const what = `ingress gateway '${id}'`;
    this.gatewayName = checkDnsLabel(
      `${what}: name`,
      props.name ?? (mesh.bundled ? 'tsmesh-ingressgateway' : 'istio-ingressgateway'),
    );
    this.namespace = checkDnsLabel(`${what}: namespace`, props.namespace ?? mesh.rootNamespace);
    this.serviceAccountName = mesh.bundled ? this.gatewayName : `${this.gatewayName}-service-account`;
    const serviceTypes = [
      kplus.ServiceType.CLUSTER_IP,
      kplus.ServiceType.NODE_PORT,
      kplus.ServiceType.LOAD_BALANCER,
    ];
    if (props.serviceType !== undefined && !serviceTypes.includes(props.serviceType)) {
      throw new Error(
        `${what}: serviceType must be one of ${serviceTypes.join(', ')}, got ${JSON.stringify(props.serviceType)}`,
      );
    }
    const port = checkPort(`${what}: port`, props.port ?? 8080);
    const servicePort = checkPort(`${what}: servicePort`, props.servicePort ?? 80);
    const replicas = checkInteger(`${what}: replicas`, props.replicas ?? 1, 0, 100);
    const hosts = props.hosts ?? ['*'];
    mesh.addChart(Chart.of(this));

    this.gateway = new Gateway(this, 'Gateway', {
      metadata: { name: this.gatewayName, namespace: this.namespace },
      spec: {
        selector: { ...INGRESS_GATEWAY_SELECTOR },
        servers: [{ port: { number: port, name: 'http', protocol: 'HTTP' }, hosts: [...hosts] }],
      },
    });
    if (!mesh.bundled) return;

    mesh.addNamespace(this.namespace, true);
    mesh._claimServiceAccount(this.namespace, this.serviceAccountName, what);
    const labels = { [LABELS.app]: this.gatewayName, ...INGRESS_GATEWAY_SELECTOR };
    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: this.serviceAccountName, namespace: this.namespace, labels },
      automountServiceAccountToken: false,
    });
    const ports = [{ name: 'http2', containerPort: port, protocol: 'TCP' }];
    new ApiObject(this, 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: this.gatewayName, namespace: this.namespace, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            annotations: {
              [ANNOTATIONS.prometheusScrape]: 'true',
              [ANNOTATIONS.prometheusPort]: String(PORTS.stats),
              [ANNOTATIONS.prometheusPath]: '/stats/prometheus',
              [ANNOTATIONS.sidecarStatus]: JSON.stringify({ version: TSMESH_VERSION, gateway: true }),
            },
          },
          spec: {
            serviceAccountName: this.serviceAccountName,
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            terminationGracePeriodSeconds: 30,
            containers: [
              proxyContainer({
                image: mesh.image,
                args: ['proxy', '--gateway'],
                env: proxyEnv({
                  workload: this.gatewayName,
                  controlPlaneAddress: mesh.controlPlaneAddress,
                  trustDomain: mesh.trustDomain,
                  drainSeconds: mesh.drainSeconds,
                  logLevel: 'info',
                  labels,
                  ports,
                }),
                resources: renderResources(props.resources, PROXY_RESOURCES),
                extraPorts: ports,
              }),
            ],
            volumes: proxyVolumes(),
          },
        },
      },
    });
    new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: this.gatewayName, namespace: this.namespace, labels },
      spec: {
        type: props.serviceType ?? kplus.ServiceType.LOAD_BALANCER,
        selector: labels,
        ports: [
          { name: 'http2', port: servicePort, targetPort: port, protocol: 'TCP', appProtocol: 'http2' },
        ],
      },
    });
  }

  public get principals(): string[] {
    return [this.mesh.principal(this.namespace, this.serviceAccountName)];
  }

  /** Sends requests arriving at the gateway to a service, with a VirtualService bound to the Gateway. */
  public addRoute(id: string, options: GatewayRouteOptions): VirtualService {
    const name = checkDnsLabel(`ingress gateway route '${id}': name`, options.name ?? id);
    const what = `ingress gateway route '${name}'`;
    const match = options.match?.map((m, i) => renderMatch(`${what}: match[${i}]`, m));
    const destination: { host: string; port?: { number: number } } = { host: options.service.host };
    if (options.port !== undefined) destination.port = { number: checkPort(`${what}: port`, options.port) };
    this.mesh.addChart(Chart.of(this));
    return new VirtualService(this, `Route-${id}`, {
      metadata: { name, namespace: options.service.namespace },
      spec: {
        hosts: ['*'],
        gateways: [`${this.namespace}/${this.gatewayName}`],
        http: [{ name, ...(match ? { match } : {}), route: [{ destination }] }],
      },
    });
  }
}

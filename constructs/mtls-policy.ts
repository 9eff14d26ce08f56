import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import type { PeerAuthenticationSpec } from '../lib/api/types.js';
import { LABELS } from '../lib/constants.js';
import { PeerAuthentication } from './istio/peer-authentication.js';
import type { Mesh } from './mesh.js';
import { MtlsMode } from './mtls-mode.js';
import { checkDnsLabel, checkPort } from './private/validate-input.js';
import type { IMeshService } from './service-base.js';

/** Props of {@link MtlsPolicy}. */
export interface MtlsPolicyProps {
  /** The mesh. */
  readonly mesh: Mesh;
  /** The mode. */
  readonly mode: MtlsMode;
  /**
   * Limit the policy to one namespace.
   * @default - mesh-wide (the root namespace), unless `service` is set
   */
  readonly namespace?: string;
  /**
   * Limit the policy to the workloads of one service (and its namespace).
   * @default - every workload of the namespace or mesh
   */
  readonly service?: IMeshService;
  /**
   * Limit a workload policy further to one version.
   * @default - every version
   */
  readonly version?: string;
  /**
   * Per container port modes (only for a workload policy).
   * @default - none
   */
  readonly portLevel?: Record<number, MtlsMode>;
  /**
   * The PeerAuthentication name.
   * @default 'default' for mesh and namespace policies, the service name for workload policies
   */
  readonly name?: string;
}

/**
 * Which connections a workload accepts: mesh mTLS only (STRICT), mTLS or plaintext
 * (PERMISSIVE), plaintext only (DISABLE). Mesh-wide, per namespace, per workload or per port;
 * the most specific policy wins.
 *
 * @example
 * new MtlsPolicy(chart, 'foo-strict', { mesh, namespace: 'foo', mode: MtlsMode.STRICT });
 * new MtlsPolicy(chart, 'ratings-port', {
 *   mesh, service: ratings, mode: MtlsMode.STRICT, portLevel: { 9080: MtlsMode.PERMISSIVE },
 * });
 */
export class MtlsPolicy extends Construct {
  public readonly peerAuthentication: PeerAuthentication;

  public constructor(scope: Construct, id: string, props: MtlsPolicyProps) {
    super(scope, id);
    const what = `mtls policy '${id}'`;
    const modes = Object.values(MtlsMode);
    const checkMode = (field: string, m: MtlsMode) => {
      if (!modes.includes(m))
        throw new Error(`${what}: ${field} must be one of ${modes.join(', ')}, got ${JSON.stringify(m)}`);
    };
    checkMode('mode', props.mode);
    if (props.service && props.namespace && props.namespace !== props.service.namespace) {
      throw new Error(
        `${what}: namespace '${props.namespace}' differs from the service's namespace '${props.service.namespace}'; set one of them`,
      );
    }
    if (props.version && !props.service) throw new Error(`${what}: version needs a service`);
    if (props.portLevel && !props.service) {
      throw new Error(`${what}: portLevel applies only with a workload selector; set service`);
    }
    const namespace = props.service?.namespace ?? props.namespace ?? props.mesh.rootNamespace;
    checkDnsLabel(`${what}: namespace`, namespace);
    const spec: PeerAuthenticationSpec = { mtls: { mode: props.mode } };
    let selector: Record<string, string> | undefined;
    if (props.service) {
      selector = { [LABELS.app]: props.service.serviceName };
      if (props.version) {
        if (props.service.versions.length > 0 && !props.service.versions.includes(props.version)) {
          throw new Error(
            `${what}: version must be a version of ${props.service.serviceName} (${props.service.versions.join(', ')}), got ${JSON.stringify(props.version)}`,
          );
        }
        selector[LABELS.version] = props.version;
      }
      spec.selector = { matchLabels: selector };
    }
    if (props.portLevel) {
      spec.portLevelMtls = {};
      for (const [port, mode] of Object.entries(props.portLevel)) {
        checkPort(`${what}: portLevel port`, Number(port));
        checkMode(`portLevel[${port}]`, mode);
        spec.portLevelMtls[port] = { mode };
      }
    }
    // A policy without selector in the root namespace is the mesh-wide one, however it is written.
    const meshWide = !props.service && (!props.namespace || props.namespace === props.mesh.rootNamespace);
    props.mesh._addMtlsRule({ namespace: meshWide ? undefined : namespace, selector, mode: props.mode });
    props.mesh.addChart(Chart.of(this));
    const name = props.name ?? (props.service ? props.service.serviceName : 'default');
    this.peerAuthentication = new PeerAuthentication(this, 'Resource', {
      metadata: { name: checkDnsLabel(`${what}: name`, name), namespace },
      spec,
    });
  }
}

import { ApiObject, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { ANNOTATIONS, LABELS } from '../lib/constants.js';
import { Mesh } from './mesh.js';
import { addRenderHook } from './private/render-hooks.js';
import { APP_RESOURCES, renderResources } from './private/resources.js';
import { checkDnsLabel, checkInteger } from './private/validate-input.js';
import { ServiceBase } from './service-base.js';
import type { ServicePort } from './service-port.js';
import { Sidecar } from './sidecar.js';
import type { SidecarOptions } from './sidecar-options.js';
import type { WorkloadOptions } from './workload-options.js';

const INJECT_LABEL = 'sidecar.istio.io/inject';

/** Props of {@link MeshService}. */
export interface MeshServiceProps {
  /** The mesh the service belongs to. */
  readonly mesh: Mesh;
  /**
   * The Service name (a DNS label).
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * The namespace.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * The service account, which is the service's mesh identity.
   * @default - the service name
   */
  readonly serviceAccountName?: string;
  /** The ports, with their protocols. */
  readonly ports: ServicePort[];
  /**
   * Defaults for every version's workload.
   * @default - none
   */
  readonly workload?: WorkloadOptions;
  /**
   * Versions to create now (more with `addVersion`), by version label.
   * @default - none
   */
  readonly versions?: Record<string, WorkloadOptions>;
  /**
   * Run the workloads with the mesh sidecar.
   * @default true
   */
  readonly meshed?: boolean;
  /**
   * Sidecar settings for this service's workloads (over the mesh's defaults).
   * @default - the mesh's sidecar defaults
   */
  readonly sidecar?: SidecarOptions;
  /**
   * Accept several versions, or routes, without a route that takes every remaining request.
   * With no route at all, requests spread over every version (Istio's starting point).
   * @default false
   */
  readonly allowUnrouted?: boolean;
}

/** Options of {@link MeshService.fromName}. */
export interface MeshServiceReferenceOptions {
  /**
   * The mesh.
   * @default - the one Mesh of the app
   */
  readonly mesh?: Mesh;
  /**
   * The namespace.
   * @default - the chart's namespace, else 'default'
   */
  readonly namespace?: string;
  /**
   * The service account.
   * @default - the service name
   */
  readonly serviceAccountName?: string;
  /**
   * Its versions, checked when routes name them.
   * @default - not checked
   */
  readonly versions?: string[];
}

/**
 * A service of the mesh: its ServiceAccount (the identity), its Service with explicit ports and
 * protocols, and one Deployment per version (`<name>-<version>`, labels `app` and `version`,
 * built with cdk8s-plus) carrying the sidecar and the local command `tsmesh up` runs.
 *
 * @example
 * const reviews = new MeshService(chart, 'reviews', {
 *   mesh,
 *   serviceAccountName: 'bookinfo-reviews',
 *   ports: [ServicePort.http(9080)],
 *   workload: { image: 'docker.io/istio/examples-bookinfo-reviews-v1:1.20.3' },
 * });
 * reviews.addVersion('v1', { localCommand: ['node', 'build/examples/bookinfo/apps/reviews.js'] });
 * reviews.allowFrom(productpage, { methods: ['GET'] });
 */
export class MeshService extends ServiceBase {
  /** A service defined elsewhere (another program, or plain YAML), referenced by name. */
  public static fromName(
    scope: Construct,
    id: string,
    name: string,
    options: MeshServiceReferenceOptions = {},
  ): ServiceBase {
    return new ServiceReference(scope, id, name, options);
  }

  public readonly mesh: Mesh;
  public readonly serviceName: string;
  public readonly namespace: string;
  public readonly serviceAccountName: string;
  public readonly ports: readonly ServicePort[];
  /** Whether the workloads carry the sidecar. */
  public readonly meshed: boolean;
  /** The Deployments, by version. */
  public readonly deployments: Record<string, kplus.Deployment> = {};
  protected readonly knowsVersions = true;
  private readonly props: MeshServiceProps;
  private readonly serviceAccount: kplus.IServiceAccount;

  public constructor(scope: Construct, id: string, props: MeshServiceProps) {
    super(scope, id);
    this.props = props;
    this.mesh = props.mesh;
    this.serviceName = checkDnsLabel(`meshservice '${id}': name`, props.name ?? id);
    this.namespace = checkDnsLabel(
      `meshservice '${this.serviceName}': namespace`,
      props.namespace ?? Chart.of(this).namespace ?? 'default',
    );
    this.serviceAccountName = checkDnsLabel(
      `${this.describe}: serviceAccountName`,
      props.serviceAccountName ?? this.serviceName,
    );
    this.meshed = props.meshed ?? true;
    this.ports = this.checkPorts(props.ports);
    this.mesh.addChart(Chart.of(this));
    this.mesh.addNamespace(this.namespace, this.meshed);
    this.mesh._claimServiceAccount(this.namespace, this.serviceAccountName, this.describe);

    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: this.serviceAccountName,
        namespace: this.namespace,
        labels: { account: this.serviceName },
      },
      automountServiceAccountToken: false,
    });
    this.serviceAccount = kplus.ServiceAccount.fromServiceAccountName(
      this,
      'Identity',
      this.serviceAccountName,
    );
    new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: this.serviceName,
        namespace: this.namespace,
        labels: { [LABELS.app]: this.serviceName, service: this.serviceName },
      },
      spec: {
        selector: { [LABELS.app]: this.serviceName },
        ports: this.ports.map((p, i) => ({
          name: this.portName(i),
          port: p.port,
          targetPort: p.targetPort,
          protocol: 'TCP',
          appProtocol: p.protocol,
        })),
      },
    });
    for (const [version, options] of Object.entries(props.versions ?? {})) this.addVersion(version, options);

    this.node.addValidation({ validate: () => this.validateRouting() });
  }

  /** Adds a version: a Deployment `<name>-<version>` with labels app and version. */
  public addVersion(version: string, options: WorkloadOptions = {}): kplus.Deployment {
    checkDnsLabel(`${this.describe}: version`, version);
    if (this.versionList.includes(version)) {
      throw new Error(`${this.describe}: version '${version}' is already declared; each version once`);
    }
    const defaults = this.props.workload ?? {};
    const o: WorkloadOptions = { ...defaults, ...options, env: { ...defaults.env, ...options.env } };
    if (!o.image) {
      throw new Error(
        `${this.describe}: version '${version}' has no image; set workload.image or the version's image`,
      );
    }
    const deploymentName = checkDnsLabel(
      `${this.describe}: version '${version}' deploymentName`,
      o.deploymentName ?? `${this.serviceName}-${version}`,
    );
    const replicas = checkInteger(
      `${this.describe}: version '${version}' replicas`,
      o.replicas ?? 1,
      0,
      1000,
    );
    const user = checkInteger(`${this.describe}: version '${version}' user`, o.user ?? 1000, 1, 2 ** 31 - 1);
    if (user === 1337) {
      throw new Error(
        `${this.describe}: version '${version}' user must not be 1337, the sidecar's uid (its traffic is never captured)`,
      );
    }
    const labels: Record<string, string> = { [LABELS.app]: this.serviceName, [LABELS.version]: version };
    const env: Record<string, kplus.EnvValue> = {
      PORT: kplus.EnvValue.fromValue(String(this.ports[0].targetPort)),
    };
    for (const [k, v] of Object.entries(o.env ?? {})) env[k] = kplus.EnvValue.fromValue(v);
    const annotations: Record<string, string> = {};
    if (o.localCommand) {
      if (o.localCommand.length === 0 || o.localCommand.some((a) => typeof a !== 'string' || a === '')) {
        throw new Error(
          `${this.describe}: version '${version}' localCommand must be a non-empty argv of non-empty strings, got ${JSON.stringify(o.localCommand)}`,
        );
      }
      annotations[ANNOTATIONS.localCommand] = JSON.stringify({ [this.serviceName]: o.localCommand });
    }

    const deployment = new kplus.Deployment(this, `Deployment-${version}`, {
      metadata: { name: deploymentName, namespace: this.namespace, labels },
      select: false,
      replicas,
      serviceAccount: this.serviceAccount,
      automountServiceAccountToken: false,
      // An unmeshed pod says so the way Istio reads it, for both targets and for lib/'s registry.
      podMetadata: { labels: this.meshed ? labels : { ...labels, [INJECT_LABEL]: 'false' }, annotations },
      securityContext: { ensureNonRoot: true, user, group: user, fsGroup: user },
      containers: [
        {
          name: this.serviceName,
          image: o.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          command: o.command,
          args: o.args,
          ports: this.ports.map((p, i) => ({ number: p.targetPort, name: this.portName(i) })),
          envVariables: env,
          resources: o.resources,
          readiness: o.readiness,
          liveness: o.liveness,
          securityContext: {
            ensureNonRoot: true,
            user,
            group: user,
            readOnlyRootFilesystem: o.readOnlyRootFilesystem ?? true,
            allowPrivilegeEscalation: false,
            privileged: false,
          },
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels }));
    // cdk8s-plus labels pods with a hash of the construct path; selection is by app/version here.
    addRenderHook(ApiObject.of(deployment), (json) => {
      delete json.spec?.template?.metadata?.labels?.['cdk8s.io/metadata.addr'];
      // Rendered explicitly so snapshots do not depend on cdk8s-plus defaults.
      const container = json.spec?.template?.spec?.containers?.[0];
      if (container) container.resources = renderResources(o.resources, APP_RESOURCES);
      return json;
    });
    if (this.meshed) {
      new Sidecar(this, `Sidecar-${version}`, {
        ...this.props.sidecar,
        mesh: this.mesh,
        workload: deployment,
      });
    }
    this.versionList.push(version);
    this.deployments[version] = deployment;
    if (this.versionList.length > 1) this.ensureDestinationRule();
    return deployment;
  }

  private portName(index: number): string {
    const p = this.ports[index];
    if (p.name) return p.name;
    const same = this.ports.filter((q) => q.protocol === p.protocol).length;
    return same > 1 ? `${p.protocol}-${p.port}` : p.protocol;
  }

  private checkPorts(ports: ServicePort[]): ServicePort[] {
    if (!Array.isArray(ports) || ports.length === 0) {
      throw new Error(`${this.describe}: ports must list at least one port, got ${JSON.stringify(ports)}`);
    }
    const seen = new Set<number>();
    for (const p of ports) {
      if (seen.has(p.port)) throw new Error(`${this.describe}: port ${p.port} is declared twice`);
      seen.add(p.port);
    }
    return [...ports];
  }

  private validateRouting(): string[] {
    const errors = this.routes.unreachable();
    if (this.props.allowUnrouted) return errors;
    if (this.routes.size > 0 && !this.routes.hasCatchAll) {
      errors.push(
        `${this.describe}: every route has a match, so other requests get 404 (no route); add a route without match (an HttpRoute or CanaryRoute) or set allowUnrouted`,
      );
    } else if (this.routes.size === 0 && this.versionList.length > 1) {
      errors.push(
        `${this.describe}: has versions ${this.versionList.join(', ')} and no default route; add a route (a CanaryRoute or an HttpRoute without match) or set allowUnrouted to spread requests over every version`,
      );
    }
    return errors;
  }
}

/** A service referenced by name; routes and policies for it are emitted here. */
class ServiceReference extends ServiceBase {
  public readonly mesh: Mesh;
  public readonly serviceName: string;
  public readonly namespace: string;
  public readonly serviceAccountName: string;
  protected readonly knowsVersions: boolean;

  public constructor(scope: Construct, id: string, name: string, options: MeshServiceReferenceOptions) {
    super(scope, id);
    this.mesh = options.mesh ?? Mesh.of(scope);
    this.serviceName = checkDnsLabel(`meshservice reference '${id}': name`, name);
    this.namespace = checkDnsLabel(
      `${this.describe}: namespace`,
      options.namespace ?? Chart.of(this).namespace ?? 'default',
    );
    this.serviceAccountName = checkDnsLabel(
      `${this.describe}: serviceAccountName`,
      options.serviceAccountName ?? name,
    );
    this.knowsVersions = options.versions !== undefined;
    for (const v of options.versions ?? [])
      this.versionList.push(checkDnsLabel(`${this.describe}: versions`, v));
    this.mesh.addChart(Chart.of(this));
  }
}

import { ApiObject, Chart, Duration } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-28';
import { Construct, type IConstruct } from 'constructs';
import { analyze } from '../lib/analyze.js';
import { formatDiagnostic } from '../lib/api/diagnostics.js';
import { type MeshConfigSpec, type MeshObject, objectRef } from '../lib/api/types.js';
import {
  CONTROL_PLANE_NAME,
  DEFAULT_ROOT_NAMESPACE,
  DEFAULT_TRUST_DOMAIN,
  ISTIO_ROOT_NAMESPACE,
  LABELS,
  MESH_CONFIG_API_VERSION,
  MESH_CONFIG_KIND,
  PORTS,
  ROOT_CERT_CONFIG_MAP_NAME,
  TSMESH_IMAGE,
  TSMESH_IMAGE_TAG,
} from '../lib/constants.js';
import { PeerAuthentication } from './istio/peer-authentication.js';
import { Sidecar as IstioSidecar } from './istio/sidecar.js';
import { MeshTarget, OutboundTrafficPolicy, PathNormalization } from './mesh-options.js';
import { MtlsMode } from './mtls-mode.js';
import { ConfigMaps } from './private/config-maps.js';
import { ControlPlane } from './private/control-plane.js';
import { checkTrustBundle } from './private/trust-bundle.js';
import { checkDnsLabel, checkDnsSubdomain, checkPercent, renderDuration } from './private/validate-input.js';
import type { RetryPolicy } from './retry-policy.js';
import type { SidecarOptions } from './sidecar-options.js';

/** Sizing of the control plane Deployment. */
export interface ControlPlaneOptions {
  /**
   * Replicas of the control plane.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * CPU and memory of the control plane container.
   * @default - requests 100m CPU and 128Mi memory, limits 1 CPU and 512Mi memory
   */
  readonly resources?: kplus.ContainerResources;
}

/** Props of {@link Mesh}. */
export interface MeshProps {
  /**
   * Where the manifests run.
   * @default MeshTarget.BUNDLED
   */
  readonly target?: MeshTarget;
  /**
   * The mesh's root certificates (PEM, one or more; the output of `tsmesh ca init`). Public: it
   * is emitted as ConfigMap `tsmesh-root-cert` into every meshed namespace. A private key is refused.
   * @default - none; required for the bundled target
   */
  readonly trustBundle?: string;
  /**
   * The control plane's namespace, which is also the mesh root namespace.
   * @default 'tsmesh-system' ('istio-system' for the istio target)
   */
  readonly rootNamespace?: string;
  /**
   * The SPIFFE trust domain of every workload identity.
   * @default 'cluster.local'
   */
  readonly trustDomain?: string;
  /**
   * Mesh-wide mTLS mode (emits the mesh-wide PeerAuthentication in the root namespace).
   * @default - no mesh-wide policy (PERMISSIVE)
   */
  readonly mtls?: MtlsMode;
  /**
   * Retry policy of routes that set none.
   * @default - 2 retries on connect-failure, refused-stream, unavailable, cancelled
   */
  readonly defaultRetryPolicy?: RetryPolicy;
  /**
   * Timeout of routes that set none.
   * @default - no timeout
   */
  readonly defaultTimeout?: Duration;
  /**
   * Whether sidecars write access logs.
   * @default true
   */
  readonly accessLogging?: boolean;
  /**
   * Percentage (0..100) of new traces that are sampled.
   * @default 1
   */
  readonly traceSampling?: number;
  /**
   * Path normalization at every listener.
   * @default PathNormalization.BASE
   */
  readonly pathNormalization?: PathNormalization;
  /**
   * What sidecars do with requests for hosts outside the mesh.
   * @default OutboundTrafficPolicy.ALLOW_ANY
   */
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy;
  /**
   * Lifetime of workload certificates.
   * @default Duration.hours(24)
   */
  readonly certificateTtl?: Duration;
  /**
   * How long a sidecar drains on shutdown.
   * @default Duration.seconds(5)
   */
  readonly drainDuration?: Duration;
  /**
   * The image of the bundled runtime (control plane, sidecar, gateway).
   * @default 'ghcr.io/tsmesh/tsmesh:<tsmesh version>'
   */
  readonly image?: string;
  /**
   * Control plane sizing.
   * @default - one replica with the default resources
   */
  readonly controlPlane?: ControlPlaneOptions;
  /**
   * Defaults of every injected sidecar.
   * @default - see SidecarOptions
   */
  readonly sidecarDefaults?: SidecarOptions;
}

interface NamespaceState {
  meshed: boolean;
  object?: ApiObject;
}

interface MtlsRule {
  readonly namespace?: string;
  readonly selector?: Record<string, string>;
  readonly mode: MtlsMode;
}

/**
 * A service mesh: the control plane, its configuration, the trust bundle and the mesh-wide
 * defaults. Every other construct belongs to one mesh.
 *
 * With the bundled target it emits the control plane (Deployment, Service, ServiceAccount,
 * TokenReview RBAC, PodDisruptionBudget), ConfigMap `tsmesh-config` with the mesh's objects and
 * ConfigMap `tsmesh-root-cert` in every meshed namespace. With `target: MeshTarget.ISTIO` it
 * emits only the Istio objects and namespace labels for an Istio installation.
 *
 * @example
 * const mesh = new Mesh(chart, 'mesh', {
 *   trustBundle: fs.readFileSync('root-cert.pem', 'utf8'),
 *   mtls: MtlsMode.STRICT,
 * });
 */
export class Mesh extends Construct {
  /** Finds the one Mesh of `scope`'s chart, else the one Mesh of the app. */
  public static of(scope: IConstruct): Mesh {
    const find = (root: IConstruct) => root.node.findAll().filter((c): c is Mesh => c instanceof Mesh);
    const inChart = find(Chart.of(scope));
    if (inChart.length === 1) return inChart[0];
    const meshes = find(scope.node.root);
    if (meshes.length !== 1) {
      throw new Error(
        `mesh: expected exactly one Mesh in the app to attach '${scope.node.path}' to, found ${meshes.length}; pass the mesh explicitly`,
      );
    }
    return meshes[0];
  }

  public readonly target: MeshTarget;
  public readonly rootNamespace: string;
  public readonly trustDomain: string;
  public readonly image: string;
  public readonly mtls?: MtlsMode;
  public readonly trustBundle?: string;
  public readonly sidecarDefaults: SidecarOptions;
  /** `host:port` of the control plane's discovery port. */
  public readonly controlPlaneAddress: string;
  /** The drain duration in whole seconds. */
  public readonly drainSeconds: number;

  private readonly props: MeshProps;
  private readonly charts = new Set<Chart>();
  private readonly namespaces = new Map<string, NamespaceState>();
  private readonly mtlsRules: MtlsRule[] = [];
  private readonly serviceAccounts = new Map<string, string>();
  private readonly configMaps?: ConfigMaps;
  private readonly controlPlaneConstruct?: ControlPlane;

  public constructor(scope: Construct, id: string, props: MeshProps = {}) {
    super(scope, id);
    this.props = props;
    this.target = props.target ?? MeshTarget.BUNDLED;
    if (!Object.values(MeshTarget).includes(this.target)) {
      throw new Error(
        `mesh '${id}': target must be one of bundled, istio, got ${JSON.stringify(this.target)}`,
      );
    }
    const bundled = this.target === MeshTarget.BUNDLED;
    this.rootNamespace = checkDnsLabel(
      `mesh '${id}': rootNamespace`,
      props.rootNamespace ?? (bundled ? DEFAULT_ROOT_NAMESPACE : ISTIO_ROOT_NAMESPACE),
    );
    this.trustDomain = checkDnsSubdomain(
      `mesh '${id}': trustDomain`,
      props.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    );
    this.image = props.image ?? `${TSMESH_IMAGE}:${TSMESH_IMAGE_TAG}`;
    this.mtls = props.mtls;
    this.sidecarDefaults = props.sidecarDefaults ?? {};
    this.controlPlaneAddress = `${CONTROL_PLANE_NAME}.${this.rootNamespace}.svc:${PORTS.controlPlane}`;
    if (props.traceSampling !== undefined) checkPercent(`mesh '${id}': traceSampling`, props.traceSampling);
    const drainMs = props.drainDuration?.toMilliseconds() ?? 5000;
    if (drainMs < 1000 || drainMs % 1000 !== 0) {
      throw new Error(
        `mesh '${id}': drainDuration must be a whole number of seconds, at least 1s, got ${drainMs}ms`,
      );
    }
    this.drainSeconds = drainMs / 1000;
    if (props.trustBundle !== undefined) {
      this.trustBundle = checkTrustBundle(id, props.trustBundle);
    } else if (bundled) {
      this.node.addValidation({
        validate: () => [
          `mesh '${id}': trustBundle is required for the bundled target (the PEM printed by 'tsmesh ca init')`,
        ],
      });
    }
    this.charts.add(Chart.of(this));
    this.node.addValidation({ validate: () => this.analyzeObjects() });

    if (props.mtls !== undefined) {
      if (!Object.values(MtlsMode).includes(props.mtls)) {
        throw new Error(
          `mesh '${id}': mtls must be one of ${Object.values(MtlsMode).join(', ')}, got ${JSON.stringify(props.mtls)}`,
        );
      }
      new PeerAuthentication(this, 'MeshWideMtls', {
        metadata: { name: 'default', namespace: this.rootNamespace },
        spec: { mtls: { mode: props.mtls } },
      });
      this.mtlsRules.push({ mode: props.mtls });
    }

    if (!bundled) {
      const installLevel = (
        [
          'defaultRetryPolicy',
          'defaultTimeout',
          'accessLogging',
          'traceSampling',
          'pathNormalization',
          'certificateTtl',
          'drainDuration',
          'controlPlane',
          'image',
        ] as const
      ).filter((k) => props[k] !== undefined);
      if (installLevel.length > 0) {
        throw new Error(
          `mesh '${id}': ${installLevel.join(', ')} ${installLevel.length > 1 ? 'are settings' : 'is a setting'} of the bundled runtime; with the istio target set ${installLevel.length > 1 ? 'them' : 'it'} in Istio's installation (meshConfig), or leave ${installLevel.length > 1 ? 'them' : 'it'} unset`,
        );
      }
    }
    if (!bundled && props.outboundTrafficPolicy !== undefined) {
      // Istio sets the outbound policy in its installation's meshConfig; a root-namespace Sidecar
      // without selector carries it for every namespace that has no Sidecar of its own.
      new IstioSidecar(this, 'OutboundPolicy', {
        metadata: { name: 'default', namespace: this.rootNamespace },
        spec: { outboundTrafficPolicy: { mode: props.outboundTrafficPolicy } },
      });
    }

    if (bundled) {
      this.addNamespace(this.rootNamespace, true);
      this.controlPlaneConstruct = new ControlPlane(this, 'ControlPlane', {
        namespace: this.rootNamespace,
        image: this.image,
        replicas: props.controlPlane?.replicas,
        resources: props.controlPlane?.resources,
        configMapNames: () => this.configMaps?.names() ?? [],
      });
      this.configMaps = new ConfigMaps(this, 'Config', {
        namespace: this.rootNamespace,
        meshConfig: () => this.meshConfigDocument(),
        objects: () => this.configObjects(),
      });
    }
  }

  /** True when the manifests run on tsmesh's own runtime. */
  public get bundled(): boolean {
    return this.target === MeshTarget.BUNDLED;
  }

  /** The principal of a service account, as AuthorizationPolicy writes it. */
  public principal(namespace: string, serviceAccount: string): string {
    return `${this.trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  }

  /**
   * Declares that the mesh spans `chart`: its objects go into the mesh's configuration.
   * Constructs of the mesh call this for their own chart.
   */
  public addChart(chart: Chart): void {
    this.charts.add(chart);
  }

  /**
   * Declares a namespace of the mesh. A meshed namespace gets the trust bundle ConfigMap (bundled
   * target) or the `istio-injection: enabled` label (istio target); any other namespace than
   * `default` also gets a Namespace object.
   */
  public addNamespace(namespace: string, meshed: boolean): void {
    checkDnsLabel(`mesh '${this.node.id}': namespace`, namespace);
    let state = this.namespaces.get(namespace);
    if (!state) {
      state = { meshed: false };
      this.namespaces.set(namespace, state);
      const emitNamespace = this.bundled
        ? namespace !== 'default'
        : namespace !== this.rootNamespace && namespace !== 'kube-system';
      if (emitNamespace) {
        state.object = new ApiObject(this, `Namespace-${namespace}`, {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: namespace },
        });
      }
    }
    if (meshed && !state.meshed) {
      state.meshed = true;
      if (this.bundled) {
        new ApiObject(this, `RootCert-${namespace}`, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ROOT_CERT_CONFIG_MAP_NAME, namespace },
          data: { 'root-cert.pem': this.trustBundle ?? '' },
        });
      } else {
        state.object?.metadata.addLabel(LABELS.injection, 'enabled');
      }
    }
  }

  /** Whether `namespace` has meshed workloads. */
  public isMeshedNamespace(namespace: string): boolean {
    return this.namespaces.get(namespace)?.meshed ?? false;
  }

  /** @internal one service account is the identity of one service only. */
  public _claimServiceAccount(namespace: string, serviceAccount: string, owner: string): void {
    const key = `${namespace}/${serviceAccount}`;
    const other = this.serviceAccounts.get(key);
    if (other) {
      throw new Error(
        `${owner}: service account '${serviceAccount}' in namespace '${namespace}' is already the identity of ${other}; give each service its own service account`,
      );
    }
    this.serviceAccounts.set(key, owner);
  }

  /** @internal records a PeerAuthentication emitted by a construct, for probe rewriting. */
  public _addMtlsRule(rule: MtlsRule): void {
    if (!rule.namespace && !rule.selector && this.mtlsRules.some((r) => !r.namespace && !r.selector)) {
      throw new Error(
        `mesh '${this.node.id}': a mesh-wide mTLS mode is already set; set it once (Mesh prop mtls or one MtlsPolicy)`,
      );
    }
    this.mtlsRules.push(rule);
  }

  /**
   * The mTLS mode of a workload from the policies the constructs emitted (workload policy over
   * namespace policy over mesh policy; PERMISSIVE when none).
   */
  public mtlsModeFor(namespace: string, labels: Record<string, string>): MtlsMode {
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
    const pick = (rules: MtlsRule[]) => rules.find((r) => r.mode !== MtlsMode.UNSET)?.mode;
    return (
      pick(this.mtlsRules.filter((r) => r.namespace === namespace && r.selector && matches(r.selector))) ??
      pick(this.mtlsRules.filter((r) => r.namespace === namespace && !r.selector)) ??
      pick(this.mtlsRules.filter((r) => !r.namespace && !r.selector)) ??
      MtlsMode.PERMISSIVE
    );
  }

  /** The MeshConfig document stored under `mesh.yaml`. */
  public meshConfigDocument(): Record<string, unknown> {
    const p = this.props;
    const spec: MeshConfigSpec = {
      trustDomain: this.trustDomain,
      rootNamespace: this.rootNamespace,
      outboundTrafficPolicy: { mode: p.outboundTrafficPolicy ?? OutboundTrafficPolicy.ALLOW_ANY },
      pathNormalization: p.pathNormalization ?? PathNormalization.BASE,
      accessLogging: p.accessLogging ?? true,
      traceSampling: p.traceSampling ?? 1,
      certificateTtl: renderDuration(
        `mesh '${this.node.id}': certificateTtl`,
        p.certificateTtl ?? Duration.hours(24),
      ),
      drainDuration: `${this.drainSeconds}s`,
    };
    if (p.defaultRetryPolicy) spec.defaultHttpRetryPolicy = p.defaultRetryPolicy._render();
    if (p.defaultTimeout)
      spec.defaultTimeout = renderDuration(`mesh '${this.node.id}': defaultTimeout`, p.defaultTimeout);
    return {
      apiVersion: MESH_CONFIG_API_VERSION,
      kind: MESH_CONFIG_KIND,
      metadata: { name: 'mesh', namespace: this.rootNamespace },
      spec,
    };
  }

  /**
   * Checks the rendered objects with lib/'s analyzer, the one `tsmesh analyze` runs: field
   * validation, references to hosts and subsets, conflicting VirtualServices, subsets that
   * select no workload. For the bundled target, Istio features it does not implement are errors.
   */
  public analyzeObjects(): string[] {
    let rendered: { object: Record<string, any>; path: string }[];
    try {
      rendered = this.renderConfigObjects();
    } catch (err) {
      return [(err as Error).message];
    }
    const paths = new Map(rendered.map((r) => [objectRef(r.object as MeshObject), r.path]));
    const loaded = [this.meshConfigDocument(), ...rendered.map((r) => r.object)].map((object) => ({
      object: object as MeshObject,
    }));
    const diagnostics = analyze(loaded, {
      target: this.target,
      rootNamespace: this.rootNamespace,
      unsupported: this.bundled ? 'error' : 'warning',
    });
    return diagnostics
      .filter((d) => d.severity === 'error')
      .map((d) => {
        const path = d.object ? paths.get(d.object) : undefined;
        return `mesh analysis: ${formatDiagnostic(d)}${path ? ` (construct ${path})` : ''}`;
      });
  }

  /** Every object of the mesh's charts that the control plane reads, rendered. */
  public configObjects(): Record<string, any>[] {
    return this.renderConfigObjects().map((r) => r.object);
  }

  private renderConfigObjects(): { object: Record<string, any>; path: string }[] {
    const skip = new Set<IConstruct>(this.controlPlaneConstruct?.node.findAll() ?? []);
    for (const c of this.configMaps?.node.findAll() ?? []) skip.add(c);
    const out: { object: Record<string, any>; path: string }[] = [];
    for (const chart of this.charts) {
      for (const c of chart.node.findAll()) {
        if (!(c instanceof ApiObject) || skip.has(c) || Chart.of(c) !== chart) continue;
        if (!CONFIG_KINDS.has(c.kind)) continue;
        out.push({ object: c.toJson(), path: c.node.path });
      }
    }
    return out;
  }
}

const CONFIG_KINDS = new Set([
  'Service',
  'ServiceAccount',
  'Deployment',
  'VirtualService',
  'DestinationRule',
  'Gateway',
  'ServiceEntry',
  'Sidecar',
  'PeerAuthentication',
  'AuthorizationPolicy',
]);

import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { parseDuration } from '../lib/api/duration.js';
import type { AuthzRule, HTTPRoute, Subset, TrafficPolicy } from '../lib/api/types.js';
import { LABELS } from '../lib/constants.js';
import { AuthorizationPolicy as L1AuthorizationPolicy } from './istio/authorization-policy.js';
import { DestinationRule } from './istio/destination-rule.js';
import { VirtualService } from './istio/virtual-service.js';
import type { Mesh } from './mesh.js';
import { type RouteEntry, RouteTable } from './private/route-table.js';
import { checkPort, compact } from './private/validate-input.js';

/** Something that calls services under a mesh identity (a service, a gateway). */
export interface IPrincipal {
  /** The identities, as AuthorizationPolicy principals (`cluster.local/ns/default/sa/reviews`). */
  readonly principals: string[];
}

/** A service of the mesh, owned by this program or referenced by name. */
export interface IMeshService extends IPrincipal {
  readonly mesh: Mesh;
  /** The Kubernetes Service name. */
  readonly serviceName: string;
  readonly namespace: string;
  /** The service account, which is the service's identity. */
  readonly serviceAccountName: string;
  /** The fully qualified host, `<name>.<namespace>.svc.cluster.local`. */
  readonly host: string;
  /** The versions known to this program (empty when unknown). */
  readonly versions: readonly string[];
  /** Allows calls from `principals`, optionally limited to methods, paths and ports. */
  allowFrom(principals: IPrincipal | IPrincipal[], options?: AllowOptions): void;
  /** @internal */
  _addRoute(entry: RouteEntry): void;
  /** @internal */
  _useSubset(version: string, what: string): void;
  /** @internal */
  _setDefaultTimeout(timeout: string, timeoutMs: number, who: string): void;
  /** @internal */
  _setTrafficPolicy<K extends keyof TrafficPolicy>(
    section: K,
    value: TrafficPolicy[K],
    version: string | undefined,
    who: string,
  ): void;
}

/** Limits of a grant made with `allowFrom`. */
export interface AllowOptions {
  /**
   * HTTP methods allowed (upper case).
   * @default - every method
   */
  readonly methods?: string[];
  /**
   * Paths allowed (exact, `prefix*`, `*suffix` or `*`).
   * @default - every path
   */
  readonly paths?: string[];
  /**
   * Ports allowed (container ports).
   * @default - every port
   */
  readonly ports?: number[];
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

/**
 * What every service of the mesh shares: its routes (one VirtualService), its traffic policies and
 * subsets (one DestinationRule) and its grants (one ALLOW AuthorizationPolicy). `MeshService` and
 * `MeshService.fromName` return one.
 *
 * @example
 * const ratings: ServiceBase = MeshService.fromName(chart, 'ratings', 'ratings', { versions: ['v1'] });
 * ratings.allowFrom(reviews, { methods: ['GET'] });
 * ratings.declareSubsets();
 */
export abstract class ServiceBase extends Construct implements IMeshService {
  public abstract readonly mesh: Mesh;
  public abstract readonly serviceName: string;
  public abstract readonly namespace: string;
  public abstract readonly serviceAccountName: string;
  protected readonly versionList: string[] = [];
  /** When false, versions are not known and are not checked. */
  protected abstract readonly knowsVersions: boolean;

  private routeTable?: RouteTable;
  private defaultTimeout?: { value: string; ms: number; who: string };
  private validationAdded = false;
  private virtualService?: VirtualService;
  private destinationRule?: DestinationRule;
  private readonly policy: TrafficPolicy = {};
  private readonly subsetPolicies = new Map<string, TrafficPolicy>();
  private readonly policyOwners = new Map<string, string>();
  private authorization?: L1AuthorizationPolicy;
  private readonly grants: AuthzRule[] = [];

  public get host(): string {
    return `${this.serviceName}.${this.namespace}.svc.cluster.local`;
  }

  public get versions(): readonly string[] {
    return [...this.versionList];
  }

  public get principals(): string[] {
    return [this.mesh.principal(this.namespace, this.serviceAccountName)];
  }

  protected get describe(): string {
    return `meshservice '${this.serviceName}'`;
  }

  /** The routes declared for this service so far, in order. */
  protected get routes(): RouteTable {
    this.routeTable ??= new RouteTable(this.describe);
    return this.routeTable;
  }

  public allowFrom(principals: IPrincipal | IPrincipal[], options: AllowOptions = {}): void {
    const list = (Array.isArray(principals) ? principals : [principals]).flatMap((p) => p.principals);
    if (list.length === 0) {
      throw new Error(`${this.describe}: allowFrom needs at least one principal, got none`);
    }
    for (const field of ['methods', 'paths', 'ports'] as const) {
      if (options[field] !== undefined && options[field].length === 0) {
        throw new Error(
          `${this.describe}: allowFrom ${field} is empty, which would allow every value; omit ${field} to mean any, or list at least one`,
        );
      }
    }
    for (const m of options.methods ?? []) {
      if (!METHODS.has(m)) {
        throw new Error(
          `${this.describe}: allowFrom methods must be upper-case HTTP methods (${[...METHODS].join(', ')}), got ${JSON.stringify(m)}`,
        );
      }
    }
    for (const p of options.paths ?? []) {
      if (typeof p !== 'string' || p.length === 0 || (p.includes('*') && !/^\*[^*]*$|^[^*]*\*$/.test(p))) {
        throw new Error(
          `${this.describe}: allowFrom paths must be exact, 'prefix*', '*suffix' or '*', got ${JSON.stringify(p)}`,
        );
      }
    }
    for (const port of options.ports ?? []) checkPort(`${this.describe}: allowFrom ports`, port);
    this.grants.push(
      compact({
        from: [{ source: { principals: [...new Set(list)].sort() } }],
        to:
          options.methods || options.paths || options.ports
            ? [
                {
                  operation: {
                    methods: options.methods,
                    paths: options.paths,
                    ports: options.ports?.map(String),
                  },
                },
              ]
            : undefined,
      }),
    );
    this.authorization ??= new L1AuthorizationPolicy(this, 'Authorization', {
      metadata: { name: this.serviceName, namespace: this.namespace },
      spec: Lazy.any({
        produce: () => ({
          selector: { matchLabels: { [LABELS.app]: this.serviceName } },
          action: 'ALLOW',
          rules: this.grants,
        }),
      }),
    });
  }

  /**
   * Emits the service's DestinationRule with one subset per version even when no route needs it,
   * so that VirtualServices applied later (Istio's task YAML) find their subsets.
   */
  public declareSubsets(): void {
    this.ensureDestinationRule();
  }

  /** Allows calls from every workload of the given namespaces. */
  public allowFromNamespaces(namespaces: string[], options: AllowOptions = {}): void {
    this.allowFrom({ principals: namespaces.map((ns) => `${this.mesh.trustDomain}/ns/${ns}/sa/*`) }, options);
  }

  /** @internal */
  public _addRoute(entry: RouteEntry): void {
    this.routes.add(entry);
    this.ensureVirtualService();
  }

  /** @internal sets the timeout of every route of the service that sets none. */
  public _setDefaultTimeout(timeout: string, timeoutMs: number, who: string): void {
    if (this.defaultTimeout) {
      throw new Error(
        `${this.describe}: a timeout is already set by ${this.defaultTimeout.who}; set it once (${who})`,
      );
    }
    this.defaultTimeout = { value: timeout, ms: timeoutMs, who };
    this.ensureVirtualService();
    if (this.validationAdded) return;
    this.validationAdded = true;
    this.node.addValidation({ validate: () => this.validateDefaultTimeout() });
  }

  private ensureVirtualService(): void {
    this.virtualService ??= new VirtualService(this, 'VirtualService', {
      metadata: { name: this.serviceName, namespace: this.namespace },
      spec: Lazy.any({ produce: () => ({ hosts: [this.serviceName], http: this.renderRoutes() }) }),
    });
  }

  private renderRoutes(): HTTPRoute[] {
    const routes = this.routes.render();
    const timeout = this.defaultTimeout?.value;
    if (!timeout) return routes;
    // With no route at all the service-wide timeout needs one: every request, every version.
    if (routes.length === 0)
      return [{ name: 'default', route: [{ destination: { host: this.serviceName } }], timeout }];
    return routes.map((r) => (r.timeout || r.redirect ? r : { ...r, timeout }));
  }

  private validateDefaultTimeout(): string[] {
    const t = this.defaultTimeout;
    if (!t) return [];
    return this.routes
      .render()
      .filter((r) => !r.timeout && r.retries?.perTryTimeout && parseDuration(r.retries.perTryTimeout) > t.ms)
      .map(
        (r) =>
          `${this.describe}: route '${r.name}' retries with perTryTimeout ${r.retries!.perTryTimeout}, longer than the service timeout ${t.value} (${t.who}); it must be at most the timeout`,
      );
  }

  /** @internal */
  public _useSubset(version: string, what: string): void {
    this.checkVersion(version, what);
    if (!this.knowsVersions && !this.versionList.includes(version)) this.versionList.push(version);
    this.ensureDestinationRule();
  }

  /** @internal */
  public _setTrafficPolicy<K extends keyof TrafficPolicy>(
    section: K,
    value: TrafficPolicy[K],
    version: string | undefined,
    who: string,
  ): void {
    if (version !== undefined) this.checkVersion(version, `${who}: version`);
    const key = `${version ?? '*'}/${section}`;
    const owner = this.policyOwners.get(key);
    if (owner) {
      throw new Error(
        `${this.describe}: ${section} ${version ? `of version '${version}' ` : ''}is already set by ${owner}; set it once (${who})`,
      );
    }
    this.policyOwners.set(key, who);
    if (version === undefined) {
      this.policy[section] = value;
    } else {
      const p = this.subsetPolicies.get(version) ?? {};
      p[section] = value;
      this.subsetPolicies.set(version, p);
    }
    this.ensureDestinationRule();
  }

  protected checkVersion(version: string, what: string): void {
    if (this.knowsVersions && !this.versionList.includes(version)) {
      throw new Error(
        `${what} must be a version of ${this.describe} (${this.versionList.join(', ') || 'none declared'}), got ${JSON.stringify(version)}`,
      );
    }
  }

  protected ensureDestinationRule(): void {
    this.destinationRule ??= new DestinationRule(this, 'DestinationRule', {
      metadata: { name: this.serviceName, namespace: this.namespace },
      spec: Lazy.any({
        produce: () => {
          const subsets: Subset[] = this.subsetNames().map((v) => {
            const trafficPolicy = this.subsetPolicies.get(v);
            return compact({ name: v, labels: { [LABELS.version]: v }, trafficPolicy });
          });
          return compact({
            host: this.serviceName,
            trafficPolicy: Object.keys(this.policy).length > 0 ? this.policy : undefined,
            subsets: subsets.length > 0 ? subsets : undefined,
          });
        },
      }),
    });
  }

  private subsetNames(): string[] {
    const names = [...this.versionList];
    for (const v of this.subsetPolicies.keys()) if (!names.includes(v)) names.push(v);
    return names;
  }
}

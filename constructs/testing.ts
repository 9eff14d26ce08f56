/**
 * Testing a mesh as code: what would the mesh do with a request? `MeshTester` compiles the
 * synthesized objects of a chart with the engine the sidecars run (lib/explain) and answers with
 * the same JSON schema `tsmesh explain -o json` prints.
 */
import { type App, Chart, Testing } from 'cdk8s';
import { parse } from 'yaml';
import { API_VERSIONS, type MeshObject } from '../lib/api/types.js';
import { CONFIG_MAP_NAME, MESH_CONFIG_KIND } from '../lib/constants.js';
import { type ExplainOptions, type ExplainRequestSpec, type ExplainResult, explain } from '../lib/explain.js';
import { Mesh } from './mesh.js';

export type { ExplainRequestSpec, ExplainResult } from '../lib/explain.js';

/** A request to explain: the caller (`namespace/workload`), URL, method and headers. */
export type MeshRequest = ExplainRequestSpec;

/** Options of {@link MeshTester}. */
export interface MeshTesterOptions {
  /**
   * Draws the per-request split (0 ≤ x < 1); the result's `route.chosen` follows it.
   * @default - always the first destination
   */
  readonly random?: () => number;
}

/**
 * Answers what the mesh declared in a chart does with a request: matched route, subsets with
 * probabilities, timeout and retries, fault, mTLS mode and the authorization verdict with the
 * deciding policy.
 *
 * @example
 * const tester = MeshTester.fromChart(chart);
 * const result = tester.request({
 *   from: 'default/productpage',
 *   url: 'http://reviews:9080/reviews/0',
 *   headers: { 'end-user': 'jason' },
 * });
 * expect(result.route.subsets).toEqual({ v2: 1 });
 * expect(tester.subset({ from: 'default/productpage', url: 'http://reviews:9080/reviews/0' })).toBe('v1');
 */
export class MeshTester {
  /** Synthesizes `chart` (validations included) and compiles its objects. */
  public static fromChart(chart: Chart, options: MeshTesterOptions = {}): MeshTester {
    return MeshTester.fromManifests(Testing.synth(chart), {
      ...options,
      rootNamespace: rootNamespaceOf(chart),
    });
  }

  /** Synthesizes every chart of `app` and compiles their objects together. */
  public static fromApp(app: App, options: MeshTesterOptions = {}): MeshTester {
    const charts = app.node.findAll().filter((c): c is Chart => c instanceof Chart);
    const manifests = charts.flatMap((c) => Testing.synth(c));
    return MeshTester.fromManifests(manifests, {
      ...options,
      rootNamespace: charts.map(rootNamespaceOf).find(Boolean),
    });
  }

  /**
   * Compiles rendered manifests (as `Testing.synth` returns them, or parsed from `dist/`). The
   * MeshConfig is read from ConfigMap `tsmesh-config` when present.
   */
  public static fromManifests(
    manifests: readonly Record<string, any>[],
    options: MeshTesterOptions & { rootNamespace?: string } = {},
  ): MeshTester {
    const objects: MeshObject[] = [];
    for (const m of manifests) {
      if (!m || typeof m !== 'object') continue;
      if (
        m.kind === 'ConfigMap' &&
        m.metadata?.name === CONFIG_MAP_NAME &&
        typeof m.data?.['mesh.yaml'] === 'string'
      ) {
        const meshConfig = parse(m.data['mesh.yaml']);
        if (meshConfig?.kind === MESH_CONFIG_KIND) objects.push(meshConfig as MeshObject);
        continue;
      }
      if (m.kind in API_VERSIONS) objects.push(m as MeshObject);
    }
    return new MeshTester(objects, options);
  }

  /** The objects the engine compiles. */
  public readonly objects: readonly MeshObject[];
  private readonly options: ExplainOptions;

  private constructor(objects: MeshObject[], options: MeshTesterOptions & { rootNamespace?: string }) {
    this.objects = objects;
    this.options = {};
    if (options.random) this.options.random = options.random;
    if (options.rootNamespace) this.options.rootNamespace = options.rootNamespace;
  }

  /**
   * What the mesh does with the request (the `tsmesh explain -o json` schema). `from` names the
   * caller as `namespace/workload`; `namespace/app` works too when one Deployment has that app label.
   */
  public request(request: MeshRequest, options: MeshTesterOptions = {}): ExplainResult {
    return explain(
      { objects: this.objects },
      { ...request, from: this.resolveFrom(request.from) },
      {
        ...this.options,
        ...options,
      },
    );
  }

  private resolveFrom(from: MeshRequest['from']): MeshRequest['from'] {
    if (typeof from !== 'string' || !from.includes('/')) return from;
    const [namespace, name] = from.split('/', 2);
    const deployments = this.objects.filter(
      (o) => o.kind === 'Deployment' && (o.metadata.namespace ?? 'default') === namespace,
    );
    if (deployments.some((d) => d.metadata.name === name)) return from;
    const byApp = deployments.filter((d) => appLabelOf(d) === name);
    return byApp.length === 1 ? `${namespace}/${byApp[0].metadata.name}` : from;
  }

  /** Share of requests per subset (`''` for the whole service), e.g. `{ v1: 0.75, v2: 0.25 }`. */
  public splitOf(request: MeshRequest): Record<string, number> {
    return this.request(request).route.subsets;
  }

  /** The one subset every such request goes to; throws when requests are split. */
  public subset(request: MeshRequest): string | undefined {
    const split = Object.entries(this.splitOf(request)).filter(([, p]) => p > 0);
    if (split.length !== 1) {
      throw new Error(
        `requests to ${request.url} are split over ${split.length} subsets (${split.map(([s, p]) => `${s || '(all)'}: ${p}`).join(', ') || 'none'}); use splitOf`,
      );
    }
    return split[0][0] === '' ? undefined : split[0][0];
  }

  /** The verdict: `allowed`, `denied`, `mtls-refused`, `no-route`, ... */
  public outcome(request: MeshRequest): ExplainResult['verdict']['outcome'] {
    return this.request(request).verdict.outcome;
  }

  /** True when the request reaches the app. */
  public allows(request: MeshRequest): boolean {
    return this.outcome(request) === 'allowed';
  }
}

function appLabelOf(d: MeshObject): string | undefined {
  return d.kind === 'Deployment'
    ? (d.spec?.template?.metadata?.labels as Record<string, string> | undefined)?.app
    : undefined;
}

function rootNamespaceOf(chart: Chart): string | undefined {
  const mesh = chart.node.findAll().find((c): c is Mesh => c instanceof Mesh);
  return mesh?.rootNamespace;
}

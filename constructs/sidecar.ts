import { ApiObject, Chart } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { Mesh } from './mesh.js';
import { MtlsMode } from './mtls-mode.js';
import { injectSidecar } from './private/inject.js';
import { addRenderHook } from './private/render-hooks.js';
import { checkPort } from './private/validate-input.js';
import type { SidecarOptions } from './sidecar-options.js';

/** Props of {@link Sidecar}. */
export interface SidecarProps extends SidecarOptions {
  /** The mesh the workload joins. */
  readonly mesh: Mesh;
  /** The Deployment to inject into: a cdk8s-plus Deployment or a Deployment ApiObject. */
  readonly workload: kplus.Deployment | ApiObject;
}

const INJECTED = Symbol.for('tsmesh.sidecarInjected');

/**
 * Injects the tsmesh sidecar into a Deployment: the `tsmesh-init` container that installs the
 * traffic-capture rules (NET_ADMIN and NET_RAW, as root, every other capability dropped), the
 * `tsmesh-proxy` container (uid/gid 1337, explicit resources, readiness on 15021, identity from
 * the downward API and a projected service-account token with audience `tsmesh-ca`), the
 * Prometheus scrape annotations, and, under STRICT mTLS, the app's probes rewritten through port
 * 15020. `MeshService` injects its own Deployments; use this for any other Deployment. With the
 * istio target the namespace is labelled for Istio's injection instead.
 *
 * @example
 * const legacy = new kplus.Deployment(chart, 'worker', {
 *   metadata: { name: 'worker', namespace: 'default' },
 *   containers: [{ image: 'example/worker:1.0', portNumber: 8080 }],
 * });
 * new Sidecar(chart, 'worker-sidecar', { mesh, workload: legacy, nativeSidecar: true });
 */
export class Sidecar extends Construct {
  public constructor(scope: Construct, id: string, props: SidecarProps) {
    super(scope, id);
    const apiObject = props.workload instanceof ApiObject ? props.workload : ApiObject.of(props.workload);
    if (apiObject.kind !== 'Deployment') {
      throw new Error(
        `sidecar '${id}': workload must be a Deployment, got ${apiObject.kind} '${apiObject.name}'`,
      );
    }
    const marked = apiObject as ApiObject & { [INJECTED]?: boolean };
    if (marked[INJECTED]) {
      throw new Error(`sidecar '${id}': Deployment '${apiObject.name}' already has a sidecar; inject once`);
    }
    marked[INJECTED] = true;
    const options: SidecarOptions = { ...props.mesh.sidecarDefaults, ...stripMeshProps(props) };
    for (const p of options.excludeInboundPorts ?? []) checkPort(`sidecar '${id}': excludeInboundPorts`, p);
    for (const p of options.excludeOutboundPorts ?? []) checkPort(`sidecar '${id}': excludeOutboundPorts`, p);

    const mesh = props.mesh;
    const namespace = apiObject.metadata.namespace ?? 'default';
    mesh.addChart(Chart.of(apiObject));
    mesh.addNamespace(namespace, true);
    if (!mesh.bundled) {
      // Istio's injector reads the same choices from pod annotations.
      const annotations = istioAnnotations(options);
      addRenderHook(apiObject, (json) => {
        const meta = (json.spec.template.metadata ??= {});
        meta.annotations = { ...meta.annotations, ...annotations };
        return json;
      });
      return;
    }
    addRenderHook(apiObject, (json) => {
      const labels = json.spec?.template?.metadata?.labels ?? {};
      const rewriteProbes =
        options.rewriteAppProbes ?? mesh.mtlsModeFor(namespace, labels) === MtlsMode.STRICT;
      return injectSidecar(json, {
        image: mesh.image,
        controlPlaneAddress: mesh.controlPlaneAddress,
        trustDomain: mesh.trustDomain,
        drainSeconds: mesh.drainSeconds,
        options,
        rewriteProbes,
      });
    });
  }
}

function stripMeshProps(props: SidecarProps): SidecarOptions {
  const { mesh: _m, workload: _w, ...rest } = props;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}

/** The sidecar options as Istio's injection annotations (target istio). */
export function istioAnnotations(options: SidecarOptions): Record<string, string> {
  const out: Record<string, string> = {
    'proxy.istio.io/config': JSON.stringify({
      holdApplicationUntilProxyStarts: options.holdApplicationUntilProxyStarts ?? true,
    }),
  };
  const r = options.resources;
  if (r?.cpu?.request) out['sidecar.istio.io/proxyCPU'] = r.cpu.request.amount;
  if (r?.cpu?.limit) out['sidecar.istio.io/proxyCPULimit'] = r.cpu.limit.amount;
  if (r?.memory?.request) out['sidecar.istio.io/proxyMemory'] = `${r.memory.request.toMebibytes()}Mi`;
  if (r?.memory?.limit) out['sidecar.istio.io/proxyMemoryLimit'] = `${r.memory.limit.toMebibytes()}Mi`;
  if (options.nativeSidecar) out['sidecar.istio.io/nativeSidecar'] = 'true';
  if (options.rewriteAppProbes === false) out['sidecar.istio.io/rewriteAppHTTPProbers'] = 'false';
  if (options.logLevel) out['sidecar.istio.io/logLevel'] = options.logLevel;
  if (options.excludeInboundPorts?.length) {
    out['traffic.sidecar.istio.io/excludeInboundPorts'] = options.excludeInboundPorts.join(',');
  }
  if (options.excludeOutboundPorts?.length) {
    out['traffic.sidecar.istio.io/excludeOutboundPorts'] = options.excludeOutboundPorts.join(',');
  }
  if (options.excludeOutboundCidrs?.length) {
    out['traffic.sidecar.istio.io/excludeOutboundIPRanges'] = options.excludeOutboundCidrs.join(',');
  }
  return out;
}

/**
 * What the inbound side needs from a snapshot: the app ports (a Host header's port mapped
 * through the Services that select this workload), the mTLS mode per app port, and the
 * authorization decision for a request, all from lib/policy (no second policy engine here).
 */
import type { MeshObject } from '../../lib/api/types.js';
import type { WorkloadInstance, WorkloadPort } from '../../lib/model.js';
import type { AuthzDecision } from '../../lib/policy/index.js';
import { labelsMatch, namespaceOf, ofKind } from '../../lib/routing/objects.js';
import { portProtocol, targetPortOf } from '../../lib/routing/registry.js';
import type { RouteTable } from '../../lib/routing/table.js';
import type { ProxySnapshot } from '../../lib/snapshot.js';
import { compilePolicies, type InboundMtlsMode, type PolicyRequest } from './policy-adapter.js';

export interface InboundPolicy {
  /** Service port (as in a Host header) → app port. */
  readonly portMap: ReadonlyMap<number, number>;
  /** The app's ports (container ports, or service target ports when no pod is registered). */
  readonly appPorts: readonly number[];
  /** FQDN of the first Service selecting this workload (destination_service on inbound). */
  readonly localService?: string;
  /** Mode for an app port. */
  mtlsMode(port: number): InboundMtlsMode;
  /** False when no AuthorizationPolicy applies (requests need no authorization input). */
  readonly hasAuthorization: boolean;
  /** True when every app port is STRICT (plaintext and app TLS are closed at once). */
  readonly allStrict: boolean;
  authorize(request: PolicyRequest): AuthzDecision;
}

function ownInstance(snapshot: ProxySnapshot): WorkloadInstance | undefined {
  const p = snapshot.proxy;
  return snapshot.workloads.find(
    (w) => w.namespace === p.namespace && (p.pod ? w.name === p.pod : w.workload === p.workload),
  );
}

export function compileInboundPolicy(snapshot: ProxySnapshot, table: RouteTable): InboundPolicy {
  const proxy = snapshot.proxy;
  const self = ownInstance(snapshot);
  const workloadPorts: WorkloadPort[] = self?.ports ?? [];
  const portMap = new Map<number, number>();
  const appPorts = new Set<number>(workloadPorts.map((p) => p.containerPort));
  let localService: string | undefined;
  const objects = snapshot.objects as MeshObject[];
  for (const svc of ofKind(objects, 'Service')) {
    const selector = svc.spec?.selector;
    if (namespaceOf(svc) !== proxy.namespace || !selector || Object.keys(selector).length === 0) continue;
    if (!labelsMatch(selector, proxy.labels)) continue;
    localService ??= `${svc.metadata.name}.${proxy.namespace}.svc.${table.mesh.domain}`;
    for (const p of svc.spec.ports ?? []) {
      const target = targetPortOf(
        {
          port: p.port,
          protocol: portProtocol(p),
          ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
        },
        workloadPorts,
      );
      if (target === undefined) continue;
      if (!portMap.has(p.port)) portMap.set(p.port, target);
      if (!self) appPorts.add(target);
    }
  }
  const ports = [...appPorts].sort((a, b) => a - b);
  const policies = compilePolicies(objects, proxy, table.mesh.rootNamespaces);
  const modes = new Map<number, InboundMtlsMode>();
  const mtlsMode = (port: number): InboundMtlsMode => {
    let m = modes.get(port);
    if (m === undefined) {
      m = policies.mtlsMode(port);
      modes.set(port, m);
    }
    return m;
  };
  const allStrict =
    ports.length > 0 ? ports.every((p) => mtlsMode(p) === 'STRICT') : mtlsMode(0) === 'STRICT';
  const policy: InboundPolicy = {
    portMap,
    appPorts: ports,
    mtlsMode,
    allStrict,
    hasAuthorization: policies.hasAuthorization,
    authorize: (request) => policies.authorize(request),
  };
  if (localService) return { ...policy, localService };
  return policy;
}

/** The app port for a plaintext request: the Host port through the Services, else the single port. */
export function appPortFor(policy: InboundPolicy, hostPort: number | undefined): number | undefined {
  const port = hostPort ?? 80;
  const mapped = policy.portMap.get(port);
  if (mapped !== undefined) return mapped;
  if (policy.appPorts.includes(port)) return port;
  if (policy.appPorts.length === 1) return policy.appPorts[0];
  return undefined;
}

/**
 * The proxy's only door to lib/policy: PeerAuthentication and AuthorizationPolicy compiled once
 * per snapshot for this workload, then the mTLS mode of a port and the decision for a request.
 */
import type { MeshObject } from '../../lib/api/types.js';
import type { ProxyIdentity } from '../../lib/model.js';
import {
  type AuthzDecision,
  authorize,
  compileAuthorization,
  compilePeerAuthentication,
  type EffectiveMtlsMode,
  mtlsModeFor,
} from '../../lib/policy/index.js';

export type InboundMtlsMode = EffectiveMtlsMode;

export interface PolicyRequest {
  port: number;
  /** Verified client SPIFFE id, absent for plaintext. */
  peerIdentity?: string;
  method: string;
  /** Normalized path without the query. */
  path: string;
  host: string;
  headers: Readonly<Record<string, string | undefined>>;
  sourceAddress?: string;
}

export interface CompiledPolicies {
  /** False when no AuthorizationPolicy applies to this workload (every request is allowed). */
  readonly hasAuthorization: boolean;
  mtlsMode(port: number): InboundMtlsMode;
  authorize(request: PolicyRequest): AuthzDecision;
}

const ALLOW_ALL: AuthzDecision = Object.freeze({
  allowed: true,
  action: 'ALLOW',
  reason: 'no AuthorizationPolicy applies',
}) as AuthzDecision;

export function compilePolicies(
  objects: readonly MeshObject[],
  proxy: ProxyIdentity,
  rootNamespaces: readonly string[],
): CompiledPolicies {
  const workload = { namespace: proxy.namespace, labels: proxy.labels };
  const peerAuth = compilePeerAuthentication(objects, rootNamespaces);
  const authz = compileAuthorization(objects, workload, { rootNamespaces });
  const hasAuthorization =
    authz.custom.length + authz.deny.length + authz.allow.length + authz.audit.length > 0;
  return {
    hasAuthorization,
    mtlsMode: (port) => mtlsModeFor(peerAuth, workload, port).mode,
    authorize: (r) =>
      hasAuthorization
        ? authorize(authz, {
            principal: r.peerIdentity,
            sourceIp: r.sourceAddress,
            host: r.host,
            port: r.port,
            method: r.method,
            path: r.path,
            headers: r.headers,
            protocol: 'http',
          })
        : ALLOW_ALL,
  };
}

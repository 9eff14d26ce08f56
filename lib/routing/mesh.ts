/**
 * Mesh-wide settings from the MeshConfig document (tsmesh.dev/v1alpha1), with defaults.
 */

import { parseDuration } from '../api/duration.js';
import type { HTTPRetry, MeshObject } from '../api/types.js';
import { DEFAULT_ROOT_NAMESPACE, DEFAULT_TRUST_DOMAIN, ISTIO_ROOT_NAMESPACE } from '../constants.js';
import { DEFAULT_DOMAIN } from '../hosts.js';
import type { PathNormalizationMode } from '../normalize.js';
import { ofKind, oldestFirst } from './objects.js';

export interface MeshSettings {
  /** The control plane's namespace. */
  rootNamespace: string;
  /** Root namespaces in precedence order: the control plane's, then `istio-system`. */
  rootNamespaces: readonly string[];
  trustDomain: string;
  /** DNS domain of the cluster (`cluster.local`). */
  domain: string;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  pathNormalization: PathNormalizationMode;
  /** The retry policy of routes that set none. */
  defaultRetry: HTTPRetry;
  /** Route timeout when a route sets none (null = none). */
  defaultTimeoutMs: number | null;
}

/** Istio's mesh default: 2 retries on connection-level failures, never on a plain 503 response. */
export const MESH_DEFAULT_RETRY: HTTPRetry = {
  attempts: 2,
  retryOn: 'connect-failure,refused-stream,unavailable,cancelled',
};

export interface MeshSettingsOptions {
  /** Overrides the root namespace the MeshConfig would give. */
  rootNamespace?: string;
}

/** Reads the (oldest) MeshConfig among the objects and fills in every default. */
export function meshSettings(
  objects: readonly MeshObject[],
  options: MeshSettingsOptions = {},
): MeshSettings {
  const config = oldestFirst(ofKind(objects, 'MeshConfig'))[0]?.spec ?? {};
  const rootNamespace = options.rootNamespace ?? config.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const rootNamespaces =
    rootNamespace === ISTIO_ROOT_NAMESPACE ? [rootNamespace] : [rootNamespace, ISTIO_ROOT_NAMESPACE];
  return {
    rootNamespace,
    rootNamespaces,
    trustDomain: config.trustDomain ?? DEFAULT_TRUST_DOMAIN,
    domain: DEFAULT_DOMAIN,
    outboundTrafficPolicy: config.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY',
    pathNormalization: config.pathNormalization ?? 'BASE',
    defaultRetry: config.defaultHttpRetryPolicy ?? MESH_DEFAULT_RETRY,
    defaultTimeoutMs:
      config.defaultTimeout === undefined ? null : nullIfZero(parseDuration(config.defaultTimeout)),
  };
}

export function nullIfZero(ms: number): number | null {
  return ms === 0 ? null : ms;
}

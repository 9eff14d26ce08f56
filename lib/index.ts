/**
 * The public API of `tsmesh/lib`: the configuration language (lib/api) and its analysis, host,
 * identity and path helpers, the routing and policy engines, and `explain`. The sidecar, the
 * control plane, the constructs' testing helper and users' own tests all use these functions.
 */

export * from './analyze.js';
// Both the Istio API and the routing engine name a `RouteDestination`: the package root exports
// the Istio shape; the engine's is `WeightedDestination`.
export type { RouteDestination } from './api/index.js';
export * from './api/index.js';
export * from './constants.js';
export * from './explain.js';
export * from './hosts.js';
export * from './identity.js';
export type * from './model.js';
export * from './normalize.js';
export * from './policy/index.js';
export * from './routing/index.js';
export * from './snapshot.js';

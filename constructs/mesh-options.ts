/** Where the synthesized manifests run. */
export enum MeshTarget {
  /** The bundled TypeScript control plane and sidecar proxy (tsmesh's own runtime). */
  BUNDLED = 'bundled',
  /** A real Istio installation: workloads without tsmesh's sidecar, namespaces labelled for injection. */
  ISTIO = 'istio',
}

/** How request paths are normalized once at every listener (Istio's meshConfig.pathNormalization). */
export enum PathNormalization {
  /** No normalization. */
  NONE = 'NONE',
  /** RFC 3986 dot segments and `\` to `/`. */
  BASE = 'BASE',
  /** BASE plus merging of repeated slashes. */
  MERGE_SLASHES = 'MERGE_SLASHES',
  /** BASE, decoding of `%2F` and `%5C`, and merging of repeated slashes. */
  DECODE_AND_MERGE_SLASHES = 'DECODE_AND_MERGE_SLASHES',
}

/** What a sidecar does with a request for a host the mesh does not know. */
export enum OutboundTrafficPolicy {
  /** Pass it through to the original destination. */
  ALLOW_ANY = 'ALLOW_ANY',
  /** Refuse it: only services and ServiceEntries of the mesh are reachable. */
  REGISTRY_ONLY = 'REGISTRY_ONLY',
}

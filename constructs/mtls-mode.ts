/** The mTLS mode of a PeerAuthentication (Istio's words). */
export enum MtlsMode {
  /** Inherit from the namespace or mesh policy. */
  UNSET = 'UNSET',
  /** No mTLS: plaintext only. */
  DISABLE = 'DISABLE',
  /** Accept mesh mTLS and plaintext (the default). */
  PERMISSIVE = 'PERMISSIVE',
  /** Accept mesh mTLS only. */
  STRICT = 'STRICT',
}

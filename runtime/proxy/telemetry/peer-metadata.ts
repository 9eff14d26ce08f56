/**
 * Client workload metadata, carried from the client sidecar to the server sidecar in the
 * `x-tsmesh-peer-metadata` request header (HEADERS.peerMetadata) over mesh mTLS, so the server
 * side can fill the `source_*` labels of its metrics.
 *
 * Rules the data plane follows:
 * - the outbound side sets it from its own snapshot identity (`encodePeerMetadata`) only on
 *   requests to meshed endpoints over mTLS;
 * - the inbound side reads it only from verified mesh mTLS connections, and strips it (like every
 *   `x-tsmesh-*` header) before the request reaches the app;
 * - it is telemetry, never an authorization input: policies use the verified certificate.
 *
 * Wire format (version 1), at most MAX_PEER_METADATA_LENGTH characters:
 *   `1;<namespace>;<workload>;<app>;<version>;<canonical-service>;<canonical-revision>;<cluster>`
 * Every field is a Kubernetes-style name or label value (`[A-Za-z0-9._-]`, at most 253
 * characters); an empty field means unknown. Anything else decodes to `undefined`.
 */
import { UNKNOWN, type WorkloadFacts } from './workload-facts.js';

export const PEER_METADATA_VERSION = '1';
export const MAX_PEER_METADATA_LENGTH = 512;
const FIELD_COUNT = 8;
const FIELD = /^[A-Za-z0-9._-]{0,253}$/;
/** Decoded values are cached so repeated headers yield the same object (the metrics key by identity). */
const DEFAULT_CACHE_SIZE = 1024;

const field = (v: string): string => (v === UNKNOWN || !FIELD.test(v) ? '' : v);

/** Encoded values per facts object: the local workload is encoded once per snapshot, not per request. */
const encoded = new WeakMap<WorkloadFacts, string>();

/**
 * Encodes the local workload; fields that are unknown or not valid label values are sent empty.
 * Memoized per (frozen) facts object.
 */
export function encodePeerMetadata(facts: WorkloadFacts): string {
  let value = encoded.get(facts);
  if (value === undefined) {
    value = encode(facts);
    encoded.set(facts, value);
  }
  return value;
}

function encode(facts: WorkloadFacts): string {
  const value = [
    PEER_METADATA_VERSION,
    field(facts.namespace),
    field(facts.workload),
    field(facts.app),
    field(facts.version),
    field(facts.canonicalService),
    field(facts.canonicalRevision),
    field(facts.cluster),
  ].join(';');
  // Only reachable with absurdly long names: drop the optional fields rather than exceed the bound.
  if (value.length > MAX_PEER_METADATA_LENGTH) {
    return [PEER_METADATA_VERSION, field(facts.namespace).slice(0, 63), '', '', '', '', '', ''].join(';');
  }
  return value;
}

const known = (v: string): string => (v === '' ? UNKNOWN : v);

function parse(value: string): WorkloadFacts | undefined {
  if (value.length > MAX_PEER_METADATA_LENGTH) return undefined;
  const parts = value.split(';');
  if (parts.length !== FIELD_COUNT || parts[0] !== PEER_METADATA_VERSION) return undefined;
  for (let i = 1; i < FIELD_COUNT; i++) if (!FIELD.test(parts[i])) return undefined;
  const [, namespace, workload, app, version, canonicalService, canonicalRevision, cluster] = parts;
  return Object.freeze({
    namespace: known(namespace),
    workload: known(workload),
    app: known(app),
    version: known(version),
    canonicalService: known(canonicalService),
    canonicalRevision: known(canonicalRevision),
    cluster: known(cluster),
  });
}

/**
 * Decodes a header value. Returns undefined for an absent, oversized, malformed or
 * unknown-version value (the caller then uses UNKNOWN_WORKLOAD). Several header lines
 * (an array) are malformed by definition.
 */
export function decodePeerMetadata(value: string | string[] | undefined): WorkloadFacts | undefined {
  if (typeof value !== 'string') return undefined;
  return parse(value);
}

/**
 * A bounded decoder that returns the same frozen object for the same header value, so the
 * metrics label cache hits on object identity. When full it starts over (cheap and bounded;
 * the set of client workloads talking to one sidecar is small in practice).
 */
export class PeerMetadataDecoder {
  readonly #cache = new Map<string, WorkloadFacts | null>();
  constructor(private readonly maxEntries: number = DEFAULT_CACHE_SIZE) {}

  decode(value: string | string[] | undefined): WorkloadFacts | undefined {
    if (typeof value !== 'string') return undefined;
    const hit = this.#cache.get(value);
    if (hit !== undefined) return hit ?? undefined;
    const facts = parse(value);
    if (this.#cache.size >= this.maxEntries) this.#cache.clear();
    if (value.length <= MAX_PEER_METADATA_LENGTH) this.#cache.set(value, facts ?? null);
    return facts;
  }
}

/**
 * Constants shared by the constructs, the proxy, the control plane and the local runner.
 * Both sides of every wire read them from here, so they cannot drift apart.
 */

export const TSMESH_VERSION = '0.1.0';

/** Ports, mirroring Istio's so operators feel at home (DESIGN.md §6). */
export const PORTS = {
  outbound: 15001,
  inbound: 15006,
  admin: 15000,
  stats: 15020,
  health: 15021,
  controlPlane: 15012,
  controlPlaneMonitoring: 15014,
} as const;

/** The sidecar runs as this uid and gid; the capture rules exclude its own traffic. */
export const PROXY_UID = 1337;
export const PROXY_GID = 1337;

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_ROOT_NAMESPACE = 'tsmesh-system';
/** Istio's root namespace is honoured too, so Istio's samples work unchanged. */
export const ISTIO_ROOT_NAMESPACE = 'istio-system';
export const CONTROL_PLANE_NAME = 'tsmesh-control-plane';
export const CONTROL_PLANE_SERVICE_ACCOUNT = 'tsmesh-control-plane';
export const CONFIG_MAP_NAME = 'tsmesh-config';
export const ROOT_CERT_CONFIG_MAP_NAME = 'tsmesh-root-cert';
export const CA_SECRET_NAME = 'tsmesh-ca';
export const TOKEN_AUDIENCE = 'tsmesh-ca';

/** ALPN values that mark sidecar-to-sidecar mTLS; anything else on 15006 is not mesh traffic. */
export const MESH_ALPN = {
  h2: 'tsmesh-h2',
  http11: 'tsmesh-http/1.1',
  tcp: 'tsmesh-tcp',
} as const;
export const MESH_ALPN_VALUES: readonly string[] = Object.values(MESH_ALPN);

/** Labels and annotations. */
export const LABELS = {
  app: 'app',
  version: 'version',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  injection: 'istio-injection',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const ANNOTATIONS = {
  /** The local command `tsmesh up` runs for a container (JSON map container name → argv). */
  localCommand: 'tsmesh.dev/local-command',
  /** Set on pod templates that carry the sidecar. */
  sidecarStatus: 'tsmesh.dev/sidecar',
  /** App probes rewritten to go through the sidecar (JSON). */
  rewrittenProbes: 'tsmesh.dev/app-probers',
  prometheusScrape: 'prometheus.io/scrape',
  prometheusPort: 'prometheus.io/port',
  prometheusPath: 'prometheus.io/path',
  excludeOutboundPorts: 'traffic.tsmesh.dev/excludeOutboundPorts',
  excludeInboundPorts: 'traffic.tsmesh.dev/excludeInboundPorts',
  excludeOutboundIPRanges: 'traffic.tsmesh.dev/excludeOutboundIPRanges',
} as const;

/** Environment variables the sidecar container reads. */
export const ENV = {
  namespace: 'TSMESH_NAMESPACE',
  podName: 'TSMESH_POD_NAME',
  podIp: 'TSMESH_POD_IP',
  serviceAccount: 'TSMESH_SERVICE_ACCOUNT',
  workload: 'TSMESH_WORKLOAD',
  controlPlane: 'TSMESH_CONTROL_PLANE',
  trustDomain: 'TSMESH_TRUST_DOMAIN',
  trustBundle: 'TSMESH_TRUST_BUNDLE',
  bootstrapToken: 'TSMESH_BOOTSTRAP_TOKEN',
  tokenFile: 'TSMESH_TOKEN_FILE',
  adminSocket: 'TSMESH_ADMIN_SOCKET',
  drainSeconds: 'TSMESH_DRAIN_SECONDS',
  logLevel: 'TSMESH_LOG_LEVEL',
  /** The pod's labels as a JSON object (the sidecar registers them). */
  podLabels: 'TSMESH_POD_LABELS',
  /** The app containers' ports as a JSON array of `{ name, containerPort, protocol }`. */
  podPorts: 'TSMESH_POD_PORTS',
  /** The app probes the sidecar serves on the stats port (JSON, as in ANNOTATIONS.rewrittenProbes). */
  appProbers: 'TSMESH_APP_PROBERS',
} as const;

/**
 * Process settings of every proxy the product starts (the injected sidecar and ingress gateway
 * containers, and the local runner of `tsmesh up`):
 * - V8's young generation capped at 2 MB per semi-space (the default 16 MB grows to ~27 MB
 *   resident under load while a sidecar's live young objects are ~150 KB; 4 MB costs 3 MB more
 *   per sidecar for 3–5 % less CPU per request);
 * - glibc's malloc serves blocks of 32 KB and more with their own mappings, returned to the
 *   system when freed, and uses two arenas instead of one per thread. Without it the main arena
 *   held 35–43 MB with 5–7 MB in use after a load burst (Node allocates a 64 KB block per socket
 *   read and shrinks it to the bytes read, about one per request).
 * Ignored where they do not apply (another libc). Measured in docs/telemetry.md, "Memory".
 */
export const PROXY_PROCESS_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--max-semi-space-size=2',
  MALLOC_ARENA_MAX: '2',
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=32768',
};

/** The container image of the bundled runtime. */
export const TSMESH_IMAGE = 'ghcr.io/tsmesh/tsmesh';
export const TSMESH_IMAGE_TAG = TSMESH_VERSION;

/** The kind and API version of tsmesh's own mesh-wide settings document. */
export const MESH_CONFIG_API_VERSION = 'tsmesh.dev/v1alpha1';
export const MESH_CONFIG_KIND = 'MeshConfig';

/** Mesh-internal request headers: stripped from every peer, set only from verified facts. */
export const HEADERS = {
  requestId: 'x-request-id',
  forwardedClientCert: 'x-forwarded-client-cert',
  upstreamTimeout: 'x-envoy-upstream-rq-timeout-ms',
  overloaded: 'x-envoy-overloaded',
  /** Client workload metadata sent over mTLS for telemetry (never trusted for authorization). */
  peerMetadata: 'x-tsmesh-peer-metadata',
} as const;

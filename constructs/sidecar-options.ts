import type * as kplus from 'cdk8s-plus-28';

/** Log level of the proxy. */
export enum ProxyLogLevel {
  DEBUG = 'debug',
  INFO = 'info',
  WARN = 'warn',
  ERROR = 'error',
}

/** How the sidecar is injected into a workload. Every field has a default. */
export interface SidecarOptions {
  /**
   * CPU and memory of the `tsmesh-proxy` container.
   * @default - requests 100m CPU and 128Mi memory, limits 2 CPU and 1Gi memory
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * Hold the app containers until the sidecar is ready (a postStart wait on the proxy, which is
   * the first container).
   * @default true
   */
  readonly holdApplicationUntilProxyStarts?: boolean;
  /**
   * Run the proxy as a native sidecar (an init container with `restartPolicy: Always`,
   * Kubernetes 1.29+): it starts before and stops after the app.
   * @default false
   */
  readonly nativeSidecar?: boolean;
  /**
   * Rewrite the app's HTTP and TCP probes to go through the sidecar's port 15020.
   * @default - when the workload's mTLS mode is STRICT
   */
  readonly rewriteAppProbes?: boolean;
  /**
   * Inbound ports that bypass the sidecar.
   * @default - none besides the sidecar's own ports
   */
  readonly excludeInboundPorts?: number[];
  /**
   * Outbound ports that bypass the sidecar.
   * @default - none besides peer sidecars' inbound port and the control plane
   */
  readonly excludeOutboundPorts?: number[];
  /**
   * Outbound CIDRs that bypass the sidecar (for example a database outside the mesh).
   * @default - none
   */
  readonly excludeOutboundCidrs?: string[];
  /**
   * Log level of the proxy.
   * @default ProxyLogLevel.INFO
   */
  readonly logLevel?: ProxyLogLevel;
}

import type * as kplus from 'cdk8s-plus-28';

/** How one version of a service runs. Service-level values are defaults for every version. */
export interface WorkloadOptions {
  /**
   * The container image (used in Kubernetes).
   * @default - required on the service or the version
   */
  readonly image?: string;
  /**
   * The container's entrypoint override.
   * @default - the image's entrypoint
   */
  readonly command?: string[];
  /**
   * The container's arguments.
   * @default - the image's arguments
   */
  readonly args?: string[];
  /**
   * The command `tsmesh up` runs for this container, from the project root
   * (for example `['node', 'build/examples/bookinfo/apps/reviews.js']`).
   * @default - none: `tsmesh up` cannot run the workload locally
   */
  readonly localCommand?: string[];
  /**
   * Pod replicas.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Environment variables (merged over the service's). `PORT` is set to the first target port.
   * @default - none besides PORT
   */
  readonly env?: Record<string, string>;
  /**
   * CPU and memory of the app container.
   * @default - requests 50m CPU and 64Mi memory, limits 500m CPU and 256Mi memory
   */
  readonly resources?: kplus.ContainerResources;
  /**
   * Readiness probe of the app container.
   * @default - none
   */
  readonly readiness?: kplus.Probe;
  /**
   * Liveness probe of the app container.
   * @default - none
   */
  readonly liveness?: kplus.Probe;
  /**
   * The Deployment's name.
   * @default '<service>-<version>'
   */
  readonly deploymentName?: string;
  /**
   * The uid (and gid) the app runs as; never 1337, whose traffic the capture rules skip.
   * @default 1000
   */
  readonly user?: number;
  /**
   * Mount the container's root filesystem read-only.
   * @default true
   */
  readonly readOnlyRootFilesystem?: boolean;
}

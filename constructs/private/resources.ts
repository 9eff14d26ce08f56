import type * as kplus from 'cdk8s-plus-28';

/** Explicit CPU and memory, rendered as Kubernetes quantities. */
export interface ResourceDefaults {
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly memoryRequestMi: number;
  readonly memoryLimitMi: number;
}

/** Renders `resources` over `defaults` (every field set, so output never depends on a library default). */
export function renderResources(resources: kplus.ContainerResources | undefined, defaults: ResourceDefaults) {
  return {
    requests: {
      cpu: resources?.cpu?.request?.amount ?? defaults.cpuRequest,
      memory: `${resources?.memory?.request?.toMebibytes() ?? defaults.memoryRequestMi}Mi`,
    },
    limits: {
      cpu: resources?.cpu?.limit?.amount ?? defaults.cpuLimit,
      memory: `${resources?.memory?.limit?.toMebibytes() ?? defaults.memoryLimitMi}Mi`,
    },
  };
}

export const PROXY_RESOURCES: ResourceDefaults = {
  cpuRequest: '100m',
  cpuLimit: '2000m',
  memoryRequestMi: 128,
  memoryLimitMi: 1024,
};

export const INIT_RESOURCES: ResourceDefaults = {
  cpuRequest: '10m',
  cpuLimit: '100m',
  memoryRequestMi: 16,
  memoryLimitMi: 64,
};

export const CONTROL_PLANE_RESOURCES: ResourceDefaults = {
  cpuRequest: '100m',
  cpuLimit: '1000m',
  memoryRequestMi: 128,
  memoryLimitMi: 512,
};

export const APP_RESOURCES: ResourceDefaults = {
  cpuRequest: '50m',
  cpuLimit: '500m',
  memoryRequestMi: 64,
  memoryLimitMi: 256,
};

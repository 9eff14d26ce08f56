/**
 * Names and addresses of one local mesh instance, derived from its lease number:
 * network namespaces `tsm-<n>-<pod>` (plus `.<namespace>` outside `default`), pods on
 * 10.244.<n>.0/24 and service virtual IPs on 10.96.<n>.0/24 inside the runner's own namespaces
 * (never in the host's), or 127.42.<n>.0/24 loopback addresses in the fallback mode.
 */
export type LocalMode = 'netns' | 'loopback';

export interface Topology {
  index: number;
  mode: LocalMode;
  /** The prefix every namespace of this instance starts with. */
  prefix: string;
  bridgeNs: string;
  controlPlaneNs: string;
  controlPlaneAddress: string;
  podAddress(k: number): string;
  podNs(pod: { name: string; namespace: string }): string;
  serviceAddress(k: number): string;
  /** The bridge-side veth name of pod k (inside the bridge namespace; at most 15 characters). */
  bridgePort(k: number): string;
}

/** At most 240 pods and 240 services per instance. */
export const MAX_PODS = 240;

export function topology(index: number, mode: LocalMode): Topology {
  if (!Number.isInteger(index) || index < 0 || index > 255)
    throw new Error(`instance ${index} out of range 0-255`);
  const prefix = `tsm-${index}-`;
  const base = mode === 'netns' ? `10.244.${index}` : `127.42.${index}`;
  const host = (k: number) => {
    if (k < 0 || k >= MAX_PODS) throw new Error(`more than ${MAX_PODS} pods in one local mesh`);
    return k + 10;
  };
  return {
    index,
    mode,
    prefix,
    bridgeNs: `${prefix}bridge`,
    controlPlaneNs: `${prefix}control-plane`,
    controlPlaneAddress: `${base}.2`,
    podAddress: (k) => `${base}.${host(k)}`,
    podNs: (pod) => `${prefix}${pod.name}${pod.namespace === 'default' ? '' : `.${pod.namespace}`}`,
    serviceAddress: (k) => `10.96.${index}.${host(k)}`,
    bridgePort: (k) => `veth${k}`,
  };
}

/** Every name form a Service has from a pod in `fromNamespace` (DNS search-path behaviour). */
export function serviceNames(service: { name: string; namespace: string }, fromNamespace: string): string[] {
  const { name, namespace } = service;
  const names = [
    `${name}.${namespace}`,
    `${name}.${namespace}.svc`,
    `${name}.${namespace}.svc.cluster.local`,
  ];
  return namespace === fromNamespace ? [name, ...names] : names;
}

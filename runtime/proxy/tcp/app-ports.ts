/**
 * The declared protocol of each of this workload's app ports: from the Services selecting it
 * (service port → targetPort) and from its own registered container ports. Compiled once per
 * snapshot by the caller (cache it per ActiveConfig).
 */
import { targetPortOf } from '../../../lib/routing/registry.js';
import type { ActiveConfig } from '../config.js';

export function appPortProtocols(cfg: ActiveConfig): Map<number, string> {
  const map = new Map<number, string>();
  const proxy = cfg.snapshot.proxy;
  const self = cfg.snapshot.workloads.find(
    (w) =>
      w.namespace === proxy.namespace && (proxy.pod ? w.name === proxy.pod : w.workload === proxy.workload),
  );
  for (const p of self?.ports ?? []) if (p.protocol) map.set(p.containerPort, p.protocol);
  if (!self) return map;
  for (const svc of cfg.table.services.values()) {
    if (svc.kind !== 'Service' || svc.namespace !== proxy.namespace || !svc.workloads.includes(self))
      continue;
    for (const p of svc.ports) {
      const target = targetPortOf(p, self.ports);
      if (target !== undefined && p.protocol !== 'auto') map.set(target, p.protocol);
    }
  }
  return map;
}

/**
 * The proxy's client of the control plane: one connection that implements both of the proxy's
 * inputs, `SnapshotSource` and `CertificateSource` (runtime/proxy/sources.ts).
 */
import type { CertificateSource, SnapshotSource } from '../proxy/sources.js';
import { type ClientStatus, ControlPlaneClient } from './client.js';
import type { ControlPlaneSourcesOptions } from './options.js';

export type { ClientStatus } from './client.js';
export { ControlPlaneClient } from './client.js';
export type { ClientIdentity, ControlPlaneSourcesOptions } from './options.js';

export interface ControlPlaneSources {
  snapshots: SnapshotSource;
  certificates: CertificateSource;
  /** Connection, registration, snapshot and certificate facts, for the proxy's admin page. */
  status(): ClientStatus;
  close(): Promise<void>;
}

export function createControlPlaneSources(options: ControlPlaneSourcesOptions): ControlPlaneSources {
  const client = new ControlPlaneClient(options);
  let stopped = 0;
  const stopOne = async (): Promise<void> => {
    if (++stopped >= 2) await client.close();
  };
  return {
    snapshots: {
      start: (onSnapshot) => client.onSnapshot(onSnapshot),
      stop: stopOne,
    },
    certificates: {
      start: (onCertificate) => client.onCertificate(onCertificate),
      stop: stopOne,
    },
    status: () => ({ ...client.stats }),
    close: () => client.close(),
  };
}

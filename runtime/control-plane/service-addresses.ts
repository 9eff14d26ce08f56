/**
 * Service virtual IPs from outside the config files. In Kubernetes the API server assigns a
 * Service its clusterIP; manifests do not carry it. The local runner picks those addresses
 * itself and hands them over here, so that sidecars recognise a captured connection to a
 * service's virtual IP as that service (needed for TCP ports, which have no Host header).
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import type { MeshObject, Service } from '../../lib/api/types.js';
import type { ConfigLoader } from './config-store.js';

/** `namespace/name` → virtual IP. */
export type ServiceAddresses = Readonly<Record<string, string>>;

/** Reads and checks a JSON file `{ "namespace/name": "10.96.0.4", ... }`. */
export async function readServiceAddresses(file: string): Promise<ServiceAddresses> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`--service-addresses ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(
      `--service-addresses ${file}: expected a JSON object of "namespace/name": "IPv4 address"`,
    );
  for (const [key, value] of Object.entries(parsed)) {
    if (!/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(key))
      throw new Error(`--service-addresses ${file}: key ${JSON.stringify(key)} is not namespace/name`);
    if (typeof value !== 'string' || !isIPv4(value))
      throw new Error(
        `--service-addresses ${file}: ${key}: expected an IPv4 address, got ${JSON.stringify(value)}`,
      );
  }
  return parsed as ServiceAddresses;
}

/** Fills `spec.clusterIP` of loaded Services that declare none from `addresses`. */
export function withServiceAddresses(
  load: ConfigLoader,
  addresses: ServiceAddresses | undefined,
): ConfigLoader {
  if (!addresses || Object.keys(addresses).length === 0) return load;
  return async (paths) => {
    const loaded = await load(paths);
    return { ...loaded, objects: loaded.objects.map((o) => addressed(o, addresses)) };
  };
}

function addressed(obj: MeshObject, addresses: ServiceAddresses): MeshObject {
  if (obj.kind !== 'Service' || obj.spec?.clusterIP) return obj;
  const address = addresses[`${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`];
  if (!address) return obj;
  const svc = obj as Service;
  return { ...svc, spec: { ...svc.spec, clusterIP: address } };
}

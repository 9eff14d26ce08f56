import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MeshObject } from '../../lib/api/types.js';
import type { LoadedConfig } from '../../runtime/control-plane/config-files.js';
import { readServiceAddresses, withServiceAddresses } from '../../runtime/control-plane/service-addresses.js';

const svc = (name: string, namespace: string, clusterIP?: string): MeshObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: {
    selector: { app: name },
    ports: [{ name: 'tcp', port: 5432 }],
    ...(clusterIP ? { clusterIP } : {}),
  },
});

const loaderOf = (objects: MeshObject[]) => async (): Promise<LoadedConfig> => ({
  objects,
  diagnostics: [],
  skipped: {},
  files: [],
});

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-vips-'));
  dirs.push(dir);
  const path = join(dir, 'vips.json');
  writeFileSync(path, content);
  return path;
}

describe('service addresses', () => {
  it('fills the virtual IP of Services that declare none, and only theirs', async () => {
    const load = withServiceAddresses(loaderOf([svc('db', 'default'), svc('web', 'shop', '10.0.0.9')]), {
      'default/db': '10.96.0.4',
      'shop/web': '10.96.0.5',
    });
    const { objects } = await load([]);
    expect((objects[0] as { spec: { clusterIP?: string } }).spec.clusterIP).toBe('10.96.0.4');
    expect((objects[1] as { spec: { clusterIP?: string } }).spec.clusterIP).toBe('10.0.0.9');
  });

  it('leaves Services without an entry untouched', async () => {
    const load = withServiceAddresses(loaderOf([svc('db', 'other')]), { 'default/db': '10.96.0.4' });
    const { objects } = await load([]);
    expect((objects[0] as { spec: { clusterIP?: string } }).spec.clusterIP).toBeUndefined();
  });

  it('reads a file of namespace/name to IPv4', async () => {
    expect(await readServiceAddresses(file('{"default/db":"10.96.0.4"}'))).toEqual({
      'default/db': '10.96.0.4',
    });
  });

  it('refuses a file whose values are not IPv4 addresses, naming the key', async () => {
    await expect(readServiceAddresses(file('{"default/db":"not-an-ip"}'))).rejects.toThrow(
      /default\/db: expected an IPv4 address, got "not-an-ip"/,
    );
  });

  it('refuses keys that are not namespace/name and content that is not an object', async () => {
    await expect(readServiceAddresses(file('{"db":"10.96.0.4"}'))).rejects.toThrow(
      /key "db" is not namespace\/name/,
    );
    await expect(readServiceAddresses(file('[]'))).rejects.toThrow(/expected a JSON object/);
    await expect(readServiceAddresses(file('{'))).rejects.toThrow(/--service-addresses/);
  });
});

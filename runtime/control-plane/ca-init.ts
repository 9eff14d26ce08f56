/** `tsmesh ca init`: a new mesh root, and the Kubernetes Secret that carries it to the control plane. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CA_SECRET_NAME } from '../../lib/constants.js';
import { CA_FILES, createCaFiles } from './ca-store.js';

export async function initCa(options: { out: string; trustDomain: string; namespace: string }): Promise<{
  secretYaml: string;
  trustBundlePem: string;
}> {
  await createCaFiles(options.out, options.trustDomain);
  const data: Record<string, string> = {};
  for (const file of Object.values(CA_FILES)) {
    data[file] = (await readFile(join(options.out, file))).toString('base64');
  }
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: CA_SECRET_NAME,
      namespace: options.namespace,
      labels: { 'app.kubernetes.io/part-of': 'tsmesh' },
    },
    type: 'Opaque',
    data,
  };
  return {
    secretYaml: stringify(secret),
    trustBundlePem: await readFile(join(options.out, CA_FILES.bundle), 'utf8'),
  };
}

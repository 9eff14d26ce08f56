import { readFileSync } from 'node:fs';
import { type Chart, Testing } from 'cdk8s';
import { Mesh, type MeshProps, MeshService, ServicePort } from '../../constructs/index.js';

export const TRUST_BUNDLE = readFileSync(
  new URL('../../examples/pki/root-cert.pem', import.meta.url),
  'utf8',
);

export function newMesh(chart: Chart, props: MeshProps = {}): Mesh {
  return new Mesh(chart, 'mesh', { trustBundle: TRUST_BUNDLE, ...props });
}

/** A chart with a mesh and a `reviews` service with versions v1..vN. */
export function reviewsChart(versions = ['v1', 'v2', 'v3'], meshProps: MeshProps = {}) {
  const chart = Testing.chart();
  const mesh = newMesh(chart, meshProps);
  const reviews = new MeshService(chart, 'reviews', {
    mesh,
    serviceAccountName: 'bookinfo-reviews',
    ports: [ServicePort.http(9080)],
    workload: { image: 'example/reviews:1', localCommand: ['node', 'reviews.js'] },
    allowUnrouted: true,
  });
  for (const v of versions) reviews.addVersion(v);
  return { chart, mesh, reviews };
}

export function find(objects: any[], kind: string, name: string, namespace?: string): any {
  const found = objects.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (!found)
    throw new Error(
      `no ${kind} ${namespace ?? '*'}/${name} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    );
  return found;
}

export function all(objects: any[], kind: string): any[] {
  return objects.filter((o) => o.kind === kind);
}

export function synth(chart: Chart): any[] {
  return Testing.synth(chart);
}

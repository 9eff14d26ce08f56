import { describe, expect, it } from 'vitest';
import { parseYaml } from '../../lib/api/parse.js';
import type { MeshObject } from '../../lib/api/types.js';
import type { ProxyIdentity, WorkloadInstance } from '../../lib/model.js';
import { snapshotHash } from '../../lib/protocol/canonical.js';
import { ResourceSnapshot, receiveSnapshot } from '../../lib/protocol/resources.js';
import { SNAPSHOT_SCHEMA } from '../../lib/snapshot.js';
import { SnapshotBuilder, SnapshotCache } from '../../runtime/control-plane/snapshot-builder.js';
import { service, virtualService } from './helpers.js';

const objects = (yaml: string): MeshObject[] => parseYaml(yaml).objects.map((o) => o.object);

const pod = (ns: string, name: string, app: string): WorkloadInstance => ({
  name,
  namespace: ns,
  workload: `${app}-v1`,
  serviceAccount: app,
  labels: { app, version: 'v1' },
  address: '10.0.0.1',
  ports: [{ containerPort: 9080 }],
  meshed: true,
});

const proxy = (ns: string, app: string, podName = `${app}-0`): ProxyIdentity => ({
  namespace: ns,
  workload: `${app}-v1`,
  serviceAccount: app,
  labels: { app, version: 'v1' },
  pod: podName,
});

const mesh = `${service('a', 'reviews', { app: 'reviews' })}---
${service('b', 'ratings', { app: 'ratings' })}---
${virtualService('a', 'reviews', [['v1', 100]])}---
${virtualService('b', 'ratings', [['v1', 100]])}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: private, namespace: b }
spec: { host: ratings, exportTo: ['.'] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: b }
spec: {}
`;
const workloads = [pod('a', 'reviews-0', 'reviews'), pod('b', 'ratings-0', 'ratings')];

const names = (
  list: {
    kind?: string;
    metadata?: { name: string; namespace?: string };
    name?: string;
    namespace?: string;
  }[],
) =>
  list
    .map((o) =>
      o.metadata ? `${o.kind} ${o.metadata.namespace}/${o.metadata.name}` : `${o.namespace}/${o.name}`,
    )
    .sort();

describe('per-proxy snapshots', () => {
  it('without a Sidecar, a proxy sees everything exported to its namespace and its own policies', () => {
    const b = new SnapshotBuilder(objects(mesh), workloads);
    const fromA = b.build(proxy('a', 'reviews')).content;
    expect(names(fromA.objects)).toEqual([
      'Service a/reviews',
      'Service b/ratings',
      'VirtualService a/reviews',
      'VirtualService b/ratings',
    ]);
    expect(names(fromA.workloads)).toEqual(['a/reviews-0', 'b/ratings-0']);
    const fromB = b.build(proxy('b', 'ratings')).content;
    expect(names(fromB.objects)).toContain('DestinationRule b/private');
    expect(names(fromB.objects)).toContain('AuthorizationPolicy b/deny-all');
  });

  it("narrows to the Sidecar's egress hosts, objects and endpoints alike", () => {
    const scoped = `${mesh}---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: a }
spec:
  egress:
    - hosts: ["./*"]
`;
    const b = new SnapshotBuilder(objects(scoped), workloads);
    const content = b.build(proxy('a', 'reviews')).content;
    expect(names(content.objects)).toEqual([
      'Service a/reviews',
      'Sidecar a/default',
      'VirtualService a/reviews',
    ]);
    expect(names(content.workloads)).toEqual(['a/reviews-0']);
  });

  it('hashes what it sends and shares one serialization per scope', () => {
    const b = new SnapshotBuilder(objects(mesh), workloads);
    const one = b.build(proxy('a', 'reviews', 'reviews-0'));
    const two = b.build(proxy('a', 'reviews', 'reviews-1'));
    expect(one.content).toBe(two.content);
    for (const version of [2, 3]) {
      expect(one.hash(version)).not.toBe(two.hash(version));
      const body = JSON.parse(SnapshotBuilder.bodyJson(one, 7, '2026-01-01T00:00:00.000Z', version));
      expect(body.hash).toBe(one.hash(version));
      // What a proxy computes from what it receives.
      expect(version === 2 ? snapshotHash(body) : ResourceSnapshot.fromBody(7, body).hash).toBe(
        one.hash(version),
      );
      expect(
        new SnapshotBuilder(objects(mesh), workloads).build(proxy('a', 'reviews', 'reviews-0')).hash(version),
      ).toBe(one.hash(version));
    }
  });

  it('a delta between two generations turns the held snapshot into the new one, hash for hash', () => {
    const me = proxy('a', 'reviews', 'reviews-0');
    const cache = new SnapshotCache();
    const before = new SnapshotBuilder(objects(mesh), workloads, undefined, cache).build(me);
    const held = ResourceSnapshot.fromBody(
      1,
      JSON.parse(SnapshotBuilder.bodyJson(before, 1, '2026-01-01T00:00:00.000Z', 3)),
    );
    expect(held.hash).toBe(before.hash(3));
    // One route changed, one endpoint gone, one new.
    const changedMesh = mesh.replace(
      virtualService('a', 'reviews', [['v1', 100]]),
      virtualService('a', 'reviews', [
        ['v1', 60],
        ['v2', 40],
      ]),
    );
    const after = new SnapshotBuilder(
      objects(changedMesh),
      [pod('a', 'reviews-1', 'reviews'), workloads[1]],
      undefined,
      cache,
    ).build(me);
    const delta = after.content.deltaFrom(before.content);
    expect(delta.changes).toBe(3);
    const frame = JSON.parse(
      `{"type":"delta","version":2,"hash":"${after.hash(3)}","base":{"version":1,"hash":"${held.hash}"},` +
        `"schema":"${SNAPSHOT_SCHEMA}","createdAt":"x",${delta.json}}`,
    );
    expect(frame.objects.map((o: MeshObject) => o.metadata.name)).toEqual(['reviews']);
    expect(frame.removedWorkloads).toEqual(['a/reviews-0']);
    const received = receiveSnapshot({ snapshot: held.toSnapshot(), resources: held }, frame, 3);
    expect(received).toMatchObject({ ok: true, hash: after.hash(3) });
    const whole = JSON.parse(SnapshotBuilder.bodyJson(after, 2, 'x', 3));
    if (received.ok) {
      expect(received.held.snapshot.objects).toEqual(whole.objects);
      expect(received.held.snapshot.workloads).toEqual(whole.workloads);
    }
    // The same delta against a snapshot it was not made for is refused and asks for a resync.
    const other = ResourceSnapshot.fromBody(5, whole);
    expect(receiveSnapshot({ snapshot: other.toSnapshot(), resources: other }, frame, 3)).toMatchObject({
      ok: false,
      resync: true,
    });
    // Equal sections are one object: an unchanged config shares its objects section.
    const again = new SnapshotBuilder(
      objects(changedMesh),
      [pod('a', 'reviews-1', 'reviews'), workloads[1]],
      undefined,
      cache,
    ).build(me);
    expect(again.content.objectsSection).toBe(after.content.objectsSection);
    expect(again.content.workloadsSection).toBe(after.content.workloadsSection);
  });
});

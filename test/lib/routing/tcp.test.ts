import { describe, expect, it } from 'vitest';
import type { MeshObject, TCPRoute } from '../../../lib/api/types.js';
import { compileRoutes, routeTcp } from '../../../lib/routing/index.js';
import { destinationRule, pod, proxy, service, virtualService } from './fixtures.js';

const DB = service('db', 'default', [{ name: 'tcp-mysql', port: 3306 }]);
const SUBSETS = destinationRule('db', {
  host: 'db',
  subsets: [
    { name: 'primary', labels: { version: 'primary' } },
    { name: 'replica', labels: { version: 'replica' } },
  ],
});
const workloads = [
  pod('db', 'primary', 'default', { ports: [{ containerPort: 3306 }] }),
  pod('db', 'replica', 'default', { ports: [{ containerPort: 3306 }] }),
];

function table(tcp?: TCPRoute[], extra: MeshObject[] = [], who = proxy()) {
  const objects = [DB, SUBSETS, ...extra];
  if (tcp) objects.push(virtualService('db', { hosts: ['db'], tcp }));
  return compileRoutes({ objects, workloads }, who);
}

describe('TCP routing', () => {
  it('sends a connection to the whole service without a VirtualService', () => {
    expect(routeTcp(table(), { host: 'db', port: 3306 })).toMatchObject({
      kind: 'route',
      protocol: 'tcp',
      clusterKey: 'outbound|3306||db.default.svc.cluster.local',
    });
  });

  it('splits by relative weight and drops zero weights', () => {
    const t = table([
      {
        route: [
          { destination: { host: 'db', subset: 'primary' }, weight: 3 },
          { destination: { host: 'db', subset: 'replica' }, weight: 1 },
          { destination: { host: 'db', subset: 'none' }, weight: 0 },
        ],
      },
    ]);
    const d = routeTcp(t, { host: 'db.default', port: 3306 }, () => 0.8);
    expect(d.destinations.map((x) => [x.subset, x.probability])).toEqual([
      ['primary', 0.75],
      ['replica', 0.25],
    ]);
    expect(d).toMatchObject({ virtualService: 'default/db', ruleIndex: 0, chosen: { subset: 'replica' } });
  });

  it('takes the first rule whose port and destination subnet match', () => {
    const t = table([
      { match: [{ port: 3307 }], route: [{ destination: { host: 'db', subset: 'replica' } }] },
      {
        match: [{ destinationSubnets: ['10.96.0.0/16'] }],
        route: [{ destination: { host: 'db', subset: 'replica' } }],
      },
      { route: [{ destination: { host: 'db', subset: 'primary' } }] },
    ]);
    expect(routeTcp(t, { host: 'db', port: 3306, address: '10.96.1.1' }).ruleIndex).toBe(1);
    expect(routeTcp(t, { host: 'db', port: 3306, address: '10.0.0.1' }).ruleIndex).toBe(2);
  });

  it('decides sourceLabels when compiling', () => {
    const rules: TCPRoute[] = [
      {
        match: [{ sourceLabels: { app: 'batch' } }],
        route: [{ destination: { host: 'db', subset: 'replica' } }],
      },
      { route: [{ destination: { host: 'db', subset: 'primary' } }] },
    ];
    expect(
      routeTcp(table(rules, [], proxy('default', { app: 'batch' })), { host: 'db', port: 3306 }).chosen
        ?.subset,
    ).toBe('replica');
    expect(routeTcp(table(rules), { host: 'db', port: 3306 }).chosen?.subset).toBe('primary');
  });

  it('falls back to the whole service when no tcp rule matches', () => {
    const t = table([
      { match: [{ port: 9999 }], route: [{ destination: { host: 'db', subset: 'replica' } }] },
    ]);
    const d = routeTcp(t, { host: 'db', port: 3306 });
    expect(d.clusterKey).toBe('outbound|3306||db.default.svc.cluster.local');
    expect(d.ruleIndex).toBeUndefined();
  });

  it('passes an unknown host through under ALLOW_ANY', () => {
    expect(routeTcp(table(), { host: 'other', port: 3306 }).kind).toBe('passthrough');
  });
});

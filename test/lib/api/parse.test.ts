import { describe, expect, it } from 'vitest';
import { parseObjects, parseYaml } from '../../../lib/api/parse.js';

const vs = (name: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${name}]
  http:
  - route:
    - destination:
        host: ${name}
`;

describe('parseYaml', () => {
  it('reads every document of a multi-document file and skips empty ones', () => {
    const r = parseYaml(`${vs('a')}---\n---\n# only a comment\n---\n${vs('b')}`, 'routes.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.objects.map((o) => o.object.metadata.name)).toEqual(['a', 'b']);
    expect(r.objects[0].source).toEqual({ file: 'routes.yaml', index: 0, line: 1 });
    expect(r.objects[1].source).toEqual({ file: 'routes.yaml', index: 3, line: 15 });
  });

  it('knows the line of every field', () => {
    const r = parseYaml(vs('a'), 'a.yaml');
    expect(r.objects[0].lines?.get('spec.http[0].route[0].destination.host')).toBe(10);
  });

  it('reports a YAML syntax error with its file and line, and keeps the other documents', () => {
    const r = parseYaml(`${vs('a')}---\nkind: [\n  broken\n---\n${vs('b')}`, 'bad.yaml');
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({
      severity: 'error',
      code: 'TSM0004',
      source: { file: 'bad.yaml', index: 1, line: 14 },
    });
    expect(r.objects.map((o) => o.object.metadata.name)).toEqual(['a', 'b']);
  });

  it('refuses duplicate keys as a YAML error', () => {
    const r = parseYaml('apiVersion: v1\nkind: Service\nkind: Service\nmetadata: {name: a}\n', 'dup.yaml');
    expect(r.diagnostics[0]).toMatchObject({ code: 'TSM0004', source: { line: 3 } });
    expect(r.diagnostics[0].message).toMatch(/unique/);
  });

  it('skips and counts kinds the mesh does not use', () => {
    const r = parseYaml(
      [
        'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}',
        'apiVersion: v1\nkind: Secret\nmetadata: {name: s}',
        'apiVersion: v1\nkind: Secret\nmetadata: {name: t}',
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {a: b}',
        'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}',
      ].join('\n---\n'),
    );
    expect(r.objects).toEqual([]);
    expect(r.diagnostics).toEqual([]);
    expect(r.skipped).toEqual({ ClusterRole: 1, Secret: 2, ConfigMap: 1, PodDisruptionBudget: 1 });
  });

  const istioOnly: [kind: string, apiVersion: string][] = [
    ['EnvoyFilter', 'networking.istio.io/v1alpha3'],
    ['RequestAuthentication', 'security.istio.io/v1'],
    ['Telemetry', 'telemetry.istio.io/v1'],
    ['WorkloadEntry', 'networking.istio.io/v1'],
    ['ProxyConfig', 'networking.istio.io/v1beta1'],
    ['Gateway', 'gateway.networking.k8s.io/v1'],
  ];
  it.each(istioOnly)('reports %s (%s) as not supported by the bundled runtime', (kind, apiVersion) => {
    const r = parseYaml(
      `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x, namespace: foo}\n`,
      'x.yaml',
    );
    expect(r.objects).toEqual([]);
    expect(r.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'TSM0001',
        object: `${kind} foo/x`,
        path: 'kind',
        message: `${kind} (${apiVersion}) is not supported by the bundled runtime; tsmesh implements VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy`,
        source: { file: 'x.yaml', index: 0, line: 1 },
      },
    ]);
  });

  it('skips Istio kinds it does not implement when the target is istio', () => {
    const r = parseYaml(
      'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: x}\n',
      'x',
      {
        target: 'istio',
      },
    );
    expect(r.diagnostics).toEqual([]);
    expect(r.skipped).toEqual({ RequestAuthentication: 1 });
  });

  it('expands the mesh objects inside tsmesh-config ConfigMaps', () => {
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'tsmesh-config-default', namespace: 'tsmesh-system' },
      data: {
        'routes.yaml': `${vs('a')}---\n${vs('b')}`,
        'services.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n',
      },
    };
    const r = parseYaml(JSON.stringify(configMap), 'dist/mesh.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.objects.map((o) => `${o.object.kind}/${o.object.metadata.name} ${o.source?.file}`)).toEqual([
      'VirtualService/a dist/mesh.yaml[routes.yaml]',
      'VirtualService/b dist/mesh.yaml[routes.yaml]',
      'Service/a dist/mesh.yaml[services.yaml]',
    ]);
  });

  it('reports a YAML error inside a tsmesh-config ConfigMap by key and line', () => {
    const r = parseYaml(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'tsmesh-config' },
        data: { k: 'a: [' },
      }),
      'cm.json',
    );
    expect(r.diagnostics[0]).toMatchObject({ code: 'TSM0004', source: { file: 'cm.json[k]', line: 1 } });
  });

  it('reads a JSON array of objects and a kubectl List', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' } }],
    };
    const r = parseYaml(
      JSON.stringify([list, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa' } }]),
    );
    expect(r.objects.map((o) => o.object.kind)).toEqual(['Namespace', 'ServiceAccount']);
  });
});

describe('parseObjects', () => {
  const refused: [name: string, value: unknown, path: string | undefined, message: string][] = [
    [
      'a scalar',
      42,
      undefined,
      'expected a Kubernetes object (a mapping with apiVersion, kind and metadata), got 42',
    ],
    ['an object without kind', { apiVersion: 'v1' }, 'kind', 'kind must be a non-empty string, got nothing'],
    [
      'an object without apiVersion',
      { kind: 'Service' },
      'apiVersion',
      'apiVersion must be a non-empty string, got nothing',
    ],
    [
      'a mesh object without a name',
      { apiVersion: 'v1', kind: 'Service', metadata: {} },
      'metadata.name',
      'metadata.name must be a non-empty string, got nothing',
    ],
    [
      'an unknown tsmesh kind',
      { apiVersion: 'tsmesh.dev/v1alpha1', kind: 'Mesh', metadata: { name: 'm' } },
      'kind',
      'unknown kind Mesh in tsmesh.dev/v1alpha1; tsmesh.dev defines MeshConfig',
    ],
  ];
  it.each(refused)('refuses %s', (_name, value, path, message) => {
    const r = parseObjects([value]);
    expect(r.objects).toEqual([]);
    expect(r.diagnostics).toHaveLength(1);
    expect(r.diagnostics[0]).toMatchObject({ code: 'IST0106', message, source: { index: 0 } });
    expect(r.diagnostics[0].path).toBe(path);
  });

  it('keeps the index of each object as its source', () => {
    const r = parseObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'b' } },
    ]);
    expect(r.objects.map((o) => o.source)).toEqual([{ index: 0 }, { index: 1 }]);
  });
});

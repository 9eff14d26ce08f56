/**
 * Every synthesized object of every example, for both targets, against the schemas of the
 * kubernetes-models family: kubernetes-models for the Kubernetes kinds and
 * @kubernetes-models/istio for Istio's. The MeshConfig documents inside ConfigMap
 * tsmesh-config are tsmesh's own kind and are checked with lib/api's validation.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { MeshTarget } from '../../constructs/index.js';
import type { LoadedObject } from '../../lib/api/parse.js';
import { validateObjects } from '../../lib/api/validate.js';
import { EXAMPLES, synthObjects } from './helpers.js';

type Model = new (data: any) => { validate(): void };

async function models(): Promise<Record<string, Model>> {
  const [core, apps, rbac, policy, net, sec] = await Promise.all([
    import('kubernetes-models/v1'),
    import('kubernetes-models/apps/v1'),
    import('kubernetes-models/rbac.authorization.k8s.io/v1'),
    import('kubernetes-models/policy/v1'),
    import('@kubernetes-models/istio/networking.istio.io/v1'),
    import('@kubernetes-models/istio/security.istio.io/v1'),
  ]);
  return {
    'v1/Namespace': core.Namespace,
    'v1/ConfigMap': core.ConfigMap,
    'v1/Service': core.Service,
    'v1/ServiceAccount': core.ServiceAccount,
    'apps/v1/Deployment': apps.Deployment,
    'rbac.authorization.k8s.io/v1/ClusterRole': rbac.ClusterRole,
    'rbac.authorization.k8s.io/v1/ClusterRoleBinding': rbac.ClusterRoleBinding,
    'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget,
    'networking.istio.io/v1/VirtualService': net.VirtualService,
    'networking.istio.io/v1/DestinationRule': net.DestinationRule,
    'networking.istio.io/v1/Gateway': net.Gateway,
    'networking.istio.io/v1/ServiceEntry': net.ServiceEntry,
    'networking.istio.io/v1/Sidecar': net.Sidecar,
    'security.istio.io/v1/PeerAuthentication': sec.PeerAuthentication,
    'security.istio.io/v1/AuthorizationPolicy': sec.AuthorizationPolicy,
  } as unknown as Record<string, Model>;
}

describe('synthesized objects against the Kubernetes and Istio schemas', async () => {
  const byType = await models();
  for (const name of Object.keys(EXAMPLES)) {
    for (const target of [MeshTarget.BUNDLED, MeshTarget.ISTIO]) {
      it(`validates every object of ${name} (${target})`, () => {
        const objects = synthObjects(name, target);
        expect(objects.length).toBeGreaterThan(10);
        for (const obj of objects) {
          const Model = byType[`${obj.apiVersion}/${obj.kind}`];
          if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
          try {
            new Model(obj).validate();
          } catch (err) {
            throw new Error(
              `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: ${(err as Error).message}`,
            );
          }
        }
      });
    }

    it(`validates the documents inside ${name}'s tsmesh-config with lib/api`, () => {
      const config = synthObjects(name).find(
        (o) => o.kind === 'ConfigMap' && o.metadata.name === 'tsmesh-config',
      );
      const docs: LoadedObject[] = Object.values(config.data as Record<string, string>).flatMap((text) =>
        parseAllDocuments(text).map((d) => ({ object: d.toJS() })),
      );
      expect(docs.some((d) => d.object.kind === 'MeshConfig')).toBe(true);
      const errors = validateObjects(docs).filter((d) => d.severity === 'error');
      expect(errors).toEqual([]);
    });
  }

  it('the schemas catch a bad object (the check can fail)', () => {
    const bad = synthObjects('bookinfo').find((o) => o.kind === 'VirtualService');
    bad.spec.http[0].route[0].weight = 'heavy';
    expect(() => new byType['networking.istio.io/v1/VirtualService'](bad).validate()).toThrow(/weight/);
    const deployment = synthObjects('bookinfo').find((o) => o.kind === 'Deployment');
    deployment.spec.replicas = 'one';
    expect(() => new byType['apps/v1/Deployment'](deployment).validate()).toThrow(/replicas/);
  });
});

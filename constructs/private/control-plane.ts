/**
 * The control plane's objects: ServiceAccount, the TokenReview RBAC (and nothing more),
 * Deployment, Service and a PodDisruptionBudget that never blocks a node drain.
 */
import { ApiObject, Lazy } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  CA_SECRET_NAME,
  CONTROL_PLANE_NAME,
  CONTROL_PLANE_SERVICE_ACCOUNT,
  ENV,
  LABELS,
  PORTS,
  PROXY_GID,
  PROXY_UID,
  ROOT_CERT_CONFIG_MAP_NAME,
} from '../../lib/constants.js';
import { CONTROL_PLANE_RESOURCES, renderResources } from './resources.js';
import { checkInteger } from './validate-input.js';

export const CONTROL_PLANE_CONFIG_DIR = '/etc/tsmesh/config';
export const CONTROL_PLANE_CA_DIR = '/etc/tsmesh/ca';
export const CONTROL_PLANE_STATE_DIR = '/var/run/tsmesh';

export interface ControlPlaneProps {
  readonly namespace: string;
  readonly image: string;
  readonly replicas?: number;
  readonly resources?: kplus.ContainerResources;
  /** The ConfigMaps mounted (merged) at the config directory, known at synth. */
  readonly configMapNames: () => string[];
}

export class ControlPlane extends Construct {
  public constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const namespace = props.namespace;
    const labels = { [LABELS.app]: CONTROL_PLANE_NAME };
    const replicas = checkInteger('mesh: controlPlane.replicas', props.replicas ?? 1, 1, 100);

    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: CONTROL_PLANE_SERVICE_ACCOUNT, namespace, labels },
      automountServiceAccountToken: true,
    });
    new ApiObject(this, 'ClusterRole', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `${CONTROL_PLANE_NAME}-${namespace}`, labels },
      rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }],
    });
    new ApiObject(this, 'ClusterRoleBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${CONTROL_PLANE_NAME}-${namespace}`, labels },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: `${CONTROL_PLANE_NAME}-${namespace}`,
      },
      subjects: [{ kind: 'ServiceAccount', name: CONTROL_PLANE_SERVICE_ACCOUNT, namespace }],
    });

    const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
    new ApiObject(this, 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: CONTROL_PLANE_NAME, namespace, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: CONTROL_PLANE_SERVICE_ACCOUNT,
            automountServiceAccountToken: true,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: PROXY_UID,
              runAsGroup: PROXY_GID,
              fsGroup: PROXY_GID,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'control-plane',
                image: props.image,
                imagePullPolicy: 'IfNotPresent',
                // In Kubernetes: the CA from Secret tsmesh-ca, TokenReview bootstrap, listeners on the
                // pod address, state in a memory-backed emptyDir (the root filesystem is read-only).
                args: [
                  'control-plane',
                  '--kubernetes',
                  '--config',
                  CONTROL_PLANE_CONFIG_DIR,
                  '--ca-dir',
                  CONTROL_PLANE_CA_DIR,
                  '--state-dir',
                  CONTROL_PLANE_STATE_DIR,
                  '--listen',
                  `0.0.0.0:${PORTS.controlPlane}`,
                  '--monitoring',
                  `0.0.0.0:${PORTS.controlPlaneMonitoring}`,
                  '--namespace',
                  namespace,
                ],
                env: [
                  fieldEnv(ENV.namespace, 'metadata.namespace'),
                  fieldEnv(ENV.podName, 'metadata.name'),
                  fieldEnv(ENV.podIp, 'status.podIP'),
                ],
                ports: [
                  { name: 'tls-control', containerPort: PORTS.controlPlane, protocol: 'TCP' },
                  { name: 'http-monitoring', containerPort: PORTS.controlPlaneMonitoring, protocol: 'TCP' },
                ],
                readinessProbe: {
                  tcpSocket: { port: PORTS.controlPlane },
                  initialDelaySeconds: 1,
                  periodSeconds: 3,
                  timeoutSeconds: 1,
                  failureThreshold: 3,
                  successThreshold: 1,
                },
                livenessProbe: {
                  tcpSocket: { port: PORTS.controlPlaneMonitoring },
                  initialDelaySeconds: 10,
                  periodSeconds: 10,
                  timeoutSeconds: 1,
                  failureThreshold: 3,
                  successThreshold: 1,
                },
                resources: renderResources(props.resources, CONTROL_PLANE_RESOURCES),
                securityContext: {
                  allowPrivilegeEscalation: false,
                  privileged: false,
                  readOnlyRootFilesystem: true,
                  runAsNonRoot: true,
                  runAsUser: PROXY_UID,
                  runAsGroup: PROXY_GID,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'config', mountPath: CONTROL_PLANE_CONFIG_DIR, readOnly: true },
                  { name: 'ca', mountPath: CONTROL_PLANE_CA_DIR, readOnly: true },
                  { name: 'state', mountPath: CONTROL_PLANE_STATE_DIR },
                  { name: 'root-cert', mountPath: '/etc/tsmesh/root-cert', readOnly: true },
                ],
              },
            ],
            volumes: [
              {
                name: 'config',
                projected: {
                  sources: Lazy.any({
                    produce: () => props.configMapNames().map((name) => ({ configMap: { name } })),
                  }),
                },
              },
              // The CA key lives only in this Secret (created by `tsmesh ca init`, never synthesized).
              { name: 'ca', secret: { secretName: CA_SECRET_NAME, optional: false } },
              { name: 'root-cert', configMap: { name: ROOT_CERT_CONFIG_MAP_NAME } },
              { name: 'state', emptyDir: { medium: 'Memory' } },
            ],
          },
        },
      },
    });

    new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: CONTROL_PLANE_NAME, namespace, labels },
      spec: {
        selector: labels,
        ports: [
          { name: 'tls-control', port: PORTS.controlPlane, targetPort: PORTS.controlPlane, protocol: 'TCP' },
          {
            name: 'http-monitoring',
            port: PORTS.controlPlaneMonitoring,
            targetPort: PORTS.controlPlaneMonitoring,
            protocol: 'TCP',
          },
        ],
      },
    });

    // maxUnavailable 1 always lets a drain evict a pod, even with a single replica.
    new ApiObject(this, 'PodDisruptionBudget', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: CONTROL_PLANE_NAME, namespace, labels },
      spec: { maxUnavailable: 1, selector: { matchLabels: labels } },
    });
  }
}

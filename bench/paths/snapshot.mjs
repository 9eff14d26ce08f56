#!/usr/bin/env node
// Writes the snapshot a benchmark sidecar runs with: one Service `backend` in namespace `bench`
// whose cluster IP and port are what wrk calls (127.0.0.1:LISTEN_PORT, so the Host header wrk
// sends routes to it), backed by one pod at TARGET_HOST:TARGET_PORT.
//
// Usage: snapshot.mjs ROLE OUT_FILE
//   ROLE  direct       the client sidecar forwards to the backend itself (unmeshed endpoint)
//         client       the client sidecar forwards to the backend's sidecar (meshed endpoint)
//         server       the backend's own sidecar (inbound to the app)
// Env: LISTEN_PORT TARGET_HOST TARGET_PORT (the harness contract), POD_IP (the backend pod's
// address when it runs a sidecar: where the client reaches that sidecar), MTLS=0 for plaintext
// between the sidecars (a DestinationRule with tls DISABLE and a PERMISSIVE backend), ACCESS_LOG=0.
import { writeFileSync } from 'node:fs';

const [role, out] = process.argv.slice(2);
if (!['direct', 'client', 'server'].includes(role) || !out) {
  console.error('usage: snapshot.mjs direct|client|server OUT_FILE');
  process.exit(2);
}
const env = process.env;
const need = (name) => {
  const v = env[name];
  if (!v) {
    console.error(`snapshot.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const listenPort = Number(need('LISTEN_PORT'));
const targetHost = need('TARGET_HOST');
const targetPort = Number(need('TARGET_PORT'));
const mtls = env.MTLS !== '0';
const ns = 'bench';
const trustDomain = 'cluster.local';
const identity = (sa) => `spiffe://${trustDomain}/ns/${ns}/sa/${sa}`;

const meta = (name) => ({ name, namespace: ns });
const objects = [
  {
    apiVersion: 'tsmesh.dev/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: 'mesh', namespace: 'tsmesh-system' },
    spec: { accessLogging: env.ACCESS_LOG !== '0' },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta('backend'),
    spec: {
      clusterIP: '127.0.0.1',
      selector: { app: 'backend' },
      ports: [{ name: 'http', port: listenPort, targetPort, protocol: 'TCP' }],
    },
  },
];
if (!mtls) {
  objects.push(
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: meta('backend-plaintext'),
      spec: { host: 'backend', trafficPolicy: { tls: { mode: 'DISABLE' } } },
    },
    {
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: meta('backend'),
      spec: { selector: { matchLabels: { app: 'backend' } }, mtls: { mode: 'PERMISSIVE' } },
    },
  );
} else if (role !== 'direct') {
  objects.push({
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: meta('backend'),
    spec: { selector: { matchLabels: { app: 'backend' } }, mtls: { mode: 'STRICT' } },
  });
}

const backendPod = {
  name: 'backend-0',
  namespace: ns,
  workload: 'backend',
  serviceAccount: 'backend',
  labels: { app: 'backend', version: 'v1' },
  address: role === 'direct' ? targetHost : (env.POD_IP ?? targetHost),
  ports: [{ name: 'http', containerPort: targetPort, protocol: 'http' }],
  meshed: role !== 'direct',
  ...(role !== 'direct' ? { identity: identity('backend') } : {}),
};
const proxy =
  role === 'server'
    ? {
        namespace: ns,
        workload: 'backend',
        serviceAccount: 'backend',
        labels: backendPod.labels,
        pod: 'backend-0',
      }
    : {
        namespace: ns,
        workload: 'client',
        serviceAccount: 'client',
        labels: { app: 'client', version: 'v1' },
        pod: 'client-0',
      };

const snapshot = {
  schema: 'tsmesh.snapshot/v1',
  version: 1,
  hash: '0'.repeat(64),
  proxy,
  objects,
  workloads: [backendPod],
  createdAt: new Date().toISOString(),
};
writeFileSync(out, `${JSON.stringify(snapshot, null, 2)}\n`);

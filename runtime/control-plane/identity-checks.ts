/**
 * Who is on the other end of a connection, and whether a registration fits the connection and
 * the declared workloads.
 */
import type { TLSSocket } from 'node:tls';
import type { Deployment, MeshObject } from '../../lib/api/types.js';
import { parseSpiffeId } from '../../lib/identity.js';
import type { RegisterMessage } from '../../lib/protocol/messages.js';

/** The verified SPIFFE id of the client certificate, or undefined when none was presented. */
export function peerSpiffeId(socket: TLSSocket, trustDomain: string): { id?: string; error?: string } {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return {};
  if (!socket.authorized) return { error: `client certificate rejected: ${socket.authorizationError}` };
  if (cert.ca) return { error: 'client certificate is a CA certificate' };
  const uris = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice(4));
  if (uris.length !== 1)
    return { error: `client certificate must have exactly one URI SAN, has ${uris.length}` };
  const parts = parseSpiffeId(uris[0]);
  if (!parts) return { error: `client certificate URI SAN ${uris[0]} is not a SPIFFE id` };
  if (parts.trustDomain !== trustDomain) {
    return { error: `client certificate is for trust domain ${parts.trustDomain}, not ${trustDomain}` };
  }
  return { id: uris[0] };
}

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) compares equal to the plain IPv4 address. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function subset(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

/**
 * Why a registration does not fit, or undefined when it does: the identity must be the
 * certificate's, the address the connection's, and a Deployment of that name in that namespace
 * must select these labels and run as this service account.
 */
export function registrationProblem(
  reg: RegisterMessage,
  facts: { spiffeId: string; peerAddress: string; objects: readonly MeshObject[] },
): string | undefined {
  const parts = parseSpiffeId(facts.spiffeId);
  if (!parts) return `connection identity ${facts.spiffeId} is not a SPIFFE id`;
  if (parts.namespace !== reg.namespace || parts.serviceAccount !== reg.serviceAccount) {
    return `register: identity ns/${reg.namespace}/sa/${reg.serviceAccount} does not match the client certificate ${facts.spiffeId}`;
  }
  const peer = normalizeAddress(facts.peerAddress);
  if (normalizeAddress(reg.address) !== peer) {
    return `register: address ${reg.address} is not the connection's address ${peer}`;
  }
  const deployments = facts.objects.filter(
    (o): o is Deployment => o.kind === 'Deployment' && (o.metadata.namespace ?? 'default') === reg.namespace,
  );
  const named = deployments.find((d) => d.metadata.name === reg.workload);
  if (!named) {
    return `register: no Deployment ${reg.namespace}/${reg.workload} is declared in the mesh configuration`;
  }
  const template = named.spec?.template;
  const sa = template?.spec?.serviceAccountName ?? 'default';
  if (sa !== reg.serviceAccount) {
    return `register: Deployment ${reg.namespace}/${reg.workload} runs as service account ${sa}, not ${reg.serviceAccount}`;
  }
  if (
    !subset(named.spec?.selector?.matchLabels, reg.labels) ||
    !subset(template?.metadata?.labels as Record<string, string> | undefined, reg.labels)
  ) {
    return `register: labels ${JSON.stringify(reg.labels)} do not fit Deployment ${reg.namespace}/${reg.workload} (template labels ${JSON.stringify(template?.metadata?.labels ?? {})})`;
  }
  return undefined;
}

/**
 * `tsmesh proxy-config routes|clusters|endpoints|secret|memory WORKLOAD`: the live configuration,
 * certificate and memory of a sidecar, read from its admin socket (GET /config_dump, /clusters,
 * /certs, /memory).
 */
import { adminCall } from '../admin-client.js';
import { CliError, EXIT, findMesh, findPod } from '../mesh-ref.js';
import { type OutputFormat, render, table, until } from '../table.js';

export const SECTIONS = ['routes', 'clusters', 'endpoints', 'secret', 'memory'] as const;
export type Section = (typeof SECTIONS)[number];

interface ConfigDump {
  applied: boolean;
  version?: number;
  hash?: string;
  services?: string[];
  conflicts?: unknown[];
  clusters?: {
    key: string;
    host: string;
    port: number;
    subset: string | null;
    protocol: string;
    endpoints: number;
    loadBalancer: string;
    tls: string;
    destinationRule: string | null;
  }[];
  inbound?: { appPorts: number[]; mtls: Record<string, string> };
}

interface ClusterStatus {
  key: string;
  endpoints: {
    address: string;
    port: number;
    pod?: string;
    mtls: boolean;
    identity: string | null;
    health: string;
    active: number;
    requests: number;
    failures: number;
  }[];
}

interface Certs {
  certificate: null | {
    spiffeId: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    valid: boolean;
    issuer?: string;
  };
  trustBundle?: number;
}

interface Memory {
  rssMb: number;
  maxRssMb: number;
  heapTotalMb: number;
  heapUsedMb: number;
  externalMb: number;
  settings: Record<string, string | null>;
  heapPacer?: { slackMb: number; collections: number; baseMb: number } | null;
  heapSpaces: Record<string, { sizeMb: number; usedMb: number; committedMb: number }>;
}

export async function proxyConfig(o: {
  stateDir: string;
  section: string;
  workload: string;
  namespace?: string;
  output: OutputFormat;
}): Promise<number> {
  if (!(SECTIONS as readonly string[]).includes(o.section)) {
    throw new CliError(`unknown section '${o.section}'; use one of ${SECTIONS.join(', ')}`, EXIT.usage);
  }
  const state = findMesh(o.stateDir);
  const pod = findPod(state, o.workload, o.namespace);
  if (!pod.adminSocket) {
    throw new CliError(`${pod.namespace}/${pod.name} has no sidecar (it runs unmeshed)`, EXIT.notFound);
  }
  const socket = pod.adminSocket;
  let text: string;
  switch (o.section as Section) {
    case 'routes': {
      const dump = await adminCall<ConfigDump>(socket, { path: '/config_dump' });
      text = render(o.output, dump, () =>
        !dump.applied
          ? 'no configuration applied yet\n'
          : `config version ${dump.version} (${dump.hash?.slice(0, 12)})\n\n${table(
              ['service'],
              (dump.services ?? []).map((s) => [s]),
            )}\ninbound app ports: ${
              Object.entries(dump.inbound?.mtls ?? {})
                .map(([p, m]) => `${p} (${m})`)
                .join(', ') || 'none'
            }\n`,
      );
      break;
    }
    case 'clusters': {
      const dump = await adminCall<ConfigDump>(socket, { path: '/config_dump' });
      text = render(o.output, dump.clusters ?? [], () =>
        table(
          ['cluster', 'host', 'port', 'subset', 'protocol', 'endpoints', 'lb', 'tls', 'destination rule'],
          (dump.clusters ?? []).map((c) => [
            c.key,
            c.host,
            c.port,
            c.subset,
            c.protocol,
            c.endpoints,
            c.loadBalancer,
            c.tls,
            c.destinationRule,
          ]),
        ),
      );
      break;
    }
    case 'endpoints': {
      const status = await adminCall<{ clusters: ClusterStatus[] }>(socket, { path: '/clusters' });
      const rows = status.clusters.flatMap((c) =>
        c.endpoints.map((e) => [
          `${e.address}:${e.port}`,
          e.pod,
          e.health.toUpperCase(),
          e.mtls ? 'mTLS' : 'plaintext',
          e.identity,
          e.requests,
          e.failures,
          c.key,
        ]),
      );
      text = render(o.output, status.clusters, () =>
        table(['endpoint', 'pod', 'status', 'security', 'identity', 'requests', 'failures', 'cluster'], rows),
      );
      break;
    }
    case 'secret': {
      const certs = await adminCall<Certs>(socket, { path: '/certs' });
      const c = certs.certificate;
      text = render(o.output, certs, () =>
        c
          ? table(
              ['identity', 'serial', 'not before', 'not after', 'expires in', 'valid', 'roots'],
              [
                [
                  c.spiffeId,
                  c.serial,
                  c.notBefore,
                  c.notAfter,
                  until(c.notAfter),
                  c.valid ? 'true' : 'false',
                  certs.trustBundle,
                ],
              ],
            )
          : 'no certificate yet\n',
      );
      break;
    }
    case 'memory': {
      const m = await adminCall<Memory>(socket, { path: '/memory' });
      const space = (name: string) => {
        const sp = m.heapSpaces[name];
        return sp ? `${sp.usedMb} / ${sp.committedMb}` : '-';
      };
      text = render(
        o.output,
        m,
        () =>
          `${table(
            [
              'rss MB',
              'peak rss MB',
              'heap used / total MB',
              'old space MB',
              'new space MB',
              'code MB',
              'external MB',
            ],
            [
              [
                m.rssMb,
                m.maxRssMb,
                `${m.heapUsedMb} / ${m.heapTotalMb}`,
                space('old_space'),
                space('new_space'),
                space('code_space'),
                m.externalMb,
              ],
            ],
          )}\nsettings: ${Object.entries(m.settings)
            .map(([k, v]) => `${k}=${v ?? '(unset)'}`)
            .join(' ')}\n${
            m.heapPacer
              ? `heap pacer: slack ${m.heapPacer.slackMb} MB over ${m.heapPacer.baseMb} MB, ${m.heapPacer.collections} collections\n`
              : 'heap pacer: off\n'
          }`,
      );
      break;
    }
  }
  process.stdout.write(text);
  return EXIT.ok;
}

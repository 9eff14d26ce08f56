/**
 * `tsmesh check`: named checks of the machine and the running mesh, each ✔ or ✖ with a hint.
 * privileges · iptables · control-plane · trust-bundle · sidecars-synced · clock · ports
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { captureScript } from '../../../lib/capture.js';
import { PORTS } from '../../../lib/constants.js';
import type { CertificateStatus, ProxyStatus } from '../../../lib/protocol/admin.js';
import { adminCall } from '../admin-client.js';
import { isRoot } from '../environment.js';
import { ownerAlive } from '../leases.js';
import { EXIT } from '../mesh-ref.js';
import { ip, shInNs } from '../netns.js';
import { type MeshState, readState } from '../state.js';
import { type OutputFormat, render } from '../table.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
  hint?: string;
}

interface Context {
  stateDir: string;
  state?: MeshState;
}

type Check = (ctx: Context) => Promise<Omit<CheckResult, 'name'>>;

/** Trust bundle expiry below this is a failure. */
const TRUST_BUNDLE_MIN_DAYS = 30;
/** The address the ports check binds: in the fallback range, never given to a pod. */
export const PORT_PROBE_ADDRESS = '127.42.255.254';

export const CHECKS: Record<string, Check> = {
  async privileges() {
    if (isRoot()) return { ok: true, message: 'running as root: network namespaces and transparent capture' };
    return {
      ok: false,
      message: `running as uid ${process.getuid?.()}: tsmesh up uses the loopback fallback (explicit proxy, HTTP only)`,
      hint: 'run as root (sudo) for one network namespace per pod and iptables capture, as in Kubernetes',
    };
  },

  async iptables() {
    if (!isRoot()) {
      return {
        ok: false,
        message: 'cannot try the capture rules without root',
        hint: 'run tsmesh check as root',
      };
    }
    const ns = `tsm-check-${process.pid}`;
    try {
      await ip('netns', 'add', ns);
      await shInNs(ns, captureScript());
      const { execFileSync } = await import('node:child_process');
      const rules = execFileSync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'], {
        encoding: 'utf8',
      });
      if (!rules.includes('--gid-owner 1337') || !rules.includes('--to-ports 15001')) {
        return {
          ok: false,
          message: 'the capture rules did not install as expected',
          hint: 'check the iptables owner and REDIRECT modules',
        };
      }
      return {
        ok: true,
        message: 'capture rules (nat REDIRECT, owner match) install in a network namespace',
      };
    } catch (e) {
      return {
        ok: false,
        message: `cannot install the capture rules: ${firstLine((e as Error).message)}`,
        hint: 'install iptables (apt-get install iptables) with the nat table, REDIRECT and owner match',
      };
    } finally {
      await ip('netns', 'del', ns).catch(() => {});
    }
  },

  async 'control-plane'(ctx) {
    if (!ctx.state) return notRunning(ctx);
    try {
      const s = await adminCall<{ configVersion: number }>(ctx.state.controlPlane.adminSocket, {
        path: '/v1/status',
        timeoutMs: 3_000,
      });
      return {
        ok: true,
        message: `reachable at ${ctx.state.controlPlane.address}:${PORTS.controlPlane} (config version ${s.configVersion})`,
      };
    } catch (e) {
      return {
        ok: false,
        message: (e as Error).message,
        hint: 'restart the mesh: tsmesh down && tsmesh up --detach',
      };
    }
  },

  async 'trust-bundle'(ctx) {
    const certs = trustBundle(ctx);
    if (certs === undefined) {
      return { ok: true, message: `no local CA yet in ${ctx.stateDir}/ca (tsmesh up creates one)` };
    }
    if (certs.length === 0) {
      return {
        ok: false,
        message: 'the trust bundle holds no certificate',
        hint: `remove ${ctx.stateDir}/ca to create a new CA`,
      };
    }
    const soonest = certs.reduce((a, b) => (Date.parse(a.validTo) < Date.parse(b.validTo) ? a : b));
    const days = Math.floor((Date.parse(soonest.validTo) - Date.now()) / 86_400_000);
    if (days < TRUST_BUNDLE_MIN_DAYS) {
      return {
        ok: false,
        message:
          days < 0
            ? `the mesh root expired on ${soonest.validTo}`
            : `the mesh root expires in ${days} days (${soonest.validTo})`,
        hint: `rotate the root: add a new one to the bundle, or for a local mesh remove ${ctx.stateDir}/ca and restart`,
      };
    }
    return { ok: true, message: `${certs.length} root(s), the first to expire in ${days} days` };
  },

  async 'sidecars-synced'(ctx) {
    if (!ctx.state) return notRunning(ctx);
    const expected = ctx.state.pods.filter((p) => p.meshed || p.gateway);
    let proxies: ProxyStatus[];
    try {
      const body = await adminCall<ProxyStatus[] | { proxies: ProxyStatus[] }>(
        ctx.state.controlPlane.adminSocket,
        {
          path: '/v1/proxies',
          timeoutMs: 3_000,
        },
      );
      proxies = Array.isArray(body) ? body : body.proxies;
    } catch (e) {
      return { ok: false, message: (e as Error).message, hint: 'the control plane must be reachable' };
    }
    const problems: string[] = [];
    for (const pod of expected) {
      const p = proxies.find((x) => x.pod === pod.name && x.namespace === pod.namespace);
      if (!p) problems.push(`${pod.namespace}/${pod.name} not connected`);
      else if (p.state !== 'SYNCED')
        problems.push(`${pod.namespace}/${pod.name} ${p.state}${p.error ? `: ${p.error}` : ''}`);
    }
    if (problems.length > 0) {
      return {
        ok: false,
        message: problems.join('; '),
        hint: 'see tsmesh status -o wide and the sidecar logs',
      };
    }
    return { ok: true, message: `all ${expected.length} proxies SYNCED` };
  },

  async clock(ctx) {
    const now = Date.now();
    const starts: { what: string; at: number }[] = (trustBundle(ctx) ?? []).map((c) => ({
      what: 'the mesh root',
      at: Date.parse(c.validFrom),
    }));
    if (ctx.state) {
      try {
        const certs = await adminCall<CertificateStatus[] | { certificates: CertificateStatus[] }>(
          ctx.state.controlPlane.adminSocket,
          { path: '/v1/certificates', timeoutMs: 3_000 },
        );
        for (const c of Array.isArray(certs) ? certs : certs.certificates) {
          starts.push({ what: `the certificate of ${c.identity}`, at: Date.parse(c.notBefore) });
        }
      } catch {}
    }
    const future = starts.filter((s) => s.at > now);
    if (future.length > 0) {
      const worst = future.reduce((a, b) => (a.at > b.at ? a : b));
      return {
        ok: false,
        message: `the clock is behind: ${worst.what} is valid only from ${new Date(worst.at).toISOString()}`,
        hint: 'synchronize the clock (timedatectl set-ntp true); certificates are checked against it',
      };
    }
    return {
      ok: true,
      message: `${new Date(now).toISOString()}, consistent with ${starts.length} certificate(s)`,
    };
  },

  async ports() {
    const ports = [
      PORTS.admin,
      PORTS.outbound,
      PORTS.inbound,
      PORTS.stats,
      PORTS.health,
      PORTS.controlPlane,
      PORTS.controlPlaneMonitoring,
    ];
    const taken: number[] = [];
    for (const port of ports) if (!(await canBind(PORT_PROBE_ADDRESS, port))) taken.push(port);
    if (taken.length > 0) {
      return {
        ok: false,
        message: `port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} cannot be bound on a fallback address (in use by another process)`,
        hint: `the loopback fallback binds them on 127.42.x.y; a listener on 0.0.0.0 blocks that; find it with: ss -ltnp 'sport = :${taken[0]}'`,
      };
    }
    return { ok: true, message: `${ports.join(', ')} free for the loopback fallback` };
  },
};

function notRunning(ctx: Context): Omit<CheckResult, 'name'> {
  return {
    ok: false,
    message: `no running mesh in ${ctx.stateDir}/`,
    hint: 'start one with: tsmesh up --detach',
  };
}

function trustBundle(ctx: Context): X509Certificate[] | undefined {
  const dir = ctx.state?.controlPlane.caDir ?? join(ctx.stateDir, 'ca');
  let text: string | undefined;
  for (const name of ['trust-bundle.pem', 'root-cert.pem']) {
    try {
      text = readFileSync(join(dir, name), 'utf8');
      break;
    } catch {}
  }
  if (text === undefined) return undefined;
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return pems.map((p) => new X509Certificate(p));
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? s
  );
}

export async function runChecks(stateDir: string, names: string[]): Promise<CheckResult[]> {
  const unknown = names.filter((n) => !(n in CHECKS));
  if (unknown.length > 0) {
    throw new Error(`unknown check ${unknown.join(', ')}; checks: ${Object.keys(CHECKS).join(', ')}`);
  }
  const state = readState(stateDir);
  const ctx: Context = { stateDir, state: state && ownerAlive(state) ? state : undefined };
  const selected = names.length > 0 ? names : Object.keys(CHECKS);
  const results: CheckResult[] = [];
  for (const name of selected) {
    try {
      results.push({ name, ...(await CHECKS[name](ctx)) });
    } catch (e) {
      results.push({ name, ok: false, message: `check failed: ${(e as Error).message}` });
    }
  }
  return results;
}

export async function check(o: {
  stateDir: string;
  names: string[];
  output: OutputFormat;
  color: boolean;
}): Promise<number> {
  const results = await runChecks(o.stateDir, o.names);
  const green = (s: string) => (o.color ? `\u001b[32m${s}\u001b[0m` : s);
  const red = (s: string) => (o.color ? `\u001b[31m${s}\u001b[0m` : s);
  const width = Math.max(...results.map((r) => r.name.length));
  process.stdout.write(
    render(o.output, results, () =>
      results
        .map((r) => {
          const line = `${r.ok ? green('✔') : red('✖')} ${r.name.padEnd(width)}  ${r.message}`;
          return r.hint && !r.ok ? `${line}\n  ${' '.repeat(width)}  hint: ${r.hint}` : line;
        })
        .join('\n')
        .concat('\n'),
    ),
  );
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
}

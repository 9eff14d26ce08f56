/**
 * A worker process of the control-plane benchmark: many simulated sidecars, each with its own
 * TLS connection. Every snapshot or delta is decoded, applied to the snapshot the sidecar holds
 * and hashed before it is ACKed, with the same code as the real discovery client
 * (`receiveSnapshot` in lib/protocol/resources.ts). Driven by its parent over IPC.
 */
import type { ControlPlaneMessage } from '../../lib/protocol/messages.js';
import { PROTOCOL_VERSION } from '../../lib/protocol/messages.js';
import { type HeldSnapshot, receiveSnapshot } from '../../lib/protocol/resources.js';
import { ControlPlaneConnection } from '../../runtime/discovery-client/connection.js';

export interface SimulatedSidecar {
  namespace: string;
  serviceAccount: string;
  workload: string;
  pod: string;
  labels: Record<string, string>;
  address: string;
  token: string;
}

export interface StartCommand {
  cmd: 'start';
  port: number;
  trustBundle: string[];
  sidecars: SimulatedSidecar[];
  keys: { privateKeyPem: string; csrPem: string }[];
  concurrency: number;
}

interface State {
  sidecar: SimulatedSidecar;
  cert?: { certPem: string; keyPem: string };
  conn?: ControlPlaneConnection;
  /** weight of the watched route → ms timestamp of the ACK. */
  acks: Map<number, number>;
  snapshots: number;
  /** What the sidecar holds, as the real client holds it. */
  held?: HeldSnapshot;
}

/** The protocol version the simulated sidecars speak (BENCH_PROTOCOL=2 for whole snapshots). */
const PROTOCOL = Number(process.env.BENCH_PROTOCOL ?? PROTOCOL_VERSION);

const SERVER = {
  serverName: 'tsmesh-control-plane.tsmesh-system.svc',
  expectedServerId: 'spiffe://cluster.local/ns/tsmesh-system/sa/tsmesh-control-plane',
};

let config: StartCommand;
const states: State[] = [];

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function open(s: State, clientCert?: { certPem: string; keyPem: string }) {
  return ControlPlaneConnection.open({
    host: '127.0.0.1',
    port: config.port,
    trustBundlePem: config.trustBundle,
    localAddress: s.sidecar.address,
    ...SERVER,
    ...(clientCert ? { clientCert: { ...clientCert, chainPem: '' } } : {}),
    maxFrameBytes: 64 * 1024 * 1024,
    connectTimeoutMs: 120_000,
  });
}

async function bootstrap(): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  await pool(states, config.concurrency, async (s) => {
    const key = config.keys[states.indexOf(s) % config.keys.length];
    const conn = await open(s);
    conn.send({ type: 'hello', protocolVersion: PROTOCOL, tsmeshVersion: 'bench' });
    await conn.waitFor((m) => (m.type === 'welcome' ? m : undefined), 30_000, 'welcome');
    const t0 = performance.now();
    const answer = conn.waitFor(
      (m) => (m.type === 'certificate' ? m : m.type === 'error' ? new Error(m.message) : undefined),
      30_000,
      'certificate',
    );
    conn.send({ type: 'csr', requestId: s.sidecar.pod, csrPem: key.csrPem, token: s.sidecar.token });
    const cert = await answer;
    latencies.push(performance.now() - t0);
    s.cert = { certPem: cert.certPem, keyPem: key.privateKeyPem };
    conn.close();
  });
  return { latencies, elapsedMs: performance.now() - started };
}

function watchedWeight(held: HeldSnapshot): number | undefined {
  const vs = (held.resources?.objects.get('VirtualService/ns-0/svc-0') ??
    held.snapshot.objects.find(
      (o) => o.kind === 'VirtualService' && o.metadata.name === 'svc-0' && o.metadata.namespace === 'ns-0',
    )) as { spec: { http: { route: { weight?: number }[] }[] } } | undefined;
  return vs?.spec.http[0].route[0].weight;
}

/** Decodes, applies and hashes one push, then ACKs or NACKs it, as the discovery client does. */
function onPush(s: State, m: ControlPlaneMessage): void {
  if (m.type !== 'snapshot' && m.type !== 'delta') return;
  const received = receiveSnapshot(s.held, m, PROTOCOL);
  if (!received.ok) {
    s.conn!.send({
      type: 'nack',
      version: m.version,
      error: received.error,
      ...(received.resync && PROTOCOL >= 3 ? { resync: true } : {}),
    });
    return;
  }
  s.held = received.held;
  s.conn!.send({ type: 'ack', version: m.version, ...(received.hash ? { hash: received.hash } : {}) });
  s.snapshots++;
  const w = watchedWeight(received.held);
  if (w !== undefined && !s.acks.has(w)) s.acks.set(w, Date.now());
}

async function connect(): Promise<void> {
  await pool(states, config.concurrency, async (s) => {
    const conn = await open(s, s.cert);
    s.conn = conn;
    conn.on('message', (m) => onPush(s, m));
    conn.send({ type: 'hello', protocolVersion: PROTOCOL, tsmeshVersion: 'bench' });
    await conn.waitFor((m) => (m.type === 'welcome' ? m : undefined), 30_000, 'welcome');
    const registered = conn.waitFor(
      (m) => (m.type === 'registered' ? m : m.type === 'error' ? new Error(m.message) : undefined),
      180_000,
      'registered',
    );
    // Heartbeats, as a real sidecar sends them; the control plane drops silent connections.
    const heartbeat = setInterval(() => conn.send({ type: 'ping', at: Date.now() }), 10_000);
    conn.on('close', () => clearInterval(heartbeat));
    const { token: _token, ...identity } = s.sidecar;
    conn.send({ type: 'register', ...identity, ports: [{ name: 'http', containerPort: 9080 }] });
    await registered;
  });
}

/** mTLS connections without a registration: a client of the CA only (the rotation path). */
async function openOnly(): Promise<void> {
  await pool(states, config.concurrency, async (s) => {
    const conn = await open(s, s.cert);
    s.conn = conn;
    conn.send({ type: 'hello', protocolVersion: PROTOCOL, tsmeshVersion: 'bench' });
    await conn.waitFor((m) => (m.type === 'welcome' ? m : undefined), 30_000, 'welcome');
    const heartbeat = setInterval(() => conn.send({ type: 'ping', at: Date.now() }), 10_000);
    conn.on('close', () => clearInterval(heartbeat));
  });
}

/** Certificate requests over open mTLS connections (the rotation path): the CA without handshakes. */
async function rotate(
  connections: number,
  perConnection: number,
): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    states.slice(0, connections).map(async (s, i) => {
      const key = config.keys[i % config.keys.length];
      for (let n = 0; n < perConnection; n++) {
        const requestId = `rotate-${i}-${n}`;
        const t0 = performance.now();
        const answer = s.conn!.waitFor(
          (m) =>
            m.type === 'certificate' && m.requestId === requestId
              ? m
              : m.type === 'error' && m.requestId === requestId
                ? new Error(m.message)
                : undefined,
          60_000,
          'certificate',
        );
        s.conn!.send({ type: 'csr', requestId, csrPem: key.csrPem });
        await answer;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, elapsedMs: performance.now() - started };
}

process.on('message', async (msg: any) => {
  try {
    if (msg.cmd === 'start') {
      config = msg as StartCommand;
      for (const sidecar of config.sidecars) states.push({ sidecar, acks: new Map(), snapshots: 0 });
      process.send!({ type: 'issued', ...(await bootstrap()) });
    } else if (msg.cmd === 'connect') {
      await connect();
      process.send!({ type: 'connected' });
    } else if (msg.cmd === 'open') {
      await openOnly();
      process.send!({ type: 'opened' });
    } else if (msg.cmd === 'report') {
      const acks = states.map((s) => s.acks.get(msg.weight)).filter((t): t is number => t !== undefined);
      process.send!({
        type: 'report',
        acks,
        snapshots: states.reduce((n, s) => n + s.snapshots, 0),
        everyoneHasOne: states.every((s) => s.snapshots > 0),
        heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576),
      });
    } else if (msg.cmd === 'rotate') {
      process.send!({ type: 'rotated', ...(await rotate(msg.connections, msg.perConnection)) });
    } else if (msg.cmd === 'stop') {
      for (const s of states) s.conn?.close();
      process.exit(0);
    }
  } catch (err) {
    process.send!({ type: 'error', message: (err as Error).stack });
  }
});

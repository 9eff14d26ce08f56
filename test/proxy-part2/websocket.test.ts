import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type PeerPorts, type Sidecar, startSidecar, waitFor } from '../proxy/helpers/mesh.js';
import { createTestPki, type TestPki } from '../proxy/helpers/pki.js';
import { istio, pod, proxyOf, service, snapshot, spiffe } from '../proxy/helpers/snapshot.js';
import { find, parseExposition } from '../proxy/telemetry/prom-parse.js';

interface ChatApp {
  server: Server;
  port: number;
  /** Headers of each upgrade request the app accepted. */
  upgrades: Record<string, string | string[] | undefined>[];
}

/** A WebSocket app: echoes each message, then sends `count` messages of its own on `start:<count>`. */
async function startChat(): Promise<ChatApp> {
  const server = createServer((_req, res) => res.end('not a websocket'));
  const wss = new WebSocketServer({ server });
  const app: ChatApp = { server, port: 0, upgrades: [] };
  wss.on('connection', (ws, req) => {
    app.upgrades.push(req.headers);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('start:')) {
        const n = Number(text.slice(6));
        for (let i = 0; i < n; i++) ws.send(`server-${i}`);
      } else ws.send(`echo:${text}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.port = (server.address() as AddressInfo).port;
  return app;
}

function openSocket(port: number, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`, { headers: { host } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused with ${res.statusCode}`)),
    );
  });
}

describe('WebSocket through two sidecars over mTLS', () => {
  let pki: TestPki;
  let app: ChatApp;
  let client: Sidecar;
  let server: Sidecar;
  const peers: PeerPorts = new Map();
  const objects = () => [
    service('chat', [{ port: 8080, targetPort: app.port, name: 'http' }]),
    service('sleep', [{ port: 80, targetPort: 8080 }]),
  ];

  beforeAll(async () => {
    pki = createTestPki();
    app = await startChat();
    const chat = pod({ name: 'chat-0', app: 'chat', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    const workloads = [chat, sleep];
    server = await startSidecar({
      pod: chat,
      objects: objects(),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'chat')] }),
    });
    client = await startSidecar({
      pod: sleep,
      objects: objects(),
      workloads,
      peers,
      cert: pki.leaf({ uris: [spiffe('default', 'sleep')] }),
    });
  });

  afterAll(async () => {
    await Promise.all([client?.proxy.stop(), server?.proxy.stop()]);
    app?.server.closeAllConnections();
    app?.server.close();
    pki?.cleanup();
  });

  it('carries 1000 frames each way in order', async () => {
    const ws = await openSocket(client.ports.outbound, 'chat:8080');
    const received: string[] = [];
    const all = new Promise<void>((resolve) => {
      ws.on('message', (d) => {
        received.push(d.toString());
        if (received.length === 2000) resolve();
      });
    });
    for (let i = 0; i < 1000; i++) ws.send(`client-${i}`);
    ws.send('start:1000');
    await all;
    expect(received.slice(0, 1000)).toEqual(Array.from({ length: 1000 }, (_, i) => `echo:client-${i}`));
    expect(received.slice(1000)).toEqual(Array.from({ length: 1000 }, (_, i) => `server-${i}`));
    ws.close();
    const upgrade = app.upgrades.at(-1)!;
    expect(upgrade['x-forwarded-client-cert']).toContain(`URI=${spiffe('default', 'sleep')}`);
    expect(upgrade.host).toBe('chat:8080');
    await waitFor(
      () =>
        find(parseExposition(client.proxy.telemetry.metricsText()), 'istio_requests_total', {
          response_code: '101',
        }).length > 0,
    );
    const inbound = find(parseExposition(server.proxy.telemetry.metricsText()), 'istio_requests_total', {
      reporter: 'destination',
      response_code: '101',
      connection_security_policy: 'mutual_tls',
    });
    expect(inbound[0]?.value).toBe(1);
  });

  it('refuses the upgrade when authorization denies the client', async () => {
    const deny = istio('AuthorizationPolicy', 'deny-sleep', {
      selector: { matchLabels: { app: 'chat' } },
      action: 'DENY',
      rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/sleep'] } }] }],
    });
    const chat = pod({ name: 'chat-0', app: 'chat', ports: [app.port] });
    const sleep = pod({ name: 'sleep-0', app: 'sleep', ports: [8080] });
    await server.snapshots.push(snapshot(proxyOf(chat), [...objects(), deny], [chat, sleep], 2));
    await expect(openSocket(client.ports.outbound, 'chat:8080')).rejects.toThrow('upgrade refused with 403');
  });
});

import type { Command } from 'commander';
import { ENV, PORTS } from '../../../lib/constants.js';

export function register(program: Command): void {
  program
    .command('proxy')
    .description('run the sidecar proxy beside a workload (HTTP/1.1 data plane, mesh mTLS, routing, policy)')
    .option('--snapshot <file>', 'file source: a ProxySnapshot as JSON or YAML (reloaded on change)')
    .option(
      '--cert-dir <dir>',
      'file source: cert.pem, key.pem, root-cert.pem [, cert-chain.pem] (reloaded on change)',
    )
    .option('--control-plane <host:port>', `control plane discovery address (env ${ENV.controlPlane})`)
    .option('--trust-bundle <file|pem>', `mesh roots for --control-plane (env ${ENV.trustBundle})`)
    .option('--token-file <file>', `bootstrap token file for --control-plane (env ${ENV.tokenFile})`)
    .option('--address <ip>', 'pod address for the outbound, inbound, stats and health listeners', '0.0.0.0')
    .option('--app-host <host>', 'where the app listens (its pod address when apps bind it)', '127.0.0.1')
    .option(
      '--admin-socket <path>',
      `serve admin on a Unix socket instead of 127.0.0.1 (env ${ENV.adminSocket})`,
    )
    .option('--drain-seconds <n>', `drain time on SIGTERM (env ${ENV.drainSeconds}; default 5)`)
    .option('--outbound-port <port>', 'outbound capture listener', String(PORTS.outbound))
    .option('--inbound-port <port>', 'inbound capture listener', String(PORTS.inbound))
    .option('--admin-port <port>', 'admin listener on 127.0.0.1', String(PORTS.admin))
    .option('--stats-port <port>', '/stats/prometheus and rewritten app probes', String(PORTS.stats))
    .option('--health-port <port>', '/healthz/ready', String(PORTS.health))
    .option('--no-access-log', 'do not write the JSON access log to stdout')
    .option(
      '--heap-slack <MB>',
      'start a full garbage collection once the old generation holds this much above what the last one left (0: V8 decides alone)',
      '3',
    )
    .option(
      '--mesh-alpn <alpn>',
      'protocol to peer sidecars for HTTP ports: tsmesh-http/1.1 (default) or tsmesh-h2',
    )
    .option(
      '--trace-collector <url>',
      'export sampled spans as Zipkin v2 JSON to this collector (e.g. http://zipkin:9411/api/v2/spans)',
    )
    .option(
      '--tcp-listener <list>',
      'TCP listeners for hosts without capture, LOCAL_PORT=HOST:PORT[,...] (e.g. 15432=db:5432)',
    )
    .option(
      '--gateway',
      'run as a standalone ingress gateway: listen on the ports of the Gateway servers selecting this pod, no capture listeners',
    )
    .option(
      '--credential-dir <dir>',
      'gateway: TLS credentials of HTTPS servers, <dir>/<credentialName>/tls.crt and tls.key',
    )
    .option(
      '--port-offset <n>',
      'gateway: listen on Gateway port + n (e.g. 8000: port 80 on 8080, without root)',
    )
    .option(
      '--port-map <list>',
      'gateway: explicit local ports, GATEWAY_PORT=LOCAL_PORT[,...] (e.g. 80=8080,443=8443)',
    )
    .addHelpText(
      'after',
      [
        '',
        'Identity for --control-plane comes from the environment the injected container sets:',
        `  ${ENV.namespace}, ${ENV.podName}, ${ENV.podIp}, ${ENV.serviceAccount}, ${ENV.workload},`,
        `  ${ENV.podLabels} (JSON), ${ENV.podPorts} (JSON), ${ENV.appProbers} (JSON), ${ENV.trustDomain}.`,
        '',
        'Signals: SIGTERM drains (not ready, inbound Connection: close, outbound keeps working) for the',
        'drain time, then exits 0; SIGINT stops at once.',
        'Exit codes: 0 stopped, 1 could not start (port in use, bad certificate files), 2 bad usage.',
        '',
        'Examples:',
        '  tsmesh proxy --snapshot snapshot.json --cert-dir certs/ --address 127.0.0.1',
        '  tsmesh proxy --control-plane 10.0.0.2:15012 --trust-bundle root-cert.pem --token-file token --address 10.0.0.7',
        '  curl -s localhost:15000/clusters',
        '  tsmesh proxy --snapshot snapshot.json --cert-dir certs/ --tcp-listener 15432=db:5432 --trace-collector http://127.0.0.1:9411/api/v2/spans',
        '  tsmesh proxy --gateway --control-plane 10.0.0.2:15012 --credential-dir /etc/tsmesh/credentials --port-offset 8000',
        '',
      ].join('\n'),
    )
    .action(async (opts) => {
      const { runProxy } = await import('../../proxy/main.js');
      // The sidecar is the whole process: once it stopped, exit even if a stuck peer connection
      // would keep the event loop alive.
      process.exit(await runProxy(opts));
    });
}

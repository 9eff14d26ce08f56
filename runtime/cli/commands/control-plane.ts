import type { Command } from 'commander';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function register(program: Command): void {
  const cmd = program
    .command('control-plane')
    .description('run the mesh control plane: configuration, discovery, certificate authority')
    .option('--config <paths...>', 'files or folders of mesh objects (watched and hot-reloaded)')
    .option('--state-dir <dir>', 'applied objects, registry, token key and admin socket', '.tsmesh')
    .option('--listen <host:port>', 'discovery and CA (TLS)', '127.0.0.1:15012')
    .option('--monitoring <host:port>', "read-only /metrics and /status, or 'off'", '127.0.0.1:15014')
    .option('--admin-socket <path>', 'admin API Unix socket (default <state-dir>/control-plane.sock)')
    .option('--ca-dir <dir>', 'CA files (default <state-dir>/ca; created locally on first run)')
    .option('--kubernetes', 'CA from the mounted Secret, TokenReview bootstrap, admin apply refused')
    .option('--namespace <ns>', "the control plane's namespace", 'tsmesh-system')
    .option(
      '--trust-domain <domain>',
      'SPIFFE trust domain (default MeshConfig trustDomain or cluster.local)',
    )
    .option(
      '--cert-ttl <duration>',
      'workload certificate lifetime (default MeshConfig certificateTtl or 24h)',
    )
    .option(
      '--admin-sa <ns/sa>',
      'extra service account allowed to call the admin API over TLS (repeatable)',
      collect,
    )
    .option('--grace-period <duration>', "how long a disconnected sidecar's endpoints stay", '30s')
    .option(
      '--service-addresses <file>',
      'JSON {"namespace/name": "IPv4"}: virtual IPs for Services that declare no clusterIP',
    )
    .option(
      '--warmup <duration>',
      'how long restored endpoints wait for their sidecars after a restart',
      '60s',
    )
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 stopped by a signal, 1 could not start, 2 bad usage, 3 no CA (--kubernetes).',
        '',
        'Examples:',
        '  tsmesh control-plane --config dist/ --state-dir .tsmesh',
        '  tsmesh control-plane --kubernetes --config /etc/tsmesh/config --ca-dir /etc/tsmesh/ca --listen 0.0.0.0:15012',
        '  tsmesh control-plane status',
        '',
      ].join('\n'),
    )
    .action(async (opts) => {
      if (!opts.config || opts.config.length === 0) {
        process.stderr.write('tsmesh control-plane: --config PATH... is required\n');
        process.exitCode = 2;
        return;
      }
      const { runControlPlane } = await import('../../control-plane/main.js');
      process.exitCode = await runControlPlane(opts);
    });

  for (const [name, path, what] of [
    ['status', '/v1/status', 'configuration version, last config error, counts'],
    ['proxies', '/v1/proxies', 'connected sidecars: identity, versions, sync state, certificate'],
    ['certificates', '/v1/certificates', 'certificates issued, with expiry'],
  ] as const) {
    cmd
      .command(name)
      .description(`show ${what}`)
      .option('-o, --output <format>', 'text or json', 'text')
      .addHelpText(
        'after',
        `\nExit codes: 0 ok, 1 control plane unreachable.\n\nExample:\n  tsmesh control-plane ${name} --state-dir .tsmesh -o json\n`,
      )
      .action(async (_opts: unknown, sub: Command) => {
        // --state-dir and --admin-socket are the parent's options.
        const opts = sub.optsWithGlobals() as { stateDir: string; adminSocket?: string; output: string };
        const { showAdmin } = await import('../../control-plane/show.js');
        process.exitCode = await showAdmin(name, path, opts);
      });
  }
}

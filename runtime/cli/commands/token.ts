import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('token')
    .description(
      'mint a bootstrap token bound to a namespace and service account (from the running control plane)',
    )
    .requiredOption('-n, --namespace <ns>', 'namespace of the workload')
    .requiredOption('--service-account <sa>', 'service account of the workload')
    .option('--ttl <duration>', 'token lifetime', '168h')
    .option('--state-dir <dir>', 'state folder of the control plane', '.tsmesh')
    .option('--admin-socket <path>', 'admin socket (default <state-dir>/control-plane.sock)')
    .option('-o, --output <format>', 'text (the token) or json ({token, expiresAt})', 'text')
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 minted, 1 control plane unreachable or refused, 2 bad usage.',
        '',
        'Example:',
        '  TSMESH_BOOTSTRAP_TOKEN=$(tsmesh token -n default --service-account reviews)',
        '',
      ].join('\n'),
    )
    .action(
      async (opts: {
        namespace: string;
        serviceAccount: string;
        ttl: string;
        stateDir: string;
        adminSocket?: string;
        output: string;
      }) => {
        const { join } = await import('node:path');
        const { parseDuration } = await import('../../../lib/api/duration.js');
        const { adminRequest } = await import('../../control-plane/admin-client.js');
        let ttlSeconds: number;
        try {
          ttlSeconds = Math.ceil(parseDuration(opts.ttl) / 1000);
        } catch (err) {
          process.stderr.write(`tsmesh token: --ttl: ${(err as Error).message}\n`);
          process.exitCode = 2;
          return;
        }
        try {
          const answer = await adminRequest<{ token?: string; expiresAt?: string; error?: string }>(
            opts.adminSocket ?? join(opts.stateDir, 'control-plane.sock'),
            'POST',
            '/v1/tokens',
            { namespace: opts.namespace, serviceAccount: opts.serviceAccount, ttlSeconds },
          );
          if (answer.status !== 201)
            throw new Error(answer.body.error ?? `admin API answered ${answer.status}`);
          process.stdout.write(
            opts.output === 'json' ? `${JSON.stringify(answer.body, null, 2)}\n` : `${answer.body.token}\n`,
          );
        } catch (err) {
          process.stderr.write(`tsmesh token: ${(err as Error).message}\n`);
          process.exitCode = 1;
        }
      },
    );
}

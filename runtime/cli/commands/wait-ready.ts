import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('wait-ready')
    .description(
      'wait until the sidecar is ready (holds a certificate and a first config); for postStart hooks',
    )
    .option('--address <ip>', 'the sidecar health address', '127.0.0.1')
    .option('--port <port>', 'the sidecar health port', (v) => Number(v), 15021)
    .option('--timeout <seconds>', 'give up after this long', (v) => Number(v), 60)
    .option('-q, --quiet', 'print nothing on success')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh wait-ready                  # in the pod: waits for http://127.0.0.1:15021/healthz/ready
  tsmesh wait-ready --timeout 5 --address 10.244.0.10

Exit codes: 0 ready, 1 not ready within the timeout.`,
    )
    .action(async (opts) => {
      const { waitReady } = await import('../../local/commands/wait-ready.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() => waitReady(opts));
    });
}

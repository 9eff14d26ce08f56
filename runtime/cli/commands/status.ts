import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('status')
    .description('pods of the local mesh: readiness, sidecar sync state, versions, certificate expiry')
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .option('-o, --output <format>', 'json, yaml or wide')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh status
  tsmesh status -o json | jq '.pods[] | select(.sync != "SYNCED")'

Exit codes: 0 every pod ready and every sidecar SYNCED, 1 otherwise, 3 no running mesh.`,
    )
    .action(async (opts) => {
      const { status } = await import('../../local/commands/status.js');
      const { parseOutput } = await import('../../local/table.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() => status({ stateDir: opts.stateDir, output: parseOutput(opts.output) }));
    });
}

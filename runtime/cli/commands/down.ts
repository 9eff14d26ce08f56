import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('down')
    .description('stop the local mesh and remove everything it created (also after a crash)')
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .option('--timeout <seconds>', 'how long to wait for a graceful stop', (v) => Number(v), 30)
    .addHelpText(
      'after',
      '\nExamples:\n  tsmesh up --detach && tsmesh down\n  tsmesh down --state-dir /tmp/mesh/.tsmesh',
    )
    .action(async (opts) => {
      const { down } = await import('../../local/commands/down.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() => down({ stateDir: opts.stateDir, timeout: opts.timeout }));
    });
}

import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('check')
    .description('check the machine and the running mesh; each check prints ✔ or ✖ with a hint')
    .argument(
      '[checks...]',
      'only these: privileges, iptables, control-plane, trust-bundle, sidecars-synced, clock, ports',
    )
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .option('-o, --output <format>', 'json or yaml')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh check
  tsmesh check privileges iptables ports      # before the first tsmesh up

Exit codes: 0 every check passed, 1 at least one failed, 2 unknown check name.`,
    )
    .action(async (names: string[], opts) => {
      const { check, CHECKS } = await import('../../local/commands/check.js');
      const { parseOutput } = await import('../../local/table.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      const unknown = names.filter((n) => !(n in CHECKS));
      if (unknown.length > 0) {
        process.stderr.write(
          `error: unknown check ${unknown.join(', ')}; checks: ${Object.keys(CHECKS).join(', ')}\n`,
        );
        process.exitCode = 2;
        return;
      }
      await runCli(() =>
        check({
          stateDir: opts.stateDir,
          names,
          output: parseOutput(opts.output),
          color: process.stdout.isTTY === true,
        }),
      );
    });
}

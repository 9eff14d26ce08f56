import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('apply')
    .description('validate, persist and push Istio-API objects to the running mesh')
    .requiredOption('-f, --filename <file...>', 'YAML/JSON files or folders (- for stdin)')
    .option('-n, --namespace <ns>', 'namespace for objects that name none (default: default)')
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .option('--timeout <seconds>', 'how long to wait for every affected sidecar to ACK', (v) => Number(v), 10)
    .option('-o, --output <format>', 'json or yaml')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh apply -f examples/bookinfo/virtual-service-reviews-jason.yaml
  cat route.yaml | tsmesh apply -f - -n default

Returns once every affected sidecar has ACKed the new config. Invalid input changes nothing.
Exit codes: 0 applied and ACKed, 1 refused (invalid, NACK or timeout), 2 usage, 3 no running mesh.`,
    )
    .action(async (opts) => {
      const { applyOrDelete } = await import('../../local/commands/apply.js');
      const { parseOutput } = await import('../../local/table.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() =>
        applyOrDelete('apply', {
          stateDir: opts.stateDir,
          files: opts.filename,
          namespace: opts.namespace,
          output: parseOutput(opts.output),
          timeoutMs: opts.timeout * 1000,
        }),
      );
    });
}

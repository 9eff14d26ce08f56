import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('proxy-config')
    .description(
      "a sidecar's live configuration, certificate and memory: routes, clusters, endpoints, secret or memory",
    )
    .argument('<section>', 'routes, clusters, endpoints, secret or memory')
    .argument('<workload>', 'pod name, Deployment name or app label')
    .option('-n, --namespace <ns>', 'the pod namespace', 'default')
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .option('-o, --output <format>', 'json or yaml (the admin endpoint document)')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh proxy-config clusters productpage
  tsmesh proxy-config endpoints sleep -o json
  tsmesh proxy-config secret reviews-v2
  tsmesh proxy-config memory productpage

Exit codes: 0 printed, 2 unknown section, 3 no running mesh, 4 no such workload or no sidecar.`,
    )
    .action(async (section: string, workload: string, opts) => {
      const { proxyConfig } = await import('../../local/commands/proxy-config.js');
      const { parseOutput } = await import('../../local/table.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() =>
        proxyConfig({
          stateDir: opts.stateDir,
          section,
          workload,
          namespace: opts.namespace,
          output: parseOutput(opts.output),
        }),
      );
    });
}

import type { Command } from 'commander';
import { Option } from 'commander';

export function register(program: Command): void {
  program
    .command('up')
    .description('run synthesized manifests on this machine: control plane, sidecars and apps')
    .argument('[paths...]', 'manifest files or folders', [])
    .option('-d, --detach', 'return once everything is ready and leave the mesh running')
    .option('--state-dir <dir>', 'where the running mesh keeps its state', '.tsmesh')
    .addOption(
      new Option('--mode <mode>', 'network mode: netns needs root, loopback is the fallback')
        .choices(['auto', 'netns', 'loopback'])
        .default('auto'),
    )
    .option('--cert-ttl <duration>', 'workload certificate lifetime (e.g. 60s); default from the mesh config')
    .option('--timeout <seconds>', 'how long each part may take to become ready', (v) => Number(v), 60)
    .option('--no-color', 'plain log prefixes')
    .addOption(new Option('--daemon-child').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  tsmesh up                          # everything in dist/, logs in the foreground, Ctrl-C stops
  tsmesh up dist/bookinfo.k8s.yaml --detach
  tsmesh down

Exit codes: 0 stopped cleanly or ready (--detach), 1 failed to start.`,
    )
    .action(async (paths: string[], opts) => {
      const { up } = await import('../../local/commands/up.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() =>
        up({
          paths,
          stateDir: opts.stateDir,
          detach: opts.detach,
          daemonChild: opts.daemonChild,
          mode: opts.mode,
          certTtl: opts.certTtl,
          timeout: opts.timeout,
          color: opts.color === false ? false : undefined,
        }),
      );
    });
}

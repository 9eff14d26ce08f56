import type { Command } from 'commander';
import { Option } from 'commander';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run bookinfo locally, send requests, print the traffic split and identities, stop')
    .argument('[paths...]', 'manifests to run', ['dist/bookinfo.k8s.yaml'])
    .option('-n, --requests <n>', 'requests for the reviews split', (v) => Number(v), 400)
    .addOption(
      new Option('--mode <mode>', 'network mode').choices(['auto', 'netns', 'loopback']).default('auto'),
    )
    .option('--keep-logs', 'keep the mesh log even on success')
    .addHelpText(
      'after',
      `
Examples:
  npm run demo                       # build, synthesize, then tsmesh demo
  tsmesh demo -n 1000

Exit codes: 0 the demo ran and stopped cleanly, 1 something failed (the mesh log is kept).`,
    )
    .action(async (paths: string[], opts) => {
      const { demo } = await import('../../local/commands/demo.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() => demo({ paths, requests: opts.requests, mode: opts.mode, keepLogs: opts.keepLogs }));
    });
}

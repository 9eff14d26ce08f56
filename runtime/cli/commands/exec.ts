import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a pod of the local mesh (its network namespace and hosts file)')
    .argument('<workload>', 'pod name, Deployment name or app label')
    .argument('[command...]', 'the command, after --')
    .option('-n, --namespace <ns>', 'the pod namespace', 'default')
    .option('--state-dir <dir>', 'the running mesh state', '.tsmesh')
    .addHelpText(
      'after',
      `
Examples:
  tsmesh exec sleep -- curl -s http://reviews:9080/reviews/0 -H 'end-user: jason'
  tsmesh exec -n foo sleep -- curl -s http://httpbin.foo:8000/headers

Exit codes: the command's own; 3 no running mesh; 4 no such workload; 127 command not found.`,
    )
    .action(async (workload: string, command: string[], opts) => {
      const { exec } = await import('../../local/commands/exec.js');
      const { runCli } = await import('../../local/commands/run-cli.js');
      await runCli(() => exec({ stateDir: opts.stateDir, namespace: opts.namespace, workload, command }));
    });
}

import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('analyze')
    .description(
      'validate mesh configuration (Istio API objects and Kubernetes workloads) and report problems in istioctl style',
    )
    .argument('[paths...]', 'YAML or JSON files, or folders (read recursively)')
    .option('--mesh', 'analyze the running local mesh config (its files plus what tsmesh apply changed)')
    .option('--state-dir <dir>', 'the running mesh state, with --mesh', '.tsmesh')
    .option('-o, --output <format>', 'text or json', 'text')
    .option(
      '--target <target>',
      'bundled (the tsmesh runtime) or istio (a real Istio installation)',
      'bundled',
    )
    .option(
      '--root-namespace <ns>',
      "the control plane's namespace (default: MeshConfig's, else tsmesh-system)",
    )
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 no errors (warnings allowed), 1 errors found, 2 bad usage.',
        '',
        'Examples:',
        '  tsmesh analyze dist/',
        '  tsmesh analyze bookinfo.yaml destination-rule-all.yaml virtual-service-reviews-v2-v3.yaml',
        '  tsmesh analyze --target istio -o json dist/',
        '  tsmesh analyze --mesh                # the running tsmesh up, with what tsmesh apply changed',
        '  tsmesh analyze --strict dist/    # fail on anything the bundled runtime would refuse',
        '',
      ].join('\n'),
    )
    .action(
      async (
        paths: string[],
        opts: {
          output: string;
          target: string;
          rootNamespace?: string;
          strict?: boolean;
          mesh?: boolean;
          stateDir: string;
        },
      ) => {
        const { runAnalyze } = await import('../../config/analyze-command.js');
        if (opts.mesh) {
          const { writeRunningMeshConfig } = await import('../../local/mesh-config.js');
          try {
            paths = [...paths, writeRunningMeshConfig(opts.stateDir)];
          } catch (err) {
            process.stderr.write(`tsmesh analyze: ${(err as Error).message}\n`);
            process.exitCode = 2;
            return;
          }
        }
        process.exitCode = await runAnalyze(paths, opts);
      },
    );
}

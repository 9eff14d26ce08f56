import type { Command } from 'commander';

export function register(program: Command): void {
  const ca = program.command('ca').description("the mesh's certificate authority");
  ca.command('init')
    .description('create a mesh root CA and print the Kubernetes Secret that holds it')
    .option('--out <dir>', 'where to write the CA files (ca-key.pem is created 0600)', 'tsmesh-ca')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local')
    .option('--namespace <ns>', "the control plane's namespace (the Secret's)", 'tsmesh-system')
    .option('-o, --output <format>', 'yaml (the Secret) or json ({secret, trustBundle})', 'yaml')
    .addHelpText(
      'after',
      [
        '',
        'Prints the Secret on stdout; the public trust bundle is <out>/trust-bundle.pem (give it to the',
        'Mesh construct). Keep <out>/ca-key.pem safe or delete it once the Secret is applied.',
        '',
        'Exit codes: 0 created, 1 a CA key already exists in --out, 2 bad usage.',
        '',
        'Example:',
        '  tsmesh ca init --out ./tsmesh-ca > tsmesh-ca-secret.yaml && kubectl apply -f tsmesh-ca-secret.yaml',
        '',
      ].join('\n'),
    )
    .action(async (opts: { out: string; trustDomain: string; namespace: string; output: string }) => {
      const { initCa } = await import('../../control-plane/ca-init.js');
      try {
        const { secretYaml, trustBundlePem } = await initCa(opts);
        if (opts.output === 'json') {
          process.stdout.write(
            `${JSON.stringify({ secret: secretYaml, trustBundle: [trustBundlePem] }, null, 2)}\n`,
          );
        } else {
          process.stdout.write(secretYaml);
          process.stderr.write(
            `created a mesh root in ${opts.out}; trust bundle: ${opts.out}/trust-bundle.pem\n`,
          );
        }
      } catch (err) {
        process.stderr.write(`tsmesh ca init: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

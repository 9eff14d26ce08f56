import type { Command } from 'commander';

interface ExplainCommandOptions {
  file: string[];
  mesh?: boolean;
  stateDir?: string;
  from?: string;
  header: string[];
  request?: string;
  output: string;
  rootNamespace?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command('explain')
    .description(
      'show what the mesh does with one request: route, subsets, timeout, retries, fault, mirror, mTLS and authorization',
    )
    .argument('<url>', 'the request URL as the caller writes it, e.g. http://reviews:9080/reviews/0')
    .option('-f, --file <path>', 'YAML or JSON file or folder with the mesh config (repeatable)', collect, [])
    .option('--mesh', 'use the running local mesh config (its files plus what tsmesh apply changed)')
    .option('--state-dir <dir>', 'the running mesh state, with --mesh', '.tsmesh')
    .option(
      '--from <ns/workload>',
      'the calling workload (a Deployment); default: a sidecar in namespace default',
    )
    .option('-H, --header <header>', "a request header 'name: value' (repeatable)", collect, [])
    .option('-X, --request <method>', 'the HTTP method', 'GET')
    .option('-o, --output <format>', 'text or json', 'text')
    .option(
      '--root-namespace <ns>',
      "the control plane's namespace (default: MeshConfig's, else tsmesh-system)",
    )
    .addHelpText(
      'after',
      [
        '',
        'Exit codes: 0 explained, 1 the config has errors (run tsmesh analyze), 2 bad usage (URL, header, caller).',
        '',
        'Examples:',
        "  tsmesh explain -f dist/ --from default/productpage-v1 -H 'end-user: jason' http://reviews:9080/reviews/0",
        '  tsmesh explain -f bookinfo.yaml -f reviews-75-25.yaml -o json http://reviews.default:9080/',
        '',
      ].join('\n'),
    )
    .action(async (url: string, opts: ExplainCommandOptions) => {
      process.exitCode = await runExplain(url, opts);
    });
}

/** The body of `tsmesh explain`; returns the exit code. */
export async function runExplain(
  url: string,
  opts: ExplainCommandOptions,
  io: { out(t: string): void; err(t: string): void } = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  },
): Promise<number> {
  if (opts.output !== 'text' && opts.output !== 'json') {
    io.err(`tsmesh explain: -o must be text or json, got ${JSON.stringify(opts.output)}\n`);
    return 2;
  }
  if (opts.mesh) {
    const { writeRunningMeshConfig } = await import('../../local/mesh-config.js');
    try {
      opts = { ...opts, file: [...opts.file, writeRunningMeshConfig(opts.stateDir ?? '.tsmesh')] };
    } catch (err) {
      io.err(`tsmesh explain: ${(err as Error).message}\n`);
      return 2;
    }
  }
  if (opts.file.length === 0) {
    io.err('tsmesh explain: give the config with -f FILE or --mesh (see tsmesh explain --help)\n');
    return 2;
  }
  const headers: Record<string, string> = {};
  for (const h of opts.header) {
    const colon = h.indexOf(':');
    if (colon <= 0) {
      io.err(`tsmesh explain: header ${JSON.stringify(h)} must look like 'name: value'\n`);
      return 2;
    }
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  }
  const [{ loadConfigPaths }, { validateObjects }, diagnostics, { explain, formatExplain }] =
    await Promise.all([
      import('../../config/load.js'),
      import('../../../lib/api/validate.js'),
      import('../../../lib/api/diagnostics.js'),
      import('../../../lib/explain.js'),
    ]);
  const loaded = await loadConfigPaths(opts.file);
  const problems = [...loaded.diagnostics, ...validateObjects(loaded.objects)];
  for (const d of problems)
    if (d.code === diagnostics.DIAGNOSTIC_CODES.notSupported.code) d.severity = 'warning';
  const errors = diagnostics.sortDiagnostics(problems.filter((d) => d.severity === 'error'));
  if (errors.length > 0) {
    for (const d of errors) io.err(`${diagnostics.formatDiagnostic(d)}\n`);
    io.err(
      `tsmesh explain: the config has ${errors.length} error(s); fix them first (tsmesh analyze shows all problems)\n`,
    );
    return 1;
  }
  let result: ReturnType<typeof explain>;
  try {
    result = explain(
      { objects: loaded.objects.map((o) => o.object) },
      { url, method: opts.request, headers, ...(opts.from ? { from: opts.from } : {}) },
      opts.rootNamespace ? { rootNamespace: opts.rootNamespace } : {},
    );
  } catch (err) {
    io.err(`tsmesh explain: ${(err as Error).message}\n`);
    return 2;
  }
  const warnings = problems.filter((d) => d.severity === 'warning').length;
  if (opts.output === 'json') {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    io.out(formatExplain(result));
    if (warnings > 0) io.err(`note: the config has ${warnings} warning(s); tsmesh analyze lists them\n`);
  }
  return 0;
}

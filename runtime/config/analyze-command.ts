/**
 * The body of `tsmesh analyze`: load files and folders, analyze, print, and return the exit code
 * (0 without errors, warnings included; 1 with errors; 2 for bad usage).
 */
import { analyze } from '../../lib/analyze.js';
import {
  countDiagnostics,
  DIAGNOSTIC_CODES,
  type Diagnostic,
  formatDiagnostic,
  sortDiagnostics,
} from '../../lib/api/diagnostics.js';
import { loadConfigPaths } from './load.js';

export interface AnalyzeCommandOptions {
  output?: string;
  target?: string;
  rootNamespace?: string;
  /** Report valid Istio config the bundled runtime does not implement as errors, not warnings. */
  strict?: boolean;
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Output = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** The JSON document `tsmesh analyze -o json` prints. */
export interface AnalyzeReport {
  diagnostics: Diagnostic[];
  summary: {
    errors: number;
    warnings: number;
    info: number;
    files: string[];
    objects: number;
    skipped: Record<string, number>;
  };
}

export async function runAnalyze(
  paths: string[],
  options: AnalyzeCommandOptions = {},
  io: Output = stdio,
): Promise<number> {
  const output = options.output ?? 'text';
  const target = options.target ?? 'bundled';
  if (output !== 'text' && output !== 'json') {
    io.err(`tsmesh analyze: -o must be text or json, got ${JSON.stringify(output)}\n`);
    return 2;
  }
  if (target !== 'bundled' && target !== 'istio') {
    io.err(`tsmesh analyze: --target must be bundled or istio, got ${JSON.stringify(target)}\n`);
    return 2;
  }
  if (paths.length === 0) {
    io.err('tsmesh analyze: give at least one file or folder (see tsmesh analyze --help)\n');
    return 2;
  }
  const loaded = await loadConfigPaths(paths, { target });
  const unsupported = options.strict ? 'error' : 'warning';
  if (unsupported === 'warning') {
    for (const d of loaded.diagnostics)
      if (d.code === DIAGNOSTIC_CODES.notSupported.code) d.severity = 'warning';
  }
  const diagnostics = sortDiagnostics([
    ...loaded.diagnostics,
    ...analyze(loaded.objects, {
      target,
      unsupported,
      ...(options.rootNamespace ? { rootNamespace: options.rootNamespace } : {}),
    }),
  ]);
  const counts = countDiagnostics(diagnostics);
  if (output === 'json') {
    const report: AnalyzeReport = {
      diagnostics,
      summary: {
        errors: counts.error,
        warnings: counts.warning,
        info: counts.info,
        files: loaded.files,
        objects: loaded.objects.length,
        skipped: loaded.skipped,
      },
    };
    io.out(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    for (const d of diagnostics) io.out(`${formatDiagnostic(d)}\n`);
    io.out(`${summaryLine(counts, loaded.files.length, loaded.objects.length, loaded.skipped)}\n`);
  }
  return counts.error > 0 ? 1 : 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;
}

function summaryLine(
  counts: Record<'error' | 'warning' | 'info', number>,
  files: number,
  objects: number,
  skipped: Record<string, number>,
): string {
  const scope = `${plural(files, 'file')}, ${plural(objects, 'object')}`;
  const kinds = Object.entries(skipped).sort(([a], [b]) => (a < b ? -1 : 1));
  const skippedText = kinds.length
    ? `; skipped ${plural(
        kinds.reduce((n, [, c]) => n + c, 0),
        'object',
      )} the mesh does not use (${kinds.map(([k, c]) => `${k} ${c}`).join(', ')})`
    : '';
  if (counts.error + counts.warning + counts.info === 0) {
    return `✔ No validation issues found in ${scope}${skippedText}.`;
  }
  const mark = counts.error > 0 ? '✘' : '✔';
  return `${mark} ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')}, ${counts.info} info in ${scope}${skippedText}.`;
}

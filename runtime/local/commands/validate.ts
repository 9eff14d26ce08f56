/**
 * Validation of the mesh objects before `tsmesh up` starts anything, with the same loader and
 * rules as `tsmesh analyze` (lib/api): any error, including valid Istio config the bundled
 * runtime does not implement, refuses the start with every diagnostic.
 */
import { formatDiagnostic, sortDiagnostics } from '../../../lib/api/diagnostics.js';
import { validateObjects } from '../../../lib/api/validate.js';
import { loadConfigPaths } from '../../config/load.js';
import { CliError, EXIT } from '../mesh-ref.js';

export async function validateConfig(files: string[]): Promise<void> {
  const loaded = await loadConfigPaths(files, { target: 'bundled' });
  const diagnostics = [...loaded.diagnostics, ...validateObjects(loaded.objects, { target: 'bundled' })];
  const errors = sortDiagnostics(diagnostics.filter((d) => d.severity === 'error'));
  if (errors.length === 0) return;
  throw new CliError(
    `the mesh configuration has ${errors.length} error${errors.length === 1 ? '' : 's'}; nothing was started:\n${errors
      .map((d) => `  ${formatDiagnostic(d)}`)
      .join('\n')}\n(tsmesh analyze ${files.length === 1 ? files[0] : '<files>'} shows the same)`,
    EXIT.failed,
  );
}

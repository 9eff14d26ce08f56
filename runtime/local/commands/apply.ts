/**
 * `tsmesh apply -f FILE...` / `tsmesh delete -f FILE...`: sends Istio-API objects to the running
 * mesh's control plane, which validates, persists and pushes them, answering once every affected
 * sidecar ACKed. Invalid input changes nothing (the control plane refuses the whole request).
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ApplyResponse, Diagnostic, ErrorResponse } from '../../../lib/protocol/admin.js';
import { adminRequest } from '../admin-client.js';
import { expandPaths } from '../manifests.js';
import { CliError, EXIT, findMesh } from '../mesh-ref.js';
import { type OutputFormat, render } from '../table.js';

export interface ApplyOptions {
  stateDir: string;
  files: string[];
  namespace?: string;
  output: OutputFormat;
  timeoutMs: number;
}

/** Reads the objects of the files (`-` is stdin), filling in the namespace like kubectl. */
export function readObjects(files: string[], namespace?: string): Record<string, any>[] {
  if (files.length === 0) throw new CliError('no input: use -f FILE (or -f - for stdin)', EXIT.usage);
  const objects: Record<string, any>[] = [];
  const sources = files.flatMap((f) => (f === '-' ? ['-'] : expandPaths([f])));
  for (const file of sources) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    for (const [i, doc] of parseAllDocuments(text).entries()) {
      if (doc.errors.length > 0) {
        throw new CliError(`${file}: document ${i + 1}: ${doc.errors[0].message}; nothing was applied`);
      }
      const value = doc.toJS() as Record<string, any> | null;
      if (value === null || value === undefined) continue;
      const items = value.kind === 'List' && Array.isArray(value.items) ? value.items : [value];
      for (const obj of items) {
        if (
          typeof obj !== 'object' ||
          obj === null ||
          typeof obj.kind !== 'string' ||
          typeof obj.metadata?.name !== 'string'
        ) {
          throw new CliError(
            `${file}: document ${i + 1}: not an object with kind and metadata.name; nothing was applied`,
          );
        }
        if (obj.kind !== 'Namespace' && !obj.metadata.namespace) {
          obj.metadata = { ...obj.metadata, namespace: namespace ?? 'default' };
        } else if (namespace && obj.metadata.namespace && obj.metadata.namespace !== namespace) {
          throw new CliError(
            `${file}: ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}: namespace ${obj.metadata.namespace} does not match -n ${namespace}; nothing was applied`,
          );
        }
        objects.push(obj);
      }
    }
  }
  if (objects.length === 0) throw new CliError(`no objects in ${files.join(', ')}`, EXIT.usage);
  return objects;
}

export async function applyOrDelete(verb: 'apply' | 'delete', o: ApplyOptions): Promise<number> {
  const objects = readObjects(o.files, o.namespace);
  const state = findMesh(o.stateDir);
  const res = await adminRequest<ApplyResponse & ErrorResponse>(state.controlPlane.adminSocket, {
    path: `/v1/${verb}`,
    body: { objects, timeoutMs: o.timeoutMs },
    timeoutMs: o.timeoutMs + 10_000,
  });
  const body = res.body;
  if (res.status >= 200 && res.status < 300) {
    process.stdout.write(
      render(o.output, body, () => {
        const changed = new Set(body.changed ?? []);
        const lines = objects.map((obj) => {
          const ref = `${obj.kind} ${obj.kind === 'Namespace' ? '' : `${obj.metadata.namespace}/`}${obj.metadata.name}`;
          return `${ref} ${changed.has(ref) ? (verb === 'apply' ? 'configured' : 'deleted') : 'unchanged'}`;
        });
        for (const w of body.warnings ?? []) lines.push(`warning: ${formatDiagnostic(w)}`);
        const acked = body.acked ?? [];
        lines.push(
          `config version ${body.configVersion}: ${acked.length === 0 ? 'no sidecar affected' : `ACKed by ${acked.length} sidecar${acked.length === 1 ? '' : 's'} (${acked.join(', ')})`}`,
        );
        return `${lines.join('\n')}\n`;
      }),
    );
    return EXIT.ok;
  }
  if (o.output === 'json' || o.output === 'yaml') process.stdout.write(render(o.output, body, () => ''));
  const lines = [`error: ${verb} refused: ${typeof body === 'object' ? (body.error ?? res.text) : res.text}`];
  for (const d of body?.diagnostics ?? []) lines.push(`  ${formatDiagnostic(d)}`);
  for (const n of body?.nacks ?? []) lines.push(`  ${n.proxy} NACKed version ${n.version}: ${n.error}`);
  if (body?.pending?.length) lines.push(`  no answer yet from: ${body.pending.join(', ')}`);
  if (res.status === 400) lines.push('nothing was changed');
  process.stderr.write(`${lines.join('\n')}\n`);
  return EXIT.failed;
}

function formatDiagnostic(d: Diagnostic | Record<string, any>): string {
  const where = [d.object, d.path].filter(Boolean).join(': ');
  return `${d.severity ?? 'error'}: ${where ? `${where}: ` : ''}${d.message}`;
}

/**
 * Builds the `tsmesh` command (main.ts runs it). Every subcommand lives in ./commands/<name>.js
 * and exports `register(program)`; the module stays light at top level and imports its
 * implementation lazily inside the action, so `tsmesh --help` is fast.
 *
 * When the first argument names a command file (`tsmesh proxy ...`), only that file is loaded:
 * a sidecar runs as `tsmesh proxy` for its whole life, and the other commands' modules would
 * stay in its memory for nothing. Anything else (`tsmesh`, `tsmesh --help`, `tsmesh help up`, a
 * misspelt command) registers every command, so help and suggestions list them all.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { TSMESH_VERSION } from '../../lib/constants.js';

const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/** The command modules to load for `argv` (node, script, args...): the named one, or all. */
export function commandFiles(argv: readonly string[], dir = COMMANDS_DIR): string[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))
    .sort();
  const name = argv[2];
  if (name === undefined || name.startsWith('-')) return files;
  const named = files.filter((f) => f === `${name}.js` || f === `${name}.ts`);
  return named.length > 0 ? named : files;
}

export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('tsmesh')
    .description('tsmesh: a service mesh declared as TypeScript')
    .version(TSMESH_VERSION)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExamples:\n  tsmesh up dist/ --detach\n  tsmesh explain -f dist/ --from default/productpage http://reviews:9080/reviews/0\n',
    );
  for (const file of commandFiles(argv)) {
    const mod = (await import(pathToFileURL(join(COMMANDS_DIR, file)).href)) as {
      register?: (p: Command) => void;
    };
    mod.register?.(program);
  }
  return program;
}

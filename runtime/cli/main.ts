#!/usr/bin/env node
/**
 * The `tsmesh` command. Every subcommand lives in ./commands/<name>.js and exports
 * `register(program)`; the module stays light at top level and imports its implementation
 * lazily inside the action, so `tsmesh --help` is fast.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { TSMESH_VERSION } from '../../lib/constants.js';

export async function buildProgram(): Promise<Command> {
  const program = new Command('tsmesh')
    .description('tsmesh: a service mesh declared as TypeScript')
    .version(TSMESH_VERSION)
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExamples:\n  tsmesh up dist/ --detach\n  tsmesh explain -f dist/ --from default/productpage http://reviews:9080/reviews/0\n',
    );
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))
    .sort();
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

const program = await buildProgram();
await program.parseAsync(process.argv);

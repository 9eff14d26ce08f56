/** Where the tsmesh package is, and the command that runs its compiled CLI. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this module whose package.json is tsmesh's. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tsmesh') return dir;
      } catch {}
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the tsmesh package above ${from}`);
    dir = up;
  }
}

/** `node <root>/build/runtime/cli/main.js`, unless overridden (tests run stand-ins). */
export function tsmeshCommand(root: string, override?: string[]): string[] {
  if (override && override.length > 0) return override;
  const fromEnv = process.env.TSMESH_LOCAL_COMMAND;
  if (fromEnv) return JSON.parse(fromEnv) as string[];
  return [process.execPath, join(root, 'build', 'runtime', 'cli', 'main.js')];
}

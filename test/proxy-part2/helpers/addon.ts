/**
 * Builds the SO_ORIGINAL_DST addon once for all test files through its npm script, under a lock,
 * so test files running in parallel never run node-gyp in the same folder at the same time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');
const NATIVE = join(ROOT, 'runtime/proxy/tcp/native');
const ADDON = join(NATIVE, 'build/Release/original_dst.node');
const SOURCE = join(NATIVE, 'src/original_dst.c');
const LOCK = join(NATIVE, '.build-lock');

function upToDate(): boolean {
  return existsSync(ADDON) && statSync(ADDON).mtimeMs >= statSync(SOURCE).mtimeMs;
}

export async function ensureAddon(): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (upToDate()) return;
    try {
      mkdirSync(LOCK);
    } catch {
      if (Date.now() > deadline) throw new Error(`addon build lock ${LOCK} held for too long`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      if (!upToDate()) {
        execFileSync('npm', ['run', '--silent', 'build:native'], {
          cwd: ROOT,
          stdio: 'pipe',
          timeout: 110_000,
        });
      }
      return;
    } finally {
      rmSync(LOCK, { recursive: true, force: true });
    }
  }
}

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../runtime/control-plane/atomic-file.js';

describe('atomic state files', () => {
  it('never leaves a torn file when the writer is killed mid-write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsmesh-atomic-'));
    const path = join(dir, 'applied.json');
    try {
      let last = 0;
      for (let round = 0; round < 4; round++) {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'atomic-writer.ts'), path],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
        await new Promise((r) => setTimeout(r, 50 + round * 70));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const content = JSON.parse(await readFile(path, 'utf8')) as { n: number; pad: string };
        expect(content.pad).toBe(String(content.n % 10).repeat(100_000 + (content.n % 7) * 50_000));
        expect(content.n).toBeGreaterThan(0);
        last = content.n;
      }
      expect(last).toBeGreaterThan(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes with the requested mode and replaces the old content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsmesh-atomic-'));
    try {
      const path = join(dir, 'token-key');
      await writeFileAtomic(path, 'one', 0o600);
      await writeFileAtomic(path, 'two', 0o600);
      expect(await readFile(path, 'utf8')).toBe('two');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

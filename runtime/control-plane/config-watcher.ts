/**
 * Notices changes under the config paths. fs.watch gives the fast path; a periodic fingerprint
 * (resolved path, size and mtime of every config file) catches what fs.watch misses, such as the
 * kubelet swapping its `..data` symlink to a new timestamped folder.
 */
import { type FSWatcher, watch } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { listConfigFiles } from './config-files.js';

export interface ConfigWatcherOptions {
  paths: readonly string[];
  onChange: () => void;
  /** @default 100 */
  debounceMs?: number;
  /** @default 2000 */
  pollMs?: number;
}

export class ConfigWatcher {
  private watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private poller?: NodeJS.Timeout;
  private fingerprint = '';
  private closed = false;

  constructor(private readonly options: ConfigWatcherOptions) {}

  async start(): Promise<void> {
    this.fingerprint = await this.computeFingerprint();
    for (const path of this.options.paths) {
      let target = path;
      try {
        if (!(await stat(path)).isDirectory()) target = dirname(path);
      } catch {
        target = dirname(path);
      }
      try {
        const w = watch(target, { persistent: false }, () => this.schedule());
        w.on('error', () => {});
        this.watchers.push(w);
      } catch {
        // The folder may not exist yet; polling covers it.
      }
    }
    const poll = async (): Promise<void> => {
      if (this.closed) return;
      const fp = await this.computeFingerprint();
      if (fp !== this.fingerprint) this.schedule();
      if (!this.closed) this.poller = setTimeout(poll, this.options.pollMs ?? 2000);
    };
    this.poller = setTimeout(poll, this.options.pollMs ?? 2000);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      const fp = await this.computeFingerprint();
      if (fp === this.fingerprint) return;
      this.fingerprint = fp;
      this.options.onChange();
    }, this.options.debounceMs ?? 100);
  }

  private async computeFingerprint(): Promise<string> {
    try {
      const files = await listConfigFiles(this.options.paths);
      const parts = await Promise.all(
        files.map(async (f) => {
          try {
            const real = await realpath(f);
            const s = await stat(real);
            return `${f}>${real}:${s.size}:${s.mtimeMs}`;
          } catch {
            return `${f}:missing`;
          }
        }),
      );
      return parts.join('\n');
    } catch (err) {
      return `error:${(err as Error).message}`;
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.poller);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}

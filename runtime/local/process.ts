/**
 * One supervised local process: spawned in its own process group (so a signal reaches its
 * children too), its output forwarded to the log sink, its exit observable.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { LogSink } from './logs.js';

export interface ProcessSpec {
  /** The log prefix, e.g. `reviews-v1-0` or `reviews-v1-0/tsmesh-proxy`. */
  name: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Run inside this network namespace (`ip netns exec`, which also mounts its hosts file). */
  netns?: string;
  /** Run with this group id (the proxy: 1337). */
  gid?: number;
}

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;

  constructor(
    readonly spec: ProcessSpec,
    logs: LogSink,
  ) {
    let argv = spec.argv;
    if (spec.gid !== undefined) {
      argv = ['setpriv', `--regid=${spec.gid}`, '--clear-groups', '--', ...argv];
    }
    if (spec.netns) argv = ['ip', 'netns', 'exec', spec.netns, ...argv];
    this.child = spawn(argv[0], argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    logs.attach(spec.name, this.child.stdout!);
    logs.attach(spec.name, this.child.stderr!);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        logs.line(spec.name, `cannot start ${spec.argv[0]}: ${err.message}`);
        this.exitCode = 127;
        resolve(127);
      });
      this.child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : null);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Signals the whole process group. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {}
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

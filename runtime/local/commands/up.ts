/**
 * `tsmesh up`: in the foreground (logs until Ctrl-C; a second Ctrl-C forces) or `--detach`
 * (a daemonized runner; returns once everything is ready).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ownerAlive } from '../leases.js';
import { CliError, EXIT } from '../mesh-ref.js';
import { LocalMesh } from '../runner.js';
import { readState } from '../state.js';
import type { LocalMode } from '../topology.js';
import { printSummary } from './summary.js';
import { validateConfig } from './validate.js';

export interface UpOptions {
  paths: string[];
  stateDir: string;
  detach?: boolean;
  daemonChild?: boolean;
  mode?: LocalMode | 'auto';
  certTtl?: string;
  timeout?: number;
  color?: boolean;
}

export async function up(o: UpOptions): Promise<number> {
  const paths = o.paths.length > 0 ? o.paths : ['dist'];
  if (o.detach) return detach({ ...o, paths });
  const daemon = o.daemonChild === true;
  const color = !daemon && (o.color ?? process.stdout.isTTY === true);
  const mesh = new LocalMesh({
    paths,
    stateDir: o.stateDir,
    mode: o.mode,
    certTtl: o.certTtl,
    readyTimeoutMs: (o.timeout ?? 60) * 1000,
    color,
    validate: validateConfig,
  });
  let interrupts = 0;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(
        sig === 'SIGINT'
          ? '\nGracefully stopping... (press Ctrl+C again to force)\n'
          : `\nstopping (${sig})\n`,
      );
      mesh.stop(false).then(resolveStopped, resolveStopped);
    } else {
      process.stderr.write('\nforcing stop\n');
      mesh.stop(true).then(resolveStopped, resolveStopped);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const state = await mesh.start();
    if (interrupts === 0) {
      if (!daemon) printSummary(state, process.stdout, color);
      else process.stdout.write(`tsmesh: mesh ready (${state.pods.length} pods)\n`);
    }
  } catch (e) {
    if (interrupts > 0) {
      await stopped;
      return EXIT.ok;
    }
    process.stderr.write(`tsmesh up: ${(e as Error).message}\n`);
    return e instanceof CliError ? e.exitCode : EXIT.failed;
  }
  await stopped;
  process.stdout.write('tsmesh: stopped\n');
  return EXIT.ok;
}

async function detach(o: UpOptions): Promise<number> {
  const stateDir = resolve(o.stateDir);
  const existing = readState(stateDir);
  if (existing && ownerAlive(existing)) {
    throw new CliError(
      `a mesh is already running from ${o.stateDir}/ (runner pid ${existing.pid}); stop it with tsmesh down`,
    );
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const logFile = join(stateDir, 'runner.log');
  const fd = openSync(logFile, 'w', 0o600);
  const args = [process.argv[1], 'up', ...o.paths, '--state-dir', stateDir, '--daemon-child'];
  if (o.mode) args.push('--mode', o.mode);
  if (o.certTtl) args.push('--cert-ttl', o.certTtl);
  if (o.timeout) args.push('--timeout', String(o.timeout));
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    cwd: process.cwd(),
  });
  closeSync(fd);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  const deadline = Date.now() + ((o.timeout ?? 60) + 30) * 1000;
  for (;;) {
    const state = readState(stateDir);
    if (state?.phase === 'ready' && state.pid === child.pid) {
      child.unref();
      printSummary(state, process.stdout, process.stdout.isTTY === true);
      process.stdout.write(
        `logs: ${logFile}\nstop with: tsmesh down${o.stateDir === '.tsmesh' ? '' : ` --state-dir ${o.stateDir}`}\n`,
      );
      return EXIT.ok;
    }
    if (exited !== undefined || Date.now() > deadline) {
      if (exited === undefined) child.kill('SIGTERM');
      const log = readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
      process.stderr.write(`${log}\ntsmesh up: the mesh did not become ready (full log: ${logFile})\n`);
      return EXIT.failed;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

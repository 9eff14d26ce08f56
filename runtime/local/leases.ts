/**
 * Leases of instance numbers, so concurrent runs (and tests) never share a namespace name or a
 * subnet. A lease is a file `<dir>/<n>.json` created with O_EXCL under a short directory lock;
 * a lease whose owner process is gone (checked by pid and process start time) is a leftover of
 * a crash: it is reclaimed after the caller cleaned what it left behind.
 */
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface LeaseRecord {
  index: number;
  pid: number;
  /** The owner's start time (field 22 of /proc/<pid>/stat), to tell a reused pid apart. */
  pidStart: string;
  stateDir: string;
  mode: 'netns' | 'loopback';
  created: string;
}

export interface Lease {
  readonly record: LeaseRecord;
  readonly file: string;
  /** Points the lease at another owner (the daemon that takes over after --detach). */
  transfer(pid: number): void;
  release(): void;
}

export interface LeaseOptions {
  dir: string;
  stateDir: string;
  mode: LeaseRecord['mode'];
  /** Number of instance slots. @default 200 */
  slots?: number;
  /** Cleans what a dead owner left behind before its lease is reused. */
  reclaim?: (stale: LeaseRecord) => void | Promise<void>;
  /** @default process.pid */
  pid?: number;
}

/** The start time of a process, or undefined when it does not exist. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (Z) or dead (X) process has exited; only its parent has not collected it yet.
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True when the process that wrote the record is still the same running process. */
export function ownerAlive(rec: Pick<LeaseRecord, 'pid' | 'pidStart'>): boolean {
  return processStart(rec.pid) === rec.pidStart;
}

export function readLeases(dir: string): LeaseRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: LeaseRecord[] = [];
  for (const name of names) {
    if (!/^\d+\.json$/.test(name)) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as LeaseRecord);
    } catch {}
  }
  return out.sort((a, b) => a.index - b.index);
}

export async function acquireLease(options: LeaseOptions): Promise<Lease> {
  const { dir, slots = 200 } = options;
  const pid = options.pid ?? process.pid;
  if (mkdirSync(dir, { recursive: true }) !== undefined) {
    // Shared by every user's runs; sticky, so nobody removes another's lease.
    try {
      chmodSync(dir, 0o1777);
    } catch {}
  }
  return withDirLock(dir, async () => {
    for (let index = 0; index < slots; index++) {
      const file = join(dir, `${index}.json`);
      const record: LeaseRecord = {
        index,
        pid,
        pidStart: processStart(pid) ?? '',
        stateDir: options.stateDir,
        mode: options.mode,
        created: new Date().toISOString(),
      };
      if (tryCreate(file, record)) return makeLease(file, record);
      let existing: LeaseRecord | undefined;
      try {
        existing = JSON.parse(readFileSync(file, 'utf8')) as LeaseRecord;
      } catch {
        continue;
      }
      if (ownerAlive(existing)) continue;
      await options.reclaim?.(existing);
      try {
        unlinkSync(file);
      } catch {}
      if (tryCreate(file, record)) return makeLease(file, record);
    }
    throw new Error(`no free local mesh slot in ${dir} (${slots} in use); stop a mesh with tsmesh down`);
  });
}

/** Removes a lease file if it still belongs to the given record (used by `tsmesh down`). */
export function releaseLeaseFile(dir: string, index: number): void {
  try {
    unlinkSync(join(dir, `${index}.json`));
  } catch {}
}

function makeLease(file: string, record: LeaseRecord): Lease {
  return {
    record,
    file,
    transfer(pid: number) {
      record.pid = pid;
      record.pidStart = processStart(pid) ?? '';
      writeJson(file, record);
    },
    release() {
      try {
        const current = JSON.parse(readFileSync(file, 'utf8')) as LeaseRecord;
        if (current.pid !== record.pid) return;
        unlinkSync(file);
      } catch {}
    },
  };
}

function tryCreate(file: string, record: LeaseRecord): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(record));
  } finally {
    closeSync(fd);
  }
  return true;
}

function writeJson(file: string, value: unknown): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, JSON.stringify(value));
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` holding `<dir>/.lock` (O_EXCL); a lock whose holder died is broken. */
async function withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o644);
      writeSync(fd, JSON.stringify({ pid: process.pid, pidStart: processStart(process.pid) }));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        const holder = JSON.parse(readFileSync(lock, 'utf8')) as { pid: number; pidStart: string };
        if (!ownerAlive(holder)) {
          unlinkSync(lock);
          continue;
        }
      } catch {
        // Being written right now, or just removed: retry.
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lease lock ${lock}`);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {}
  }
}

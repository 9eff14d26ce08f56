/**
 * Keeps a proxy's old generation near what is live in it.
 *
 * After a full collection V8 lets a small heap's old generation grow by at least 8 MB, plus the
 * young generation's size, before it collects again. A sidecar under load promotes 0.3–1 MB a
 * second (requests that happen to be in flight at two scavenges), so its old generation climbs
 * from ~10 MB live to 20 MB and more between collections, and the pages stay resident. The pacer
 * samples the old generation every `intervalMs` and starts a full collection once it holds more
 * than `slackMb` above what the last full collection left. With ~10 MB live a collection takes a
 * few milliseconds, and under load it comes every few seconds.
 *
 * It backs off when a collection frees little (the heap is really growing: a bigger config, more
 * connections): the pause between its collections doubles, up to `maxBackoffMs`, and resets once
 * a collection frees at least half the slack again.
 *
 * One pacer per process (the heap is the process's); `heapPacerStatus()` reports the running one.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface HeapPacerOptions {
  /** Old-generation bytes allowed above the last full collection's, in MB (> 0). */
  slackMb: number;
  /** Sampling period. */
  intervalMs?: number;
  /** Shortest time between two collections the pacer starts. */
  minPauseMs?: number;
  /** Longest time between them when collections free little. */
  maxBackoffMs?: number;
}

export interface HeapPacerStatus {
  slackMb: number;
  /** Full collections the pacer started. */
  collections: number;
  /** Old generation after the last full collection (the pacer's or V8's own), MB. */
  baseMb: number;
  /** Old generation now, MB. */
  oldMb: number;
  /** Current pause between the pacer's collections, ms. */
  pauseMs: number;
}

type GcFunction = (options: { type: 'major'; execution: 'async' }) => Promise<void> | undefined;

const MB = 1024 * 1024;

/** Bytes in use in every space but the young generation. */
export function oldGenerationBytes(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space') used += s.space_used_size;
  }
  return used;
}

let running: HeapPacer | undefined;

/** The status of the process's pacer, or null when none runs. */
export function heapPacerStatus(): HeapPacerStatus | null {
  return running ? running.status() : null;
}

/** Starts the process's pacer (replacing a running one). */
export function startHeapPacer(options: HeapPacerOptions): HeapPacer {
  running?.stop();
  running = new HeapPacer(options);
  return running;
}

function gcFunction(): GcFunction {
  // `gc` exists only with --expose-gc; a fresh context created after setting the flag has it,
  // without putting it on this context's global object.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as GcFunction | undefined;
  if (typeof gc !== 'function') throw new Error('V8 did not expose gc()');
  return gc;
}

export class HeapPacer {
  readonly #slack: number;
  readonly #minPause: number;
  readonly #maxBackoff: number;
  readonly #gc: GcFunction;
  readonly #timer: NodeJS.Timeout;
  #base: number;
  #prev: number;
  #pause: number;
  #lastStart = 0;
  #collecting = false;
  #beforeCollect = 0;
  #collections = 0;

  constructor(options: HeapPacerOptions) {
    if (!(options.slackMb > 0)) throw new Error(`heap slack must be > 0 MB, got ${options.slackMb}`);
    this.#slack = options.slackMb * MB;
    this.#minPause = options.minPauseMs ?? 1000;
    this.#maxBackoff = options.maxBackoffMs ?? 60_000;
    this.#pause = this.#minPause;
    this.#gc = gcFunction();
    this.#base = this.#prev = oldGenerationBytes();
    this.#timer = setInterval(() => this.tick(), options.intervalMs ?? 250);
    this.#timer.unref();
  }

  /** One sample; public for tests. */
  tick(now = Date.now()): void {
    const used = oldGenerationBytes();
    // The old generation shrinks only in a full collection (and the sweeping after it): what
    // is left then is the new base.
    if (used < this.#prev) this.#base = used;
    this.#prev = used;
    if (this.#collecting || used - this.#base <= this.#slack || now - this.#lastStart < this.#pause) return;
    this.#collecting = true;
    this.#lastStart = now;
    this.#beforeCollect = used;
    const finish = () => {
      this.#collecting = false;
      this.#collections++;
      const after = oldGenerationBytes();
      this.#base = after;
      this.#prev = after;
      this.#pause =
        this.#beforeCollect - after < this.#slack / 2
          ? Math.min(this.#pause * 2, this.#maxBackoff)
          : this.#minPause;
    };
    const result = this.#gc({ type: 'major', execution: 'async' });
    if (result && typeof result.then === 'function') result.then(finish, finish);
    else finish();
  }

  status(): HeapPacerStatus {
    const round = (bytes: number) => Math.round((bytes / MB) * 10) / 10;
    return {
      slackMb: this.#slack / MB,
      collections: this.#collections,
      baseMb: round(this.#base),
      oldMb: round(oldGenerationBytes()),
      pauseMs: this.#pause,
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    if (running === this) running = undefined;
  }
}

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HeapPacer,
  heapPacerStatus,
  oldGenerationBytes,
  startHeapPacer,
} from '../../runtime/proxy/heap-pacer.js';
import { heapSlackMb, UsageError } from '../../runtime/proxy/main.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MB = 1024 * 1024;
const settle = () => new Promise((r) => setTimeout(r, 100));

/** ~`mb` MB of small objects, moved to the old generation by a full collection. */
function oldGarbage(mb: number): object[] {
  const junk: object[] = [];
  for (let i = 0; i < mb * 12_000; i++) junk.push({ i, s: `entry ${i}` });
  gc();
  return junk;
}

describe('heap pacer', () => {
  let pacer: HeapPacer | undefined;
  afterEach(() => pacer?.stop());

  it('collects once the old generation holds more than the slack above its base, and frees the garbage', async () => {
    gc();
    pacer = new HeapPacer({ slackMb: 1, intervalMs: 3_600_000, minPauseMs: 0 });
    let junk: object[] | undefined = oldGarbage(4);
    const held = oldGenerationBytes();
    expect(held - pacer.status().baseMb * MB).toBeGreaterThan(1 * MB);
    junk = undefined;
    pacer.tick();
    await settle();
    const s = pacer.status();
    expect(s.collections).toBe(1);
    expect(held - s.baseMb * MB).toBeGreaterThan(2 * MB);
    expect(junk).toBeUndefined();
  });

  it('does nothing under the slack', async () => {
    gc();
    pacer = new HeapPacer({ slackMb: 64, intervalMs: 3_600_000, minPauseMs: 0 });
    const junk = oldGarbage(2);
    pacer.tick();
    await settle();
    expect(pacer.status().collections).toBe(0);
    expect(junk.length).toBeGreaterThan(0);
  });

  it('backs off when a collection frees little (the heap really grew), and resets when one frees the slack', async () => {
    gc();
    pacer = new HeapPacer({ slackMb: 1, intervalMs: 3_600_000, minPauseMs: 10, maxBackoffMs: 40 });
    const live: object[][] = [];
    let now = 1_000_000;
    for (let i = 0; i < 3; i++) {
      live.push(oldGarbage(2));
      pacer.tick((now += 1000));
      await settle();
    }
    expect(pacer.status().collections).toBe(3);
    expect(pacer.status().pauseMs).toBe(40);
    // Under the pause: no collection even far above the slack.
    live.push(oldGarbage(2));
    pacer.tick(now + 20);
    await settle();
    expect(pacer.status().collections).toBe(3);
    live.length = 0;
    pacer.tick((now += 1000));
    await settle();
    expect(pacer.status().collections).toBe(4);
    expect(pacer.status().pauseMs).toBe(10);
  });

  it('reports the running pacer of the process, and none once stopped', () => {
    pacer = startHeapPacer({ slackMb: 2, intervalMs: 3_600_000 });
    expect(heapPacerStatus()).toMatchObject({ slackMb: 2, collections: 0 });
    pacer.stop();
    expect(heapPacerStatus()).toBeNull();
  });

  it('refuses a slack that is not a positive number', () => {
    expect(() => new HeapPacer({ slackMb: 0 })).toThrow(/heap slack must be > 0 MB, got 0/);
  });
});

describe('--heap-slack', () => {
  it('defaults to 3 MB, takes 0 to turn the pacer off, and names the flag and value when wrong', () => {
    expect(heapSlackMb(undefined)).toBe(3);
    expect(heapSlackMb('0')).toBe(0);
    expect(heapSlackMb('1.5')).toBe(1.5);
    for (const bad of ['', 'lots', '-1', '2048']) {
      expect(() => heapSlackMb(bad)).toThrow(UsageError);
      expect(() => heapSlackMb(bad)).toThrow(
        `--heap-slack must be a number of MB from 0 to 1024 (0 turns it off), got '${bad}'`,
      );
    }
  });
});

/**
 * `npm run bench local-up`: how long `tsmesh up` takes to bring bookinfo (dist/, run
 * `npm run build && npm run synth` first) to ready and to stop it, and the request rate from
 * the sleep pod to reviews through two sidecars. Root mode when run as root, plus the loopback
 * fallback. Needs the compiled runtime (build/).
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isRoot } from '../runtime/local/environment.js';
import { findPod } from '../runtime/local/mesh-ref.js';
import { loadFromPod } from '../runtime/local/pod-exec.js';
import { LocalMesh } from '../runtime/local/runner.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const REQUESTS = Number(process.env.REQUESTS ?? 2000);
const sink = new Writable({ write: (_c, _e, cb) => cb() });

async function round(mode: 'netns' | 'loopback'): Promise<{ up: number; stop: number; rps: number }> {
  const stateDir = join(mkdtempSync(join(tmpdir(), 'tsmesh-bench-')), '.tsmesh');
  const mesh = new LocalMesh({ paths: ['dist/bookinfo.k8s.yaml'], stateDir, mode, out: sink });
  const t0 = performance.now();
  const state = await mesh.start();
  const up = performance.now() - t0;
  const load = await loadFromPod(state, findPod(state, 'sleep'), {
    url: 'http://reviews:9080/reviews/0',
    requests: REQUESTS,
    concurrency: 16,
  });
  const t1 = performance.now();
  await mesh.stop();
  return { up, stop: performance.now() - t1, rps: (1000 * REQUESTS) / load.durationMs };
}

const modes: ('netns' | 'loopback')[] = isRoot() ? ['netns', 'loopback'] : ['loopback'];
console.log(`bookinfo (${REQUESTS} requests sleep → reviews, concurrency 16), ${ROUNDS} rounds per mode`);
console.log('mode       up→ready (ms)   stop (ms)   req/s');
for (const mode of modes) {
  for (let i = 0; i < ROUNDS; i++) {
    const r = await round(mode);
    console.log(
      `${mode.padEnd(10)} ${r.up.toFixed(0).padStart(13)} ${r.stop.toFixed(0).padStart(11)} ${r.rps.toFixed(0).padStart(7)}`,
    );
  }
}

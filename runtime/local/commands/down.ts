/** `tsmesh down`: stops the mesh of a state dir and removes everything it created, also after a crash. */
import { cleanupLeftovers } from '../environment.js';
import { ownerAlive } from '../leases.js';
import { EXIT } from '../mesh-ref.js';
import { readState } from '../state.js';

export async function down(o: { stateDir: string; timeout?: number }): Promise<number> {
  const state = readState(o.stateDir);
  if (!state) {
    process.stdout.write(`no mesh in ${o.stateDir}/; nothing to stop\n`);
    return EXIT.ok;
  }
  if (ownerAlive(state)) {
    try {
      process.kill(state.pid, 'SIGTERM');
    } catch {}
    const deadline = Date.now() + (o.timeout ?? 30) * 1000;
    while (ownerAlive(state) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (ownerAlive(state)) {
      process.stderr.write(`runner pid ${state.pid} did not stop in time; killing it\n`);
      try {
        process.kill(state.pid, 'SIGKILL');
      } catch {}
    }
  } else {
    process.stdout.write(`runner pid ${state.pid} is gone; cleaning up what it left\n`);
  }
  // Whatever the runner did not remove (all of it after a crash).
  await cleanupLeftovers(readState(o.stateDir) ?? state);
  process.stdout.write(`stopped the mesh in ${o.stateDir}/ (${state.pods.length} pods)\n`);
  return EXIT.ok;
}

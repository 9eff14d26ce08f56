/**
 * Two network namespaces joined by a veth pair, for tests that run the capture script or the
 * proxy inside a "pod" and talk to it from a "remote" host. Root only; everything made here is
 * removed by `remove()` (call it from `afterAll`, it never throws).
 */
import { execFileSync } from 'node:child_process';

export interface NamespacePair {
  /** The pod's namespace (where the capture script runs). */
  pod: string;
  /** The other end of the link. */
  remote: string;
  /** The pod's end of the veth pair. */
  podDevice: string;
  /** Runs `cmd args...` inside a namespace and returns its standard output. */
  exec(ns: string, cmd: string, args: string[]): string;
  remove(): void;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Creates `<tag>-pod` and `<tag>-rem` with `podIp`/24 and `remoteIp`/24 on a veth pair
 * (`<tag>a`, `<tag>b`) and loopback up on both sides. Keep `tag` short (interface names are at
 * most 15 bytes) and unique per test file, e.g. a prefix and the process id.
 */
export function createNamespacePair(tag: string, podIp: string, remoteIp: string): NamespacePair {
  const pair: NamespacePair = {
    pod: `${tag}-pod`,
    remote: `${tag}-rem`,
    podDevice: `${tag}a`,
    exec: (ns, cmd, args) => sh('ip', ['netns', 'exec', ns, cmd, ...args]),
    remove() {
      for (const ns of [pair.pod, pair.remote]) {
        try {
          sh('ip', ['netns', 'del', ns]);
        } catch {
          // never created, or already gone
        }
      }
    },
  };
  try {
    for (const ns of [pair.pod, pair.remote]) sh('ip', ['netns', 'add', ns]);
    const remoteDevice = `${tag}b`;
    sh('ip', [
      'link',
      'add',
      pair.podDevice,
      'netns',
      pair.pod,
      'type',
      'veth',
      'peer',
      'name',
      remoteDevice,
      'netns',
      pair.remote,
    ]);
    sh('ip', ['-n', pair.pod, 'addr', 'add', `${podIp}/24`, 'dev', pair.podDevice]);
    sh('ip', ['-n', pair.remote, 'addr', 'add', `${remoteIp}/24`, 'dev', remoteDevice]);
    for (const [ns, dev] of [
      [pair.pod, pair.podDevice],
      [pair.remote, remoteDevice],
    ]) {
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    pair.remove();
    throw err;
  }
  return pair;
}

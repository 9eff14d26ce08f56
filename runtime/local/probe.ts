/**
 * Readiness probes: an HTTP GET that counts 2xx as ready. In the root mode the address lives
 * in another network namespace, so the probe runs curl there (`ip netns exec`); in the
 * fallback mode it is a plain loopback request.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';

export interface ProbeTarget {
  address: string;
  port: number;
  path: string;
  netns?: string;
}

export function probeOnce(t: ProbeTarget, timeoutMs = 2_000): Promise<boolean> {
  if (t.netns) {
    return new Promise((resolve) => {
      execFile(
        'ip',
        [
          'netns',
          'exec',
          t.netns!,
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '--max-time',
          String(Math.ceil(timeoutMs / 1000)),
          `http://${t.address}:${t.port}${t.path}`,
        ],
        { timeout: timeoutMs + 2_000 },
        (_err, stdout) => resolve(/^2\d\d$/.test(String(stdout).trim())),
      );
    });
  }
  return new Promise((resolve) => {
    const r = request({ host: t.address, port: t.port, path: t.path, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    r.on('timeout', () => r.destroy());
    r.on('error', () => resolve(false));
    r.end();
  });
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Stops waiting early (for example when the process exited); returns its reason. */
  abort?: () => string | undefined;
}

/** Polls `check` until it returns true; throws with the abort reason or a timeout message. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const reason = options.abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`${what}: not ready after ${Math.round(options.timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 150));
  }
}

/** True when a TCP connection to address:port succeeds (inside `netns` when given). */
export function tcpOpen(address: string, port: number, netns?: string, timeoutMs = 1_000): Promise<boolean> {
  if (netns) {
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', netns, 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`],
        { timeout: timeoutMs + 1_000 },
        (err) => resolve(!err),
      );
    });
  }
  return new Promise((resolve) => {
    const s = connect({ host: address, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

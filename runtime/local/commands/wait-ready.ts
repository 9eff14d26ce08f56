/** `tsmesh wait-ready`: waits until the sidecar answers /healthz/ready (the sidecar's postStart hook). */
import { PORTS } from '../../../lib/constants.js';
import { EXIT } from '../mesh-ref.js';
import { probeOnce } from '../probe.js';

export async function waitReady(o: {
  address: string;
  port: number;
  timeout: number;
  quiet?: boolean;
}): Promise<number> {
  const deadline = Date.now() + o.timeout * 1000;
  const target = { address: o.address, port: o.port || PORTS.health, path: '/healthz/ready' };
  for (;;) {
    if (await probeOnce(target, 1_000)) {
      if (!o.quiet) process.stdout.write(`ready: http://${target.address}:${target.port}${target.path}\n`);
      return EXIT.ok;
    }
    if (Date.now() > deadline) {
      process.stderr.write(
        `error: http://${target.address}:${target.port}${target.path} not ready after ${o.timeout} s (is the sidecar running and has it received its certificate and first config?)\n`,
      );
      return EXIT.failed;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

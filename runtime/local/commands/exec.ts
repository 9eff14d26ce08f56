/**
 * `tsmesh exec WORKLOAD -- CMD...`: runs a command inside a pod: its network namespace and hosts
 * file (root mode), or with its explicit-proxy environment (fallback). The exit code passes through.
 */
import { spawn } from 'node:child_process';
import { ENV } from '../../../lib/constants.js';
import { EXIT, findMesh, findPod } from '../mesh-ref.js';

export interface ExecOptions {
  stateDir: string;
  namespace?: string;
  workload: string;
  command: string[];
}

export async function exec(o: ExecOptions): Promise<number> {
  if (o.command.length === 0) {
    process.stderr.write('error: nothing to run; usage: tsmesh exec WORKLOAD -- CMD [ARGS...]\n');
    return EXIT.usage;
  }
  const state = findMesh(o.stateDir);
  const pod = findPod(state, o.workload, o.namespace);
  const env = {
    ...process.env,
    [ENV.podIp]: pod.address,
    [ENV.podName]: pod.name,
    [ENV.namespace]: pod.namespace,
  };
  const argv = pod.netns ? ['ip', 'netns', 'exec', pod.netns, ...o.command] : o.command;
  if (!pod.netns) Object.assign(env, pod.execEnv);
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`error: cannot run ${o.command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}

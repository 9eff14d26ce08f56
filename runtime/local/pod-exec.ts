/**
 * Runs a command inside a pod of a running mesh and collects its output: in the pod's network
 * namespace (root mode) or with its explicit-proxy environment (fallback). Used by the demo and
 * the end-to-end tests; `tsmesh exec` is the interactive form.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ENV } from '../../lib/constants.js';
import type { LoadSummary } from './load.js';
import type { MeshState, PodRecord } from './state.js';

export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function execInPod(pod: PodRecord, argv: string[], timeoutMs = 120_000): Promise<ExecResult> {
  const env = {
    ...process.env,
    [ENV.podIp]: pod.address,
    [ENV.podName]: pod.name,
    [ENV.namespace]: pod.namespace,
  };
  if (!pod.netns) Object.assign(env, pod.execEnv);
  const full = pod.netns ? ['ip', 'netns', 'exec', pod.netns, ...argv] : argv;
  return new Promise((resolve) => {
    execFile(
      full[0],
      full.slice(1),
      { env, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const status = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
        resolve({ status, stdout, stderr });
      },
    );
  });
}

export interface LoadRequest {
  url: string;
  requests: number;
  concurrency?: number;
  headers?: Record<string, string>;
  method?: string;
  timeoutMs?: number;
  countHeaders?: string[];
}

/** Runs the load generator inside `pod` and returns its summary. */
export async function loadFromPod(state: MeshState, pod: PodRecord, r: LoadRequest): Promise<LoadSummary> {
  const argv = [
    process.execPath,
    join(state.root, 'build', 'runtime', 'local', 'load.js'),
    '--url',
    r.url,
    '--requests',
    String(r.requests),
    '--concurrency',
    String(r.concurrency ?? 4),
    '--method',
    r.method ?? 'GET',
    '--timeout-ms',
    String(r.timeoutMs ?? 10_000),
  ];
  for (const [k, v] of Object.entries(r.headers ?? {})) argv.push('-H', `${k}: ${v}`);
  for (const h of r.countHeaders ?? []) argv.push('--count-header', h);
  const res = await execInPod(pod, argv);
  if (res.status !== 0)
    throw new Error(`load generator in ${pod.name} failed (${res.status}): ${res.stderr.trim()}`);
  return JSON.parse(res.stdout) as LoadSummary;
}

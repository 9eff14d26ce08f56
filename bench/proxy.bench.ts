/**
 * The proxy benchmark: tsmesh's sidecar paths measured side by side with the yardstick in
 * ../shared/bench (haproxy, the plain Node mTLS pair, direct) in one harness run per
 * concurrency, then a CPU profile of the mTLS pair. See bench/README.md.
 *
 *   npm run bench proxy                      # build, CONNS=32 and CONNS=1 runs, verdicts, profile
 *   ROUNDS=1 DURATION=5 npm run bench proxy  # quicker, noisier
 *   SKIP_BUILD=1 SKIP_PROFILE=1 CONNS_LIST=32 npm run bench proxy
 *   npx tsx bench/proxy.bench.ts --report RESULTS-C32.jsonl [RESULTS-C1.jsonl]   # re-print an earlier run
 *   npx tsx bench/proxy.bench.ts --summarize FILE.cpuprofile [TOP]                 # re-read a profile
 *   PROFILER=perf CONNS_LIST=none npm run bench proxy   # on-CPU profile with Linux perf instead
 *   npx tsx bench/proxy.bench.ts --summarize-perf FILE.perf.data [TOP]   # while /tmp/perf-<pid>.map exist
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const YARDSTICK = resolve(ROOT, process.env.YARDSTICK ?? '../shared/bench');
const PATHS_DIR = join(ROOT, 'bench', 'paths');
const OUT_DIR = join(ROOT, 'bench', 'out');
const env = process.env;
const BENCH_TMP = env.BENCH_TMP ?? '/tmp/tsmesh-bench';
// Ports away from the harness defaults, so a run of the bare yardstick does not collide with ours.
const PORTS = {
  BACKEND_PORT: env.BACKEND_PORT ?? '39380',
  LISTEN_PORT: env.LISTEN_PORT ?? '39381',
  HOP_PORT: env.HOP_PORT ?? '39382',
};

interface Result {
  path: string;
  round: number | string;
  rps: number;
  p50: number;
  p99: number;
  proxyCpuPerK: number;
  proxyRssMb: number;
  errors: number;
  error?: string;
}

const ourPath = (file: string, extraEnv = ''): string =>
  `${extraEnv}bash ${JSON.stringify(join(PATHS_DIR, file))}`;
const PATHS: [string, string | null][] = [
  ['direct', null],
  ['haproxy', null],
  ['node2-mtls', null],
  ['tsmesh-1hop', ourPath('tsmesh-1hop.sh')],
  ['tsmesh-pair', ourPath('tsmesh-pair.sh')],
  ['tsmesh-pair-mtls', ourPath('tsmesh-pair-mtls.sh')],
  ['tsmesh-pair-mtls-nolog', ourPath('tsmesh-pair-mtls.sh', 'ACCESS_LOG=0 ')],
];

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function build(): void {
  if (env.SKIP_BUILD === '1') return;
  log('building (npm run build)...');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed; fix the build or set SKIP_BUILD=1');
}

function checkTools(): void {
  for (const tool of ['wrk', 'haproxy', 'taskset', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`${tool} is missing: apt-get install -y wrk haproxy util-linux openssl`);
    }
  }
  if (!existsSync(join(YARDSTICK, 'run.sh'))) throw new Error(`no yardstick at ${YARDSTICK} (set YARDSTICK)`);
  if (!existsSync(join(ROOT, 'build/runtime/cli/main.js')))
    throw new Error('build/runtime/cli/main.js is missing');
}

/** One harness run over every path at one concurrency; returns the table and the raw results. */
function runHarness(conns: string): { table: string; results: Result[] } {
  const args = PATHS.map(([name, cmd]) => (cmd === null ? name : `${name}=${cmd}`));
  log(`\nharness: CONNS=${conns} ${PATHS.map(([n]) => n).join(' ')}`);
  const r = spawnSync(join(YARDSTICK, 'run.sh'), args, {
    cwd: ROOT,
    env: { ...env, ...PORTS, CONNS: conns, BENCH_TMP },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`harness failed (exit ${r.status})`);
  const m = /raw results: (\S+\.jsonl)/.exec(r.stderr);
  if (!m) throw new Error('harness printed no results file');
  const results = readFileSync(m[1], 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Result);
  return { table: r.stdout.trim(), results };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Median over rounds of fn(result of `a`, result of `b`) within the same round. */
function perRound(results: Result[], a: string, b: string, fn: (x: Result, y: Result) => number): number {
  const ok = results.filter((r) => !r.error);
  const values: number[] = [];
  for (const x of ok.filter((r) => r.path === a)) {
    const y = ok.find((r) => r.path === b && r.round === x.round);
    if (y) values.push(fn(x, y));
  }
  return median(values);
}
const med = (results: Result[], path: string, key: keyof Result): number =>
  median(results.filter((r) => r.path === path && !r.error).map((r) => Number(r[key])));

interface Verdict {
  what: string;
  value: string;
  target: string;
  ok: boolean;
}

function verdicts(loaded: Result[] | undefined, single: Result[] | undefined): Verdict[] {
  const out: Verdict[] = [];
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  if (loaded) {
    const vsNode = perRound(
      loaded,
      'tsmesh-pair-mtls',
      'node2-mtls',
      (x, y) => x.proxyCpuPerK / y.proxyCpuPerK,
    );
    out.push({
      what: 'CPU per request, tsmesh mTLS pair / node2-mtls (CONNS=32)',
      value: f(vsNode),
      target: '≤ 1',
      ok: vsNode <= 1,
    });
    const vsHaproxy = perRound(
      loaded,
      'tsmesh-pair-mtls',
      'haproxy',
      (x, y) => x.proxyCpuPerK / 2 / y.proxyCpuPerK,
    );
    out.push({
      what: 'CPU per request per sidecar / haproxy (CONNS=32)',
      value: f(vsHaproxy),
      target: 'goal ≤ 2',
      ok: vsHaproxy <= 2,
    });
    const rss = med(loaded, 'tsmesh-pair-mtls', 'proxyRssMb') / 2;
    out.push({
      what: 'RSS per sidecar under load, MB',
      value: f(rss, 0),
      target: '≤ 70 (goal ≤ 50)',
      ok: rss <= 70,
    });
    const logCost = perRound(
      loaded,
      'tsmesh-pair-mtls',
      'tsmesh-pair-mtls-nolog',
      (x, y) => x.proxyCpuPerK / y.proxyCpuPerK - 1,
    );
    out.push({
      what: 'access log CPU cost (mTLS pair, log on vs off)',
      value: `${f(logCost * 100, 1)} %`,
      target: '≤ 10 %',
      ok: logCost <= 0.1,
    });
  }
  if (single) {
    const p50 = perRound(single, 'tsmesh-pair-mtls', 'direct', (x, y) => x.p50 - y.p50);
    const p99 = perRound(single, 'tsmesh-pair-mtls', 'direct', (x, y) => x.p99 - y.p99);
    out.push({
      what: 'CONNS=1 added p50 over direct, ms (mTLS pair)',
      value: f(p50, 3),
      target: '≤ 1',
      ok: p50 <= 1,
    });
    out.push({
      what: 'CONNS=1 added p99 over direct, ms (mTLS pair)',
      value: f(p99, 3),
      target: '≤ 10',
      ok: p99 <= 10,
    });
  }
  return out;
}

// ---------------------------------------------------------------- CPU profile of the mTLS pair

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Groups a frame by where its code lives: our modules by file, Node internals by module. */
function category(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : `native ${name}`;
  const own = projectFile(url);
  if (own !== undefined) return own;
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return `npm ${url.slice(nm + 14).split('/')[0]}`;
  return url;
}

/** `runtime/proxy/forward.js` for a compiled project file, undefined for anything else. */
function projectFile(url: string): string | undefined {
  if (!url.startsWith('file://') || url.includes('/node_modules/')) return undefined;
  return /\/((?:runtime|lib|constructs)\/.*)$/.exec(url)?.[1];
}

function summarizeProfile(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++)
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + p.timeDeltas[i]);
  const total = p.endTime - p.startTime;
  const idle = [...self]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const fns = new Map<string, number>();
  const cats = new Map<string, number>();
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    const short = projectFile(url) ?? url.replace(/^.*\//, '');
    const key = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
    const c = category(url, functionName);
    cats.set(c, (cats.get(c) ?? 0) + t);
  }
  // Inclusive time of our own modules (and of stream.pipeline): a sample counts once for every
  // distinct module on its stack.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)!.callFrame.url;
      const own = projectFile(url);
      if (own !== undefined) seen.add(own);
      else if (url === 'node:internal/streams/pipeline') seen.add('stream.pipeline (node)');
    }
    for (const k of seen) inclusive.set(k, (inclusive.get(k) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1)} %`;
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `| ${k.replace(/\|/g, '\\|')} | ${pct(t)} |`)
      .join('\n');
  return (
    `busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled\n\n` +
    `| self time by function | share of busy |\n|---|---:|\n${rows(fns)}\n\n` +
    `| self time by module | share of busy |\n|---|---:|\n${rows(cats)}\n\n` +
    `| inclusive time of project modules | share of busy |\n|---|---:|\n${rows(inclusive)}`
  );
}

// ---------------------------------------------------------------- on-CPU profile with Linux perf
//
// V8's --cpu-prof samples wall-clock time of the main thread: when both sidecars share a core,
// a sidecar that wakes its peer with a socket write is often descheduled right there, and the
// samples taken meanwhile land on `writev`/`writeLatin1String`. perf samples only on-CPU time,
// kernel included, so it shows where CPU time goes. Each sample is charged to the innermost
// JavaScript frame on its stack (the code that asked for the work: a syscall under `end` is
// charged to node:_http_outgoing), by module and, for project code, by function.

/** `module` for a perf symbol of a JS frame (`JS:*name file:///.../build/runtime/x.js:1:2`). */
function perfOwner(sym: string): string | undefined {
  if (!sym.startsWith('JS:')) return undefined;
  const own = /\/build\/((?:runtime|lib)\/[^:]+)/.exec(sym);
  if (own) return own[1];
  if (sym.includes('/node_modules/')) return `npm ${/\/node_modules\/([^/]+)/.exec(sym)?.[1]}`;
  if (sym.includes('wasm')) return 'wasm (undici llhttp)';
  const node = /node:([\w/]+)/.exec(sym);
  return node ? `node:${node[1]}` : 'js (other)';
}

function summarizePerf(file: string, top: number): string {
  const r = spawnSync('perf', ['script', '-F', 'pid,ip,sym,dso', '-i', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) return `perf script failed: ${r.stderr}`;
  type Tally = { total: number; owners: Map<string, number>; ours: Map<string, number> };
  const byPid = new Map<string, Tally>();
  const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  let pid = '';
  let stack: string[] = [];
  const flush = () => {
    if (pid === '' || stack.length === 0) return;
    let t = byPid.get(pid);
    if (!t) byPid.set(pid, (t = { total: 0, owners: new Map(), ours: new Map() }));
    t.total++;
    let owner: string | undefined;
    let frame = '';
    for (const f of stack) {
      owner = perfOwner(f);
      if (owner) {
        frame = f;
        break;
      }
    }
    if (owner === undefined) {
      add(t.owners, stack[0].endsWith('([kernel.kallsyms])') ? 'no JS frame: kernel' : 'no JS frame: native');
      return;
    }
    add(t.owners, owner);
    if (owner.startsWith('runtime/') || owner.startsWith('lib/')) {
      const name = frame.replace(/^JS:[*~^]?/, '').split(' ')[0] || '(anonymous)';
      add(t.ours, `${name} ${owner}`);
    }
  };
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') {
      flush();
      pid = '';
      stack = [];
    } else if (!line.startsWith('\t') && !line.startsWith(' ')) pid = line.trim().split(/\s+/)[0];
    else stack.push(line.trim().replace(/^[0-9a-f]+ /, ''));
  }
  flush();
  const parts: string[] = [];
  const pct = (n: number, total: number) => `${((100 * n) / total).toFixed(1)} %`;
  const rows = (m: Map<string, number>, total: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n]) => `| ${k.replace(/\|/g, '\\|')} | ${pct(n, total)} |`)
      .join('\n');
  // The two sidecars; worker threads of the same process are separate pids and tiny.
  const main = [...byPid].sort((a, b) => b[1].total - a[1].total).slice(0, 2);
  const all = [...byPid.values()].reduce((a, t) => a + t.total, 0);
  for (const [p, t] of main) {
    parts.push(
      `pid ${p}: ${t.total} samples (${pct(t.total, all)} of the pair)\n\n` +
        `| CPU charged to (innermost JS frame) | share |\n|---|---:|\n${rows(t.owners, t.total)}\n\n` +
        `| project functions (innermost project frame) | share |\n|---|---:|\n${rows(t.ours, t.total)}`,
    );
  }
  return parts.join('\n\n');
}

function waitFor200(port: string, deadline: number): Promise<boolean> {
  return new Promise((done) => {
    const attempt = () => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? done(true) : retry()));
      });
      req.on('error', retry);
      req.on('timeout', () => req.destroy());
      req.end();
    };
    const retry = () => (Date.now() > deadline ? done(false) : setTimeout(attempt, 200));
    attempt();
  });
}

/** SIGTERM to the whole process group, then waits until every member is gone (SIGKILL after graceMs). */
async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
}

async function profile(): Promise<string> {
  const work = mkdtempSync(join(BENCH_TMP, 'profile-'));
  const profDir = join(work, 'prof');
  mkdirSync(profDir);
  const pin = cpus().length > 1;
  const ports = { BACKEND_PORT: '39390', LISTEN_PORT: '39391', HOP_PORT: '39392' };
  const backend = spawn(
    'bash',
    ['-c', `exec ${pin ? 'taskset -c 0 ' : ''}node ${JSON.stringify(join(YARDSTICK, 'backend.js'))}`],
    { detached: true, stdio: 'ignore', env: { ...env, PORT: ports.BACKEND_PORT } },
  );
  const usePerf = env.PROFILER === 'perf';
  const pathEnv = {
    ...env,
    LISTEN_PORT: ports.LISTEN_PORT,
    TARGET_HOST: '127.0.0.1',
    TARGET_PORT: ports.BACKEND_PORT,
    HOP_PORT: ports.HOP_PORT,
    WORK_DIR: work,
    CERT_DIR: join(BENCH_TMP, 'certs'),
    BENCH_DIR: YARDSTICK,
    // Node refuses --cpu-prof in NODE_OPTIONS; the path scripts pass TSMESH_NODE_FLAGS to node.
    // For perf, V8 writes /tmp/perf-<pid>.map so perf can name JIT-compiled functions.
    TSMESH_NODE_FLAGS: usePerf ? '--perf-basic-prof-only-functions' : `--cpu-prof --cpu-prof-dir=${profDir}`,
  };
  let perfData: string | undefined;
  let sidecarPids: string[] = [];
  const cmd = `${pin ? 'taskset -c 1 ' : ''}bash ${JSON.stringify(join(PATHS_DIR, 'tsmesh-pair-mtls.sh'))}`;
  const proxies = spawn('bash', ['-c', cmd], { detached: true, stdio: 'ignore', env: pathEnv });
  try {
    if (!(await waitFor200(ports.LISTEN_PORT, Date.now() + 20_000)))
      throw new Error('the mTLS pair did not answer 200');
    const secs = env.PROFILE_SECONDS ?? '10';
    const wrk = (d: string) =>
      `${pin ? 'taskset -c 0 ' : ''}wrk -t1 -c32 -d${d}s http://127.0.0.1:${ports.LISTEN_PORT}/`;
    if (usePerf) {
      // Warm up the JIT first, then record on-CPU samples of both sidecars during the load.
      spawnSync('bash', ['-c', wrk('3')], { stdio: 'ignore' });
      sidecarPids = spawnSync('pgrep', ['-f', `${work}/`], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')
        .filter((p) => p !== '');
      perfData = join(work, 'sidecars.perf.data');
      log(`profiling the mTLS pair with perf (pids ${sidecarPids.join(',')}): wrk -c32 -d${secs}s`);
      const load = spawn('bash', ['-c', wrk(secs)], { stdio: 'ignore' });
      const loadDone = new Promise((r) => load.once('exit', r));
      const rec = spawnSync(
        'perf',
        [
          'record',
          '-q',
          '-e',
          'cpu-clock',
          '-F',
          '999',
          '-g',
          '-p',
          sidecarPids.join(','),
          '-o',
          perfData,
          '--',
          'sleep',
          String(Math.max(1, Number(secs) - 1)),
        ],
        { encoding: 'utf8' },
      );
      await loadDone;
      if (rec.status !== 0) throw new Error(`perf record failed: ${rec.stderr.trim()}`);
    } else {
      log(`profiling the mTLS pair: wrk -c32 -d${secs}s`);
      spawnSync('bash', ['-c', wrk(secs)], { stdio: 'ignore' });
    }
  } finally {
    await stopGroup(proxies, 10_000);
    await stopGroup(backend, 2_000);
  }
  if (perfData !== undefined) {
    // perf script needs V8's symbol maps (/tmp/perf-<pid>.map): summarize now, then clean up.
    const summary = summarizePerf(perfData, 20);
    for (const p of sidecarPids) rmSync(`/tmp/perf-${p}.map`, { force: true });
    rmSync(work, { recursive: true, force: true });
    return `### perf, both sidecars\n\n${summary}`;
  }
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return 'no profile written (did the sidecars exit cleanly on SIGTERM?)';
  mkdirSync(OUT_DIR, { recursive: true });
  const parts: string[] = [];
  for (const f of files.sort()) {
    const kept = join(OUT_DIR, f);
    writeFileSync(kept, readFileSync(join(profDir, f)));
    parts.push(`### ${f} (kept in bench/out/)\n\n${summarizeProfile(kept, 20)}`);
  }
  rmSync(work, { recursive: true, force: true });
  return parts.join('\n\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--report') {
    // Re-print the tables and the targets of earlier harness runs: --report CONNS32.jsonl [CONNS1.jsonl]
    const [loadedFile, singleFile] = process.argv.slice(3);
    const read = (f: string | undefined) =>
      f === undefined
        ? undefined
        : readFileSync(f, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as Result);
    for (const f of [loadedFile, singleFile].filter((x): x is string => x !== undefined)) {
      const r = spawnSync(join(YARDSTICK, 'run.sh'), ['--report', f], { encoding: 'utf8' });
      console.log(`${f}\n\n${r.stdout}`);
    }
    const v = verdicts(read(loadedFile), read(singleFile));
    console.log(
      `| check | measured | target | |\n|---|---:|---|---|\n${v
        .map((x) => `| ${x.what} | ${x.value} | ${x.target} | ${x.ok ? 'met' : 'NOT met'} |`)
        .join('\n')}`,
    );
    return;
  }
  if (process.argv[2] === '--summarize-perf') {
    console.log(summarizePerf(process.argv[3], Number(process.argv[4] ?? 25)));
    return;
  }
  if (process.argv[2] === '--summarize') {
    console.log(summarizeProfile(process.argv[3], Number(process.argv[4] ?? 25)));
    return;
  }
  mkdirSync(BENCH_TMP, { recursive: true });
  build();
  checkTools();
  const runs = new Map<string, { table: string; results: Result[] }>();
  // CONNS_LIST=none: only the profile.
  const connsList = (env.CONNS_LIST ?? '32,1').split(',').filter((c) => c !== '' && c !== 'none');
  for (const conns of connsList) runs.set(conns, runHarness(conns));
  const report: string[] = [];
  for (const [conns, run] of runs) report.push(`### CONNS=${conns}\n\n${run.table}`);
  const v = verdicts(runs.get('32')?.results, runs.get('1')?.results);
  report.push(
    `### Targets\n\n| check | measured | target | |\n|---|---:|---|---|\n${v
      .map((x) => `| ${x.what} | ${x.value} | ${x.target} | ${x.ok ? 'met' : 'NOT met'} |`)
      .join('\n')}`,
  );
  if (env.SKIP_PROFILE !== '1') {
    const summary = await profile().catch((err: Error) => `profile failed: ${err.message}`);
    report.push(
      `### CPU profile (${env.PROFILER === 'perf' ? 'perf' : 'V8 --cpu-prof'}), mTLS pair under wrk -c32\n\n${summary}`,
    );
  }
  const text = report.join('\n\n');
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `proxy-${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, `${text}\n`);
  console.log(text);
  log(`\nreport: ${file}`);
}

await main();

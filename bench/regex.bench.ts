/**
 * Regex engines for config patterns: re2js (pure JavaScript, what tsmesh uses) against the
 * native `re2` addon (not a dependency: point RE2_NATIVE_DIR at a folder where `npm install re2`
 * built it) and, for reference on safe patterns only, V8's RegExp. Full-match semantics in all.
 *
 *   npm run bench regex
 *   RE2_NATIVE_DIR=/tmp/re2try npm run bench regex
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { compileRegex } from '../lib/api/regex.js';

interface Engine {
  name: string;
  compile(pattern: string): (value: string) => boolean;
}

const engines: Engine[] = [
  {
    name: 're2js',
    compile: (p) => {
      const re = compileRegex(p);
      return (v) => re.test(v);
    },
  },
];

const nativeDir = process.env.RE2_NATIVE_DIR;
if (nativeDir) {
  const require = createRequire(join(nativeDir, 'package.json'));
  const RE2 = require('re2') as new (p: string, flags?: string) => { test(s: string): boolean };
  engines.push({
    name: 're2 (native)',
    compile: (p) => {
      const re = new RE2(`^(?:${p})$`, 'u');
      return (v) => re.test(v);
    },
  });
}

const v8: Engine = {
  name: 'V8 RegExp (reference)',
  compile: (p) => {
    // V8 has no inline flags; the one case that uses `(?i)` becomes the `i` flag.
    const insensitive = p.startsWith('(?i)');
    const re = new RegExp(`^(?:${insensitive ? p.slice(4) : p})$`, insensitive ? 'i' : '');
    return (v) => re.test(v);
  },
};

interface Case {
  name: string;
  pattern: string;
  values: string[];
  /** V8's backtracking engine would stall on this case, so it is not measured there. */
  catastrophic?: boolean;
}

const cases: Case[] = [
  { name: 'header, case-insensitive', pattern: '(?i)jason', values: ['jason', 'JaSoN', 'mallory', 'jasonx'] },
  {
    name: 'uri path',
    pattern: '/api/v[0-9]+/users/[0-9]+',
    values: ['/api/v1/users/42', '/api/v2/users/abc', '/static/app.js', '/api/v10/users/1234567'],
  },
  {
    name: 'authority alternation',
    pattern: '(reviews|ratings|details)(\\.default(\\.svc(\\.cluster\\.local)?)?)?(:[0-9]+)?',
    values: [
      'reviews',
      'ratings.default.svc.cluster.local:9080',
      'productpage.default',
      'details.default.svc',
    ],
  },
  { name: '(a+)+$ on 1 KiB', pattern: '(a+)+$', values: [`${'a'.repeat(1023)}!`], catastrophic: true },
  { name: '(a+)+$ on 64 KiB', pattern: '(a+)+$', values: [`${'a'.repeat(65535)}!`], catastrophic: true },
];

function opsPerSecond(fn: () => void, minMs = 500): number {
  const warmUpUntil = Date.now() + 100;
  while (Date.now() < warmUpUntil) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (n * 1000) / elapsed;
}

let unique = 0;
function compileMicros(engine: Engine, pattern: string): number {
  const rounds = 200;
  // Distinct patterns defeat the compile cache, so this measures compilation itself.
  for (let i = 0; i < 20; i++) engine.compile(`${pattern}|w${unique++}w`);
  const t = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) engine.compile(`${pattern}|x${unique++}y`);
  return Number(process.hrtime.bigint() - t) / 1e3 / rounds;
}

const fmt = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1);

console.log(`node ${process.version}; matches per second (higher is better), compile µs per pattern`);
if (!nativeDir)
  console.log('native re2 not measured: set RE2_NATIVE_DIR to a folder where `npm install re2` built it');
console.log('');
console.log('| case | engine | matches/s | compile µs |');
console.log('| --- | --- | ---: | ---: |');
for (const c of cases) {
  for (const engine of [...engines, v8]) {
    if (engine === v8 && c.catastrophic) {
      console.log(`| ${c.name} | ${engine.name} | (stalls: exponential backtracking) | |`);
      continue;
    }
    const test = engine.compile(c.pattern);
    let i = 0;
    const rate = opsPerSecond(() => {
      test(c.values[i++ % c.values.length]);
    });
    console.log(
      `| ${c.name} | ${engine.name} | ${fmt(rate)} | ${compileMicros(engine, c.pattern).toFixed(1)} |`,
    );
  }
}

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram, commandFiles } from '../../runtime/cli/program.js';

const ROOT = join(import.meta.dirname, '../..');
const MAIN = join(ROOT, 'runtime/cli/main.ts');
const ALL = readdirSync(join(ROOT, 'runtime/cli/commands'))
  .filter((f) => f.endsWith('.ts'))
  .sort();

function tsmesh(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsmesh command registry', () => {
  it('loads only the named command module when the first argument is a command', () => {
    expect(commandFiles(['node', 'tsmesh', 'proxy', '--snapshot', 's.json'])).toEqual(['proxy.ts']);
    expect(commandFiles(['node', 'tsmesh', 'proxy-config'])).toEqual(['proxy-config.ts']);
  });

  it('loads every command module for help, options and unknown names', () => {
    for (const args of [[], ['--help'], ['-V'], ['help', 'proxy'], ['prxy']]) {
      expect(commandFiles(['node', 'tsmesh', ...args])).toEqual(ALL);
    }
  });

  it('registers only the proxy command for `tsmesh proxy`, every command otherwise', async () => {
    const proxyOnly = await buildProgram(['node', 'tsmesh', 'proxy']);
    expect(proxyOnly.commands.map((c) => c.name())).toEqual(['proxy']);
    const all = await buildProgram(['node', 'tsmesh', '--help']);
    expect(all.commands.map((c) => c.name())).toEqual(
      expect.arrayContaining(['proxy', 'up', 'down', 'control-plane', 'explain', 'wait-ready']),
    );
    expect(all.commands.length).toBeGreaterThanOrEqual(ALL.length);
  });

  it('prints the full command list for `tsmesh --help` and the proxy help for `tsmesh proxy --help`', () => {
    const top = tsmesh('--help');
    expect(top.status).toBe(0);
    for (const name of ['proxy', 'up', 'down', 'control-plane', 'wait-ready', 'proxy-config']) {
      expect(top.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
    }
    const proxy = tsmesh('proxy', '--help');
    expect(proxy.status).toBe(0);
    expect(proxy.stdout).toContain('Usage: tsmesh proxy [options]');
    expect(proxy.stdout).toContain('tsmesh proxy --snapshot snapshot.json --cert-dir certs/');
    const viaHelp = tsmesh('help', 'proxy');
    expect(viaHelp.status).toBe(0);
    expect(viaHelp.stdout).toBe(proxy.stdout);
  });

  it('suggests the right command for a misspelt one and exits non-zero', () => {
    const r = tsmesh('prxy');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown command 'prxy'");
    expect(r.stderr).toContain('proxy');
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROXY_PROCESS_ENV } from '../../lib/constants.js';

const COMMON = readFileSync(join(import.meta.dirname, '../../bench/paths/tsmesh-common.sh'), 'utf8');

describe('benchmark paths', () => {
  it('start the sidecars with the environment the product starts every proxy with', () => {
    const line = COMMON.split('\n').find((l) => l.includes('local product_env=('));
    expect(line, 'product_env line in bench/paths/tsmesh-common.sh').toBeDefined();
    for (const [name, value] of Object.entries(PROXY_PROCESS_ENV)) {
      expect(line).toContain(name === 'NODE_OPTIONS' ? `${name}=${value} ` : `${name}=${value}`);
    }
  });
});

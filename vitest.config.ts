import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e files start whole meshes; run files one at a time there, in parallel elsewhere.
    fileParallelism: true,
    reporters: ['default'],
  },
});

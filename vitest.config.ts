import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real sshd, real CLI processes and real files on 2 cores: generous, never a performance assertion.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});

import { defineConfig } from 'vitest/config';

// VITEST_JSON_OUT (set by .ci/run) adds a JSON report next to the console one.
const jsonOut = process.env.VITEST_JSON_OUT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    reporters: jsonOut ? ['default', 'json'] : ['default'],
    outputFile: jsonOut ? { json: jsonOut } : undefined,
  },
});

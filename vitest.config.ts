import { configDefaults, defineConfig } from 'vitest/config';

// VITEST_JSON_OUT (set by .ci/run) adds a JSON report next to the console one.
const jsonOut = process.env.VITEST_JSON_OUT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/reliability/ kills, stops and loads real server processes for minutes: `npm run test:reliability`.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    testTimeout: 60_000,
    reporters: jsonOut ? ['default', 'json'] : ['default'],
    outputFile: jsonOut ? { json: jsonOut } : undefined,
  },
});

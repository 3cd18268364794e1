import { defineConfig } from 'vitest/config';

// `npm run test:reliability`: tests that try to break the service (test/reliability/).
// They start real server processes, kill them and load them, so the files run one
// at a time (fileParallelism: false) and get long timeouts; the whole run takes
// about four minutes on two cores (LOAD_SECONDS, CRASH_ROUNDS shorten or lengthen it).
// VITEST_JSON_OUT adds a JSON report next to the console one, as in vitest.config.ts.
const jsonOut = process.env.VITEST_JSON_OUT;

export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    reporters: jsonOut ? ['default', 'json'] : ['default'],
    outputFile: jsonOut ? { json: jsonOut } : undefined,
  },
});

/**
 * Where the compiled worker module lives. Workers always run compiled
 * JavaScript: from dist/ in production, and from dist/ too when this module is
 * loaded as TypeScript source (vitest), which is why `npm test` builds first.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** The CommonJS entry piscina loads (worker-entry.cts says why), beside the ES worker it imports. */
export const WORKER_FILE = here.endsWith('.ts')
  ? resolve(dirname(here), '../../dist/src/pool/worker-entry.cjs')
  : resolve(dirname(here), 'worker-entry.cjs');

export function assertWorkerBuilt(): void {
  if (!existsSync(WORKER_FILE)) {
    throw new Error(`worker module ${WORKER_FILE} is missing: run \`npm run build\` first`);
  }
}

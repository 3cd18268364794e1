/**
 * Where the compiled worker module lives. Workers always run compiled
 * JavaScript: from dist/ in production, and from dist/ too when this module is
 * loaded as TypeScript source (vitest), which is why `npm test` builds first.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

export const WORKER_FILE = here.endsWith('.ts') ? resolve(dirname(here), '../../dist/src/pool/worker.js') : resolve(dirname(here), 'worker.js');

export function assertWorkerBuilt(): void {
  if (!existsSync(WORKER_FILE)) {
    throw new Error(`worker module ${WORKER_FILE} is missing: run \`npm run build\` first`);
  }
}

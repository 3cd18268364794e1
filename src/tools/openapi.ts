/**
 * Writes openapi.yaml (the checked-in API contract) from the route schemas:
 *   npm run openapi
 * A test fails when the file differs from what the code generates.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../app.js';
import { loadConfig } from '../config.js';

/** The OpenAPI document as YAML, from a throw-away app instance. */
export async function generateOpenApiYaml(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pqvec-openapi-'));
  const app = await buildApp(loadConfig({ DATA_DIR: dir, WORKERS: '1', LOG_LEVEL: 'silent' }));
  try {
    await app.ready();
    return app.swagger({ yaml: true });
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = resolve(process.cwd(), process.argv[2] ?? 'openapi.yaml');
  writeFileSync(out, await generateOpenApiYaml());
  console.log(`wrote ${out}`);
}

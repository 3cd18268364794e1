/**
 * Writes openapi.yaml (the checked-in API contract) from the route schemas:
 *   npm run openapi
 * A test fails when the file differs from what the code generates.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDocumentApp } from '../app.js';
import { loadConfig } from '../config.js';

/** The OpenAPI document as YAML, from an app that only describes the API (no database, no workers). */
export async function generateOpenApiYaml(): Promise<string> {
  const app = await buildDocumentApp(loadConfig({ LOG_LEVEL: 'silent' }));
  try {
    await app.ready();
    return app.swagger({ yaml: true });
  } finally {
    await app.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = resolve(process.cwd(), process.argv[2] ?? 'openapi.yaml');
  writeFileSync(out, await generateOpenApiYaml());
  console.log(`wrote ${out}`);
}

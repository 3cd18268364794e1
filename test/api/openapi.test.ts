import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpenApiYaml } from '../../src/tools/openapi.js';
import { type TestApp, makeApp, waitForJob } from '../helpers/app.js';

describe('OpenAPI', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.destroy());

  it('openapi.yaml at the root is what the code generates (run `npm run openapi` after changing routes)', async () => {
    const checkedIn = readFileSync(resolve(__dirname, '../../openapi.yaml'), 'utf8');
    expect(await generateOpenApiYaml()).toBe(checkedIn);
  });

  it('serves the document and a docs page', async () => {
    const r = await t.req('GET', '/openapi.json');
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/collections',
      '/collections/{name}',
      '/collections/{name}/evaluate',
      '/collections/{name}/jobs',
      '/collections/{name}/jobs/{id}',
      '/collections/{name}/query',
      '/collections/{name}/train',
      '/collections/{name}/vectors',
      '/collections/{name}/vectors/bulk',
      '/collections/{name}/vectors/{id}',
      '/health',
      '/metrics',
      '/ready',
      '/snapshots',
      '/snapshots/{name}',
    ]);
    expect(doc.paths['/collections/{name}/query'].post.requestBody.content['application/json'].schema.properties.k).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 10,
    });
    const docs = await t.req('GET', '/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/text\/html/);
  });

  it('every request example, sent unchanged in a session\'s order, is accepted (the docs page\'s "Try it out" works)', async () => {
    const t = await makeApp();
    const doc = (await t.req('GET', '/openapi.json')).json();
    const find = (operationId: string) => {
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string; requestBody?: any }>>)) {
        for (const [method, op] of Object.entries(ops)) if (op.operationId === operationId) return { path, method: method.toUpperCase(), op };
      }
      throw new Error(`no operation ${operationId}`);
    };
    const ids: string[] = [];
    for (const operationId of ['createCollection', 'upsertVectors', 'queryCollection', 'trainCollection', 'evaluateCollection', 'updateCollection']) {
      const { path, method, op } = find(operationId);
      const example = op.requestBody?.content['application/json'].schema.example;
      expect(example, `${operationId} has a request example`).toBeDefined();
      ids.push(operationId);
      const r = await t.req(method as 'POST', path.replace('{name}', 'demo'), example);
      expect(r.statusCode, `${operationId}: ${r.body}`).toBeLessThan(300);
      if (operationId === 'trainCollection') expect((await waitForJob(t, 'demo', r.json().job.id)).state).toBe('succeeded');
    }
    expect(ids).toHaveLength(6);
    await t.destroy();
  });
});

/**
 * openapi.yaml as a client sees it: types generated from it by openapi-typescript
 * (generated/openapi.d.ts, written by `npm run openapi`) and openapi-fetch calls
 * against the real server process. `npm run typecheck` checks the calls against
 * the document; this test checks the document against the server.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import createClient, { type Client } from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededVectors, tempDir } from '../helpers/app.js';
import { ROOT, type ServerProcess, sleep, startServer } from '../helpers/server.js';
import type { components, paths } from './generated/openapi.js';

type Hit = components['schemas']['Hit'];
type ErrorBody = components['schemas']['ErrorBody'];

const GENERATED = join(ROOT, 'test/e2e/generated/openapi.d.ts');

describe('a client generated from openapi.yaml', () => {
  it('test/e2e/generated/openapi.d.ts is what openapi-typescript makes of openapi.yaml (run `npm run openapi`)', () => {
    const cli = join(ROOT, 'node_modules/openapi-typescript/bin/cli.js');
    const generated = execFileSync(process.execPath, [cli, join(ROOT, 'openapi.yaml')], { encoding: 'utf8', cwd: ROOT });
    expect(generated).toBe(readFileSync(GENERATED, 'utf8'));
  });

  describe('against the real server', () => {
    const dir = tempDir();
    let server: ServerProcess;
    let client: Client<paths>;
    beforeAll(async () => {
      server = await startServer(dir);
      client = createClient<paths>({ baseUrl: server.url });
    });
    afterAll(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates, writes, trains, queries, reads and deletes through typed calls', async () => {
      const name = 'client';
      const path = { name };
      const created = await client.POST('/collections', { body: { name, dimension: 8, quantizer: { type: 'pq', m: 4 } } });
      expect(created.response.status).toBe(201);
      expect(created.data).toMatchObject({ name, dimension: 8, metric: 'l2', trained: false });

      const data = seededVectors(600, 8, 7);
      const upserted = await client.POST('/collections/{name}/vectors', { params: { path }, body: { vectors: data } });
      expect(upserted.data).toEqual({ upserted: 600 });

      // The train body may be left out: the document says so, and the generated types allow it.
      const accepted = await client.POST('/collections/{name}/train', { params: { path } });
      expect(accepted.response.status).toBe(202);
      const jobId = accepted.data!.job.id;
      let job = accepted.data!.job;
      while (job.state === 'queued' || job.state === 'running') {
        await sleep(50);
        const polled = await client.GET('/collections/{name}/jobs/{id}', { params: { path: { name, id: jobId } } });
        job = polled.data!;
      }
      expect(job.state).toBe('succeeded');
      expect(job.result?.codecVersion).toBe(1);

      const single = await client.POST('/collections/{name}/query', { params: { path }, body: { vector: data[3].vector, k: 3 } });
      expect(single.response.status).toBe(200);
      // One vector: a list of hits (the union's first member).
      const hits = single.data!.results as Hit[];
      expect(hits).toHaveLength(3);
      expect(hits[0].id).toBe('v3');
      const filtered = await client.POST('/collections/{name}/query', {
        params: { path },
        body: { vectors: [data[0].vector, data[1].vector], k: 2, filter: { i: { in: [0, 1, 2] } } },
      });
      const lists = filtered.data!.results as Hit[][];
      expect(lists.map((l) => l.length)).toEqual([2, 2]);
      expect(lists.flat().every((h) => [0, 1, 2].includes((h.metadata as { i: number }).i))).toBe(true);

      const vector = await client.GET('/collections/{name}/vectors/{id}', { params: { path: { name, id: 'v3' } } });
      expect(vector.data).toEqual({ id: 'v3', vector: data[3].vector, metadata: { i: 3 } });

      const stats = await client.GET('/collections/{name}', { params: { path } });
      expect(stats.data).toMatchObject({ count: 600, trained: true, codecVersion: 1 });

      const deleted = await client.DELETE('/collections/{name}/vectors/{id}', { params: { path: { name, id: 'v3' } } });
      expect(deleted.response.status).toBe(204);

      // A documented error comes back as the typed error body.
      const missing = await client.GET('/collections/{name}/vectors/{id}', { params: { path: { name, id: 'v3' } } });
      expect(missing.response.status).toBe(404);
      expect(missing.data).toBeUndefined();
      const error: ErrorBody | undefined = missing.error;
      expect(error?.error.code).toBe('vector_not_found');

      const invalid = await client.POST('/collections/{name}/query', { params: { path }, body: { vector: data[0].vector, k: 0 } });
      expect(invalid.response.status).toBe(400);
      expect(invalid.error?.error).toMatchObject({ code: 'validation_error', message: expect.stringMatching(/^body\.k: /) });

      expect((await client.DELETE('/collections/{name}', { params: { path } })).response.status).toBe(204);
      expect((await client.GET('/collections/{name}', { params: { path } })).error?.error.code).toBe('collection_not_found');
    });
  });
});

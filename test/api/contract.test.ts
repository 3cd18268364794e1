/**
 * The OpenAPI document as a contract: every operation's examples, sent as
 * documented, get the documented answer; the bounds it states are the ones the
 * server enforces; a response the schema does not allow is never sent.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.js';
import { HARD_LIMITS, MAX_ABS_VALUE } from '../../src/tunables.js';
import { type TestApp, makeApp, seededVectors, waitForJob } from '../helpers/app.js';

type Schema = Record<string, any>;
interface Operation {
  operationId: string;
  parameters?: { in: string; name: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, unknown>;
}

async function documentOf(
  t: TestApp,
): Promise<{ paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } }> {
  return (await t.req('GET', '/openapi.json')).json();
}

function operations(doc: Awaited<ReturnType<typeof documentOf>>): Map<string, { path: string; method: string; op: Operation }> {
  const found = new Map<string, { path: string; method: string; op: Operation }>();
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops)) found.set(op.operationId, { path, method, op });
  return found;
}

describe('the OpenAPI document as a contract', () => {
  /** The JSON upsert's example vectors, under ids of their own. */
  const upsertExample = (ops: ReturnType<typeof operations>): { id: string; vector: number[] }[] =>
    (
      ops.get('upsertVectors')!.op.requestBody!.content['application/json'].schema.example as { vectors: { id: string; vector: number[] }[] }
    ).vectors.map((v) => ({ id: `${v.id}-bin`, vector: v.vector }));

  /** Records of the binary upsert: u16 LE id length, UTF-8 id, float32 LE values. */
  const records = (items: { id: string; vector: number[] }[]): Buffer =>
    Buffer.concat(
      items.flatMap(({ id, vector }) => {
        const head = Buffer.alloc(2);
        head.writeUInt16LE(Buffer.byteLength(id));
        return [head, Buffer.from(id), Buffer.from(Float32Array.from(vector).buffer)];
      }),
    );

  it("every operation, sent with its documented examples in a session's order, gets its documented 2xx", async () => {
    const t = await makeApp();
    try {
      const doc = await documentOf(t);
      const ops = operations(doc);
      // Values the service makes (job ids, snapshot names) have no example: they come from an earlier answer of the session.
      const made: Record<string, string> = {};
      const sent: string[] = [];
      const send = async (operationId: string) => {
        const found = ops.get(operationId);
        if (found === undefined) throw new Error(`no operation ${operationId}`);
        const { path, method, op } = found;
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
          const parameter = op.parameters?.find((p) => p.in === 'path' && p.name === name);
          const value = parameter?.schema.example ?? made[`${operationId}.${name}`];
          if (value === undefined) throw new Error(`${operationId}: no example for path parameter ${name}`);
          return encodeURIComponent(value);
        });
        const binary = op.requestBody?.content['application/octet-stream'] !== undefined;
        const body = binary ? null : op.requestBody?.content['application/json'].schema.example;
        if (op.requestBody !== undefined && !binary) expect(body, `${operationId} has a request example`).toBeDefined();
        const r = binary
          ? // The documented record format, written from the JSON upsert's example vectors under new ids.
            await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload: records(upsertExample(ops)) })
          : await t.req(method.toUpperCase() as 'GET', url, body);
        const documented = Object.keys(op.responses).filter((s) => s.startsWith('2'));
        expect(documented, `${operationId} documents one success status`).toHaveLength(1);
        expect(String(r.statusCode), `${operationId} ${method.toUpperCase()} ${url}: ${r.body.slice(0, 300)}`).toBe(documented[0]);
        sent.push(operationId);
        return r;
      };

      for (const id of [
        'getHealth',
        'getReadiness',
        'getMetrics',
        'createCollection',
        'listCollections',
        'getCollection',
        'upsertVectors',
        'upsertVectorsBinary',
      ]) {
        await send(id);
      }
      await send('getVector');
      await send('queryCollection');
      const job = (await send('trainCollection')).json().job;
      made['getJob.id'] = job.id;
      await send('getJob');
      expect((await waitForJob(t, 'demo', job.id)).state).toBe('succeeded');
      await send('listJobs');
      await send('evaluateCollection');
      await send('updateCollection');
      const snapshot = (await send('createSnapshot')).json();
      made['downloadSnapshot.name'] = snapshot.name;
      made['deleteSnapshot.name'] = snapshot.name;
      await send('listSnapshots');
      await send('downloadSnapshot');
      await send('deleteSnapshot');
      await send('deleteVector');
      await send('deleteCollection');

      expect(sent.sort()).toEqual([...ops.keys()].sort());
    } finally {
      await t.destroy();
    }
  });

  describe('bounds', () => {
    let t: TestApp;
    let doc: Awaited<ReturnType<typeof documentOf>>;
    const defaults = loadConfig({}).limits;
    const body = (operationId: string): Schema => operations(doc).get(operationId)!.op.requestBody!.content['application/json'].schema;

    beforeAll(async () => {
      t = await makeApp();
      doc = await documentOf(t);
    });
    afterAll(() => t.destroy());

    it('the documented bounds are the limits the server enforces by default', () => {
      const create = body('createCollection').properties;
      expect(create.dimension.maximum).toBe(defaults.maxDimension);
      expect(create.quantizer.properties.m.maximum).toBe(defaults.maxDimension);
      expect(create.quantizer.properties.ivf.properties.nlist.maximum).toBe(HARD_LIMITS.maxNlist);
      const query = body('queryCollection').properties;
      expect(query.k.maximum).toBe(defaults.maxK);
      expect(query.rerank.maximum).toBe(defaults.maxRerank);
      expect(query.nprobe.maximum).toBe(HARD_LIMITS.maxNlist);
      expect(query.vectors.maxItems).toBe(defaults.maxQueriesPerRequest);
      expect(query.vector.maxItems).toBe(defaults.maxDimension);
      expect(query.vector.items).toMatchObject({ minimum: -MAX_ABS_VALUE, maximum: MAX_ABS_VALUE });
      // The filter is a recursive component, referenced from the query.
      expect(query.filter.allOf[0].$ref).toBe('#/components/schemas/Filter');
      expect((doc as { components: { schemas: Record<string, Schema> } }).components.schemas.Filter.maxProperties).toBe(HARD_LIMITS.maxFilterFields);
      const upsert = body('upsertVectors').properties.vectors;
      expect(upsert.maxItems).toBe(defaults.maxVectorsPerRequest);
      expect(upsert.items.properties.id.maxLength).toBe(HARD_LIMITS.maxIdLength);
      const evaluate = body('evaluateCollection').properties;
      expect(evaluate.k.maximum).toBe(defaults.maxK);
      expect(evaluate.queries.maxItems).toBe(defaults.maxQueriesPerRequest);
      // The least a training sample may be: one vector per centroid at the smallest nbits.
      expect(body('trainCollection').properties.sampleSize.minimum).toBe(2 ** create.quantizer.properties.nbits.minimum);
      // z.int()'s ±(2⁵³ − 1) say nothing and are left out.
      expect(JSON.stringify(doc)).not.toContain(String(Number.MAX_SAFE_INTEGER));
    });

    it('a value at a documented bound is accepted, one past it refused', async () => {
      const create = body('createCollection').properties;
      const dimension = create.dimension.maximum;
      expect((await t.req('POST', '/collections', { name: 'widest', dimension })).statusCode).toBe(201);
      expect((await t.req('POST', '/collections', { name: 'too-wide', dimension: dimension + 1 })).statusCode).toBe(400);

      // nbits at its minimum: 2 centroids per sub-space, so the smallest documented sample trains.
      const nbits = create.quantizer.properties.nbits.minimum;
      expect((await t.req('POST', '/collections', { name: 'b', dimension: 4, quantizer: { type: 'pq', m: 2, nbits } })).statusCode).toBe(201);
      expect((await t.req('POST', '/collections/b/vectors', { vectors: seededVectors(8, 4, 1) })).statusCode).toBe(200);
      const sampleSize = body('trainCollection').properties.sampleSize.minimum;
      expect((await t.req('POST', '/collections/b/train', { sampleSize: sampleSize - 1 })).statusCode).toBe(400);
      const train = await t.req('POST', '/collections/b/train', { sampleSize });
      expect(train.statusCode).toBe(202);
      expect((await waitForJob(t, 'b', train.json().job.id)).state).toBe('succeeded');

      const query = body('queryCollection').properties;
      const vector = [0.5, 0.5, 0.5, 0.5];
      for (const [field, max] of [
        ['k', query.k.maximum],
        ['rerank', query.rerank.maximum],
        ['nprobe', query.nprobe.maximum],
      ] as const) {
        expect((await t.req('POST', '/collections/b/query', { vector, [field]: max })).statusCode, `${field} = ${max}`).toBe(200);
        expect((await t.req('POST', '/collections/b/query', { vector, [field]: max + 1 })).statusCode, `${field} = ${max + 1}`).toBe(400);
      }
      const edge = query.vector.items.maximum;
      expect((await t.req('POST', '/collections/b/query', { vector: [edge, 0, 0, 0] })).statusCode).toBe(200);
      expect((await t.req('POST', '/collections/b/query', { vector: [edge * 2, 0, 0, 0] })).statusCode).toBe(400);
    });

    it('every $ref of the document resolves to a component', () => {
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
      expect(refs.length).toBeGreaterThan(0);
      for (const name of new Set(refs)) expect(doc.components.schemas, name).toHaveProperty(name);
    });
  });

  it('a response its schema does not allow is answered 500 internal_error, and not sent', async () => {
    const t = await makeApp();
    try {
      // A throwaway route on a fresh app: the same plugins and compilers as every route of the service.
      const app: FastifyInstance = t.app;
      app.withTypeProvider<ZodTypeProvider>().get(
        '/throwaway',
        { schema: { response: { 200: z.object({ count: z.int() }) } } },
        // What a faulty handler might return: the type is defeated on purpose, the serialiser still checks.
        async () => ({ count: 'many' }) as unknown as { count: number },
      );
      const r = await t.req('GET', '/throwaway');
      expect(r.statusCode).toBe(500);
      expect(r.json()).toEqual({ error: { code: 'internal_error', message: 'internal error; the service log has the details' } });
      expect(r.body).not.toContain('many');
    } finally {
      await t.destroy();
    }
  });
});

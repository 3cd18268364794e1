import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, seededVectors } from '../helpers/app.js';

describe('vectors API', () => {
  // A fresh app for every test: each runs alone, in any order.
  let t: TestApp;
  beforeEach(async () => {
    t = await makeApp(undefined, { BODY_LIMIT: '200000' });
    await t.req('POST', '/collections', { name: 'v', dimension: 4, quantizer: { type: 'pq', m: 2, nbits: 4 } });
    await t.req('POST', '/collections', { name: 'cos', dimension: 3, metric: 'cosine', quantizer: { type: 'pq', m: 1, nbits: 2 } });
  });
  afterEach(() => t.destroy());

  const count = async (name = 'v') => (await t.req('GET', `/collections/${name}`)).json().count as number;

  it('inserts, reads back (float32) and replaces by id', async () => {
    const r = await t.req('POST', '/collections/v/vectors', {
      vectors: [
        { id: 'a', vector: [1, 2, 3, 4], metadata: { color: 'red', tags: ['x'], n: 1 } },
        { id: 'b', vector: [0.1, 0.2, 0.3, 0.4] },
      ],
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ upserted: 2 });
    const a = await t.req('GET', '/collections/v/vectors/a');
    expect(a.json()).toEqual({ id: 'a', vector: [1, 2, 3, 4], metadata: { color: 'red', tags: ['x'], n: 1 } });
    const b = await t.req('GET', '/collections/v/vectors/b');
    expect(b.json().vector).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
    expect(b.json().metadata).toBeNull();
    await t.req('POST', '/collections/v/vectors', { vectors: [{ id: 'a', vector: [5, 6, 7, 8] }] });
    expect((await t.req('GET', '/collections/v/vectors/a')).json()).toEqual({ id: 'a', vector: [5, 6, 7, 8], metadata: null });
    expect(await count()).toBe(2);
  });

  it('deletes a vector, 404 when absent', async () => {
    await t.req('POST', '/collections/v/vectors', {
      vectors: [
        { id: 'a', vector: [5, 6, 7, 8] },
        { id: 'b', vector: [0.1, 0.2, 0.3, 0.4] },
      ],
    });
    expect((await t.req('DELETE', '/collections/v/vectors/b')).statusCode).toBe(204);
    const again = await t.req('DELETE', '/collections/v/vectors/b');
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('vector_not_found');
    expect((await t.req('GET', '/collections/v/vectors/b')).statusCode).toBe(404);
    expect(await count()).toBe(1);
  });

  it('handles ids that need URL encoding', async () => {
    await t.req('POST', '/collections/v/vectors', { vectors: [{ id: 'doc/1 é?', vector: [1, 1, 1, 1] }] });
    const r = await t.req('GET', `/collections/v/vectors/${encodeURIComponent('doc/1 é?')}`);
    expect(r.statusCode).toBe(200);
    expect(r.json().id).toBe('doc/1 é?');
  });

  it.each([
    [{ vectors: [{ id: 'x', vector: [1, 2, 3] }] }, /vectors\[0\]\.vector has 3 values; the collection's dimension is 4/],
    [
      {
        vectors: [
          { id: 'ok1', vector: [1, 2, 3, 4] },
          { id: 'x', vector: [1, 2, 3, 4, 5] },
        ],
      },
      /vectors\[1\]\.vector has 5 values/,
    ],
    [{ vectors: [{ id: 'x', vector: [1, 2, 'three', 4] }] }, /body\.vectors\[0\]\.vector\[2\]: Invalid input: expected number/],
    [{ vectors: [{ id: 'x', vector: [1, 2, null, 4] }] }, /body\.vectors\[0\]\.vector\[2\]/],
    [{ vectors: [{ id: 'x', vector: [1, 2, 1e39, 4] }] }, /vectors\[0\]\.vector\[2\] = 1e\+39 is not a finite 32-bit float/],
    [{ vectors: [{ id: 'x' }] }, /body\.vectors\[0\]\.vector/],
    [{ vectors: [{ vector: [1, 2, 3, 4] }] }, /body\.vectors\[0\]\.id/],
    [{ vectors: [{ id: '', vector: [1, 2, 3, 4] }] }, /body\.vectors\[0\]\.id/],
    [{ vectors: [] }, /body\.vectors: Too small/],
    [{}, /body\.vectors/],
    [{ vectors: [{ id: 'x', vector: [1, 2, 3, 4], metadata: 'red' }] }, /body\.vectors\[0\]\.metadata/],
    [{ vectors: [{ id: 'x', vector: [1, 2, 3, 4], extra: 1 }] }, /Unrecognized key: "extra"/],
    [
      {
        vectors: [
          { id: 'd', vector: [1, 2, 3, 4] },
          { id: 'e', vector: [1, 2, 3, 4] },
          { id: 'd', vector: [4, 3, 2, 1] },
        ],
      },
      /vectors\[2\]\.id 'd' repeats vectors\[0\]\.id/,
    ],
  ])('rejects %j with 400 and writes nothing', async (body, message) => {
    const before = await count();
    const r = await t.req('POST', '/collections/v/vectors', body);
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('validation_error');
    expect(r.json().error.message).toMatch(message);
    expect(await count()).toBe(before);
    expect((await t.req('GET', '/collections/v/vectors/ok1')).statusCode).toBe(404);
  });

  it('rejects Infinity sent as 1e999', async () => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/collections/v/vectors',
      payload: '{"vectors":[{"id":"inf","vector":[1,2,1e999,4]}]}',
      headers: { 'content-type': 'application/json' },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/vector\[2\]/);
  });

  it('rejects an oversized body with 413 and a zero vector under cosine with 400', async () => {
    const big = { vectors: seededVectors(3000, 4, 1) };
    const r = await t.req('POST', '/collections/v/vectors', big);
    expect(r.statusCode).toBe(413);
    expect(r.json().error).toEqual({ code: 'payload_too_large', message: 'request body is larger than the limit of 200000 bytes (BODY_LIMIT)' });
    const zero = await t.req('POST', '/collections/cos/vectors', { vectors: [{ id: 'z', vector: [0, 0, 0] }] });
    expect(zero.statusCode).toBe(400);
    expect(zero.json().error.message).toMatch(/zero vector/);
  });

  it('404s writes to an unknown collection', async () => {
    const r = await t.req('POST', '/collections/nope/vectors', { vectors: [{ id: 'x', vector: [1] }] });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe('collection_not_found');
    expect((await t.req('GET', '/collections/nope/vectors/x')).statusCode).toBe(404);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestApp, makeApp } from '../helpers/app.js';

describe('collections API', () => {
  // A fresh app for every test: each runs alone, in any order.
  let t: TestApp;
  beforeEach(async () => {
    t = await makeApp();
  });
  afterEach(() => t.destroy());

  it('answers /health (alive) and /ready (database, indexes, workers, load, running)', async () => {
    const r = await t.req('GET', '/health');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
    const ready = await t.req('GET', '/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { database: true, collections: true, workers: true, load: true, running: true } });
  });

  it('creates a collection with defaults and returns it', async () => {
    const r = await t.req('POST', '/collections', { name: 'alpha', dimension: 32 });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({
      name: 'alpha',
      dimension: 32,
      metric: 'l2',
      quantizer: { type: 'pq', m: 4, nbits: 8 },
      count: 0,
      trained: false,
      codecVersion: null,
      bytesPerVector: 4,
      relativeMse: null,
      addedSinceTraining: 0,
      trainingJob: null,
    });
  });

  it('lists, gets and deletes collections', async () => {
    await t.req('POST', '/collections', { name: 'alpha', dimension: 32 });
    await t.req('POST', '/collections', { name: 'beta_2', dimension: 4, metric: 'cosine', quantizer: { type: 'pq', m: 2, nbits: 4 } });
    const list = await t.req('GET', '/collections');
    expect(list.statusCode).toBe(200);
    expect(list.json().collections.map((c: { name: string }) => c.name)).toEqual(['alpha', 'beta_2']);
    const got = await t.req('GET', '/collections/beta_2');
    expect(got.json()).toMatchObject({ metric: 'cosine', quantizer: { m: 2, nbits: 4 } });
    expect((await t.req('DELETE', '/collections/beta_2')).statusCode).toBe(204);
    const gone = await t.req('GET', '/collections/beta_2');
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ error: { code: 'collection_not_found', message: "collection 'beta_2' does not exist" } });
    expect((await t.req('DELETE', '/collections/beta_2')).statusCode).toBe(404);
  });

  it('refuses a duplicate name with 409', async () => {
    await t.req('POST', '/collections', { name: 'alpha', dimension: 32 });
    const r = await t.req('POST', '/collections', { name: 'alpha', dimension: 8 });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('collection_exists');
  });

  it.each([
    [{ name: 'has space', dimension: 4 }, /body\.name: must be 1–64 characters/],
    [{ name: 'x'.repeat(65), dimension: 4 }, /body\.name/],
    [{ name: 'ok', dimension: 0 }, /body\.dimension: Too small/],
    [{ name: 'ok', dimension: 2.5 }, /body\.dimension/],
    [{ name: 'ok', dimension: 100000 }, /body\.dimension: Too big/],
    [{ name: 'ok' }, /body\.dimension/],
    [{ name: 'ok', dimension: 4, metric: 'hamming' }, /body\.metric/],
    [{ name: 'ok', dimension: 4, dimensions: 4 }, /Unrecognized key: "dimensions"/],
    [{ name: 'ok', dimension: 4, quantizer: { type: 'hnsw' } }, /body\.quantizer\.type/],
    [{ name: 'ok', dimension: 4, quantizer: { type: 'pq', m: 5 } }, /quantizer: m \(sub-quantizers\) must be an integer in 1\.\.4/],
    [{ name: 'ok', dimension: 4, quantizer: { type: 'pq', nbits: 9 } }, /body\.quantizer\.nbits/],
    ['not an object', /body: Invalid input: expected object, received string/],
  ])('rejects a bad creation body %j with 400', async (body, message) => {
    const r = await t.app.inject({
      method: 'POST',
      url: '/collections',
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('validation_error');
    expect(r.json().error.message).toMatch(message);
    expect((await t.req('GET', '/collections/ok')).statusCode).toBe(404);
  });

  it('rejects malformed JSON, a wrong content type and an unknown route', async () => {
    const bad = await t.app.inject({ method: 'POST', url: '/collections', payload: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid_json');
    const proto = await t.app.inject({
      method: 'POST',
      url: '/collections',
      payload: '{"name":"p","dimension":4,"__proto__":{"x":1}}',
      headers: { 'content-type': 'application/json' },
    });
    expect(proto.statusCode).toBe(400);
    const text = await t.app.inject({
      method: 'POST',
      url: '/collections',
      payload: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');
    const nope = await t.req('GET', '/nothing/here');
    expect(nope.statusCode).toBe(404);
    expect(nope.json().error.code).toBe('not_found');
  });

  it('rejects a bad collection name in the path', async () => {
    const r = await t.req('GET', '/collections/bad%20name');
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toMatch(/params\.name/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, makeApp, seededVectors, waitForJob } from '../helpers/app.js';

/** The binary upsert body: per record a u16 LE id length, the UTF-8 id, d float32 LE. */
function records(items: { id: string | Buffer; vector: number[] }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { id, vector } of items) {
    const idBytes = typeof id === 'string' ? Buffer.from(id, 'utf8') : id;
    const head = Buffer.alloc(2);
    head.writeUInt16LE(idBytes.length);
    const values = Buffer.alloc(4 * vector.length);
    for (const [t, x] of vector.entries()) values.writeFloatLE(x, 4 * t);
    parts.push(head, idBytes, values);
  }
  return Buffer.concat(parts);
}

describe('binary bulk upsert (POST /collections/{name}/vectors/bulk)', () => {
  const d = 12;
  const data = seededVectors(900, d, 8);
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp(undefined, { MAX_VECTORS_PER_REQUEST: '500' });
  });
  afterAll(() => t.destroy());

  const bulk = (name: string, body: Buffer | string, type = 'application/octet-stream') =>
    t.app.inject({ method: 'POST', url: `/collections/${name}/vectors/bulk`, headers: { 'content-type': type }, payload: body });
  const create = (name: string, metric = 'l2') =>
    t.req('POST', '/collections', { name, dimension: d, metric, quantizer: { type: 'pq', m: 3, nbits: 6 } });

  it('stores exactly what the JSON upsert stores, and search answers the same, untrained and trained', async () => {
    await create('json');
    await create('bin');
    const plain = data.map(({ id, vector }) => ({ id, vector }));
    for (let s = 0; s < plain.length; s += 450) {
      expect((await t.req('POST', '/collections/json/vectors', { vectors: plain.slice(s, s + 450) })).statusCode).toBe(200);
      const r = await bulk('bin', records(plain.slice(s, s + 450)));
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ upserted: Math.min(450, plain.length - s) });
    }
    for (const id of ['v0', 'v417', 'v899']) {
      expect((await t.req('GET', `/collections/bin/vectors/${id}`)).json()).toEqual((await t.req('GET', `/collections/json/vectors/${id}`)).json());
    }
    const answers = async (name: string) => {
      const out = [];
      for (const qi of [3, 500]) out.push((await t.req('POST', `/collections/${name}/query`, { vector: data[qi].vector, k: 5 })).json().results);
      return out;
    };
    expect(await answers('bin')).toEqual(await answers('json'));
    for (const name of ['json', 'bin']) {
      const job = (await t.req('POST', `/collections/${name}/train`, { seed: 3 })).json().job;
      expect((await waitForJob(t, name, job.id)).state).toBe('succeeded');
    }
    expect(await answers('bin')).toEqual(await answers('json'));
    // Written after training: encoded on the way in, as the JSON path does.
    const late = seededVectors(20, d, 99, 5000).map(({ id, vector }) => ({ id, vector }));
    expect((await t.req('POST', '/collections/json/vectors', { vectors: late })).statusCode).toBe(200);
    expect((await bulk('bin', records(late))).statusCode).toBe(200);
    expect(await answers('bin')).toEqual(await answers('json'));
    expect((await t.req('GET', '/collections/bin')).json().count).toBe(920);
  });

  it('replaces existing ids, and ids may be any UTF-8', async () => {
    await create('r');
    expect((await bulk('r', records([{ id: 'é-1', vector: data[0].vector }]))).statusCode).toBe(200);
    expect((await bulk('r', records([{ id: 'é-1', vector: data[1].vector }]))).statusCode).toBe(200);
    const got = (await t.req('GET', `/collections/r/vectors/${encodeURIComponent('é-1')}`)).json();
    expect(got.vector).toEqual(data[1].vector.map(Math.fround));
    expect((await t.req('GET', '/collections/r')).json().count).toBe(1);
  });

  it('refuses malformed bodies with a 400 naming the record and byte, and writes nothing of them', async () => {
    await create('bad');
    await create('cos', 'cosine');
    const good = records(data.slice(0, 3));
    const v = data[5].vector;
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /no records/],
      ['truncated', good.subarray(0, good.length - 3), /record 2 \(byte \d+\): the body ends 3 bytes short/],
      ['odd byte', Buffer.concat([good, Buffer.from([7])]), /record 3 \(byte \d+\): the body ends inside the id length/],
      ['empty id', records([{ id: Buffer.alloc(0), vector: v }]), /record 0 \(byte 0\): id length 0/],
      ['bad UTF-8', records([{ id: Buffer.from([0xff, 0xfe]), vector: v }]), /not valid UTF-8/],
      [
        'NaN',
        Buffer.concat([good, records([{ id: 'n', vector: v.map((x, i) => (i === 4 ? Number.NaN : x)) }])]),
        /record 3 \(id 'n'\)\[4\] = NaN is not a finite/,
      ],
      ['too large', records([{ id: 'x', vector: v.map(() => 1e17) }]), /outside the supported range/],
      ['repeated id', records([data[0], data[1], data[0]]), /record 2\.id 'v0' repeats record 0\.id/],
    ];
    for (const [what, body, message] of cases) {
      const r = await bulk('bad', body);
      expect(r.statusCode, what).toBe(400);
      expect(r.json().error.code, what).toBe('validation_error');
      expect(r.json().error.message, what).toMatch(message);
    }
    const zero = await bulk('cos', records([{ id: 'z', vector: v.map(() => 0) }]));
    expect(zero.json().error.message).toMatch(/zero vector/);
    const many = await bulk('bad', records(data.slice(0, 501)));
    expect(many.statusCode).toBe(400);
    expect(many.json().error).toMatchObject({ code: 'limit_exceeded', details: { limit: 'MAX_VECTORS_PER_REQUEST', max: 500, value: 501 } });
    expect((await t.req('GET', '/collections/bad')).json().count).toBe(0);
    expect((await t.req('GET', '/collections/cos')).json().count).toBe(0);
  });

  it('answers 415 to a body that is not octet-stream, 404 to an unknown collection', async () => {
    const json = await bulk('bad', JSON.stringify({ vectors: [] }), 'application/json');
    expect(json.statusCode).toBe(415);
    expect(json.json().error.code).toBe('unsupported_media_type');
    expect((await bulk('nope', records(data.slice(0, 1)))).statusCode).toBe(404);
  });
});

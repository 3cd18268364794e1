import { describe, expect, it } from 'vitest';
import { packCodes } from '../../src/core/code-layout.js';
import { FlatCodec, IVFCodec, LIST_ID_BYTES, makeCodec } from '../../src/core/codec.js';
import { CoarseQuantizer } from '../../src/core/ivf.js';
import { matmulABt } from '../../src/core/linalg.js';
import { PQGeometry, ProductQuantizer } from '../../src/core/pq.js';
import { Rotation } from '../../src/core/rotation.js';
import { deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import { blobs, uniform } from '../helpers/data.js';

// d = 10, m = 3: uneven sub-spaces (4 + 3 + 3), so any address slip shows.
const d = 10;
const n = 600;
const x = blobs(n, d, 12, 4);
const { pq } = ProductQuantizer.train(x, n, d, { m: 3, nbits: 4 }, { seed: 5, iterations: 10 });

describe('codecs: one interface, two implementations', () => {
  it('makeCodec picks the kind from the parts, and both kinds survive serialisation as that kind', () => {
    const flat = makeCodec(pq);
    const ivf = makeCodec(pq, Rotation.identity(d), new CoarseQuantizer(2, d, uniform(2, d, 9)));
    expect(flat).toBeInstanceOf(FlatCodec);
    expect(ivf).toBeInstanceOf(IVFCodec);
    // Three 4-bit codes pack into two bytes.
    expect([flat.kind, flat.nlist, flat.codeSize, flat.type]).toEqual(['flat', null, 2, 'pq']);
    expect([ivf.kind, ivf.nlist, ivf.codeSize, ivf.type]).toEqual(['ivf', 2, 2 + LIST_ID_BYTES, 'opq']);
    for (const c of [flat, ivf]) expect(deserializeCodec(serializeCodec(c)).kind).toBe(c.kind);
  });

  it('an IVF codec with one cell at the origin stores the flat codec’s bytes behind list id 0, and decodes alike', () => {
    const flat = new FlatCodec(pq);
    const ivf = new IVFCodec(pq, null, new CoarseQuantizer(1, d, new Float32Array(d)));
    const a = flat.encode(x, n);
    const b = ivf.encode(x, n);
    const { lists, pqCodes } = ivf.split(b, n);
    expect(lists.every((l) => l === 0)).toBe(true);
    expect(Buffer.from(pqCodes)).toEqual(Buffer.from(a));
    expect(Array.from(ivf.decode(b, n))).toEqual(Array.from(flat.decode(a, n)));
  });

  it('a flat codec’s distance table is its quantizer’s table of the rotated query', () => {
    const rotation = Rotation.identity(d);
    const codec = new FlatCodec(pq, rotation);
    const t = codec.transformQuery(x, 7 * d);
    expect(Array.from(codec.distanceTable(x, 7 * d, 'l2'))).toEqual(Array.from(pq.distanceTable(t.q, t.qo, 'l2')));
  });
});

describe('the codebook accessor', () => {
  it('centroid(j, c) is what decoding code c in sub-space j writes, for uneven sub-spaces', () => {
    const g = pq.geometry;
    expect(Array.from(g.offsets)).toEqual([0, 4, 7, 10]);
    const codes = new Uint8Array(3);
    for (let j = 0; j < g.m; j++) {
      expect(pq.codebook(j).length).toBe(g.ksub * g.dsub(j));
      expect(g.codebookStart(j + 1) - g.codebookStart(j)).toBe(g.ksub * g.dsub(j));
      for (const c of [0, 5, g.ksub - 1]) {
        codes.fill(0);
        codes[j] = c;
        const rec = pq.decode(packCodes(codes, 1, g.m), 1);
        expect(Array.from(pq.centroid(j, c))).toEqual(Array.from(rec.subarray(g.offsets[j], g.offsets[j + 1])));
        expect(pq.centroid(j, c).byteOffset / 4).toBe(g.centroidStart(j, c));
      }
    }
    expect(new PQGeometry(d, 3, 4).codebookStart(3)).toBe(16 * d);
  });
});

describe('one A·Bᵀ kernel', () => {
  it('gives each entry the same float64 sum whatever the blocking: a single row equals that row of a larger product', () => {
    for (const [rows, m, k] of [
      [5, 7, 3],
      [1, 9, 10],
      [3, 4, 1],
    ]) {
      const A = uniform(rows, k, rows);
      const B = uniform(m, k, m + 100);
      const all = new Float64Array(rows * m);
      matmulABt(A, 0, B, 0, rows, m, k, all);
      for (let i = 0; i < rows; i++) {
        const one = new Float64Array(m);
        matmulABt(A, i * k, B, 0, 1, m, k, one);
        expect(Array.from(one)).toEqual(Array.from(all.subarray(i * m, (i + 1) * m)));
        for (let j = 0; j < m; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += A[i * k + t] * B[j * k + t];
          expect(one[j]).toBe(s);
        }
      }
    }
  });
});

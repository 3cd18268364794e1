import { describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import { AdditiveQuantizer } from '../../src/core/additive.js';
import { type Codec, IVFCodec } from '../../src/core/codec.js';
import { dot, l2sq } from '../../src/core/distance.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { CodecKind, crc32, deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import { CorruptCodecError } from '../../src/core/errors.js';
import { TopK } from '../../src/core/topk.js';
import { trainCodec } from '../../src/core/train.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { blobs } from '../helpers/data.js';
import { IVFSearcher } from '../../src/core/ivf.js';

const d = 16;
const n = 3_000;
const nlist = 8;
// Clusters: the coarse centroids take the clusters' offsets, the additive codes the spread within.
const x = blobs(n, d, nlist, 5);
const held = blobs(600, d, nlist, 6);
const options = { seed: 7, iterations: 8 };

function mse(codec: Codec, data: Float32Array, rows: number): number {
  const rec = codec.decode(codec.encode(data, rows), rows);
  let err = 0;
  for (let i = 0; i < rows; i++) err += l2sq(data, i * d, rec, i * d, d);
  return err / rows;
}

const trained = new Map<string, Promise<Codec>>();

/** The IVF codec of a type (trained once per type and norms, shared by the tests). */
async function ivfAdditive(type: 'rq' | 'lsq', norms = true): Promise<IVFCodec<AdditiveQuantizer>> {
  const key = `${type} ${norms}`;
  if (!trained.has(key))
    trained.set(
      key,
      trainCodec(x, n, d, { type, m: 3, nlist, beam: 2, norms }, options, inlineCompute).then((t) => t.codec),
    );
  const codec = await trained.get(key)!;
  expect(codec).toBeInstanceOf(IVFCodec);
  expect(codec.quantizer).toBeInstanceOf(AdditiveQuantizer);
  return codec as IVFCodec<AdditiveQuantizer>;
}

describe('IVF in front of an additive quantizer (rq, lsq)', () => {
  for (const type of ['rq', 'lsq'] as const) {
    it(`${type}: codes the residual to the cell, with less error than the flat ${type} of the same codebooks`, async () => {
      const codec = await ivfAdditive(type);
      expect(codec.type).toBe(type);
      expect(codec.nlist).toBe(nlist);
      // Two bytes of list id, M codes and the norm byte.
      expect(codec.codeSize).toBe(2 + 3 + 1);
      const { codec: flat } = await trainCodec(x, n, d, { type, m: 3, beam: 2 }, options, inlineCompute);
      expect(mse(codec, held, 600)).toBeLessThan(mse(flat, held, 600));
      expect(mse(codec, x, n)).toBeLessThan(mse(flat, x, n));
    });

    it(`${type}: a cell's table scores a code as its L2 distance (within the norm byte's bound) and negative inner product to its reconstruction`, async () => {
      const codec = await ivfAdditive(type);
      const codes = codec.encode(held, 200);
      const rec = codec.decode(codes, 200);
      const { lists, pqCodes } = codec.split(codes, 200);
      const bound = codec.quantizer.norm!.maxError();
      const rng = new Rng(3);
      const q = Float32Array.from({ length: d }, () => 3 * (rng.nextFloat() * 2 - 1));
      for (const metric of ['l2', 'ip'] as const) {
        const searcher = codec.ivfSearcher(metric);
        searcher.prepare(q, 0);
        for (let i = 0; i < 200; i++) {
          const got = adcDistance(pqCodes, i, codec.quantizer.geometry, searcher.cellTable(lists[i]));
          if (metric === 'l2') {
            const exact = l2sq(q, 0, rec, i * d, d);
            expect(Math.abs(got - exact)).toBeLessThanOrEqual(bound + 1e-3 * (1 + exact));
          } else {
            expect(got).toBeCloseTo(-dot(q, 0, rec, i * d, d), 3);
          }
        }
      }
    });

    it(`${type}: round-trips through serialisation (kind ${type === 'rq' ? 7 : 8}): same codes, reconstructions and search results`, async () => {
      const codec = await ivfAdditive(type);
      const bytes = serializeCodec(codec);
      expect(new DataView(bytes.buffer).getUint16(6, true)).toBe(type === 'rq' ? CodecKind.ivfRq : CodecKind.ivfLsq);
      const back = deserializeCodec(bytes) as IVFCodec<AdditiveQuantizer>;
      expect(back.kind).toBe('ivf');
      expect(back.type).toBe(type);
      expect(back.coarse.centroids).toEqual(codec.coarse.centroids);
      const codes = codec.encode(held, 600);
      expect(back.encode(held, 600)).toEqual(codes);
      expect(back.decode(codes, 600)).toEqual(codec.decode(codes, 600));
      const lists = InvertedLists.build(nlist, codec.codeSize, codes, 600, new Uint8Array(600)).lists.view();
      const search = (c: IVFCodec, metric: 'l2' | 'ip') => {
        const heap = new TopK(10);
        c.ivfSearcher(metric).search(x, 5 * d, lists, 3, heap);
        return heap.drainSorted();
      };
      for (const metric of ['l2', 'ip'] as const) expect(search(back, metric)).toEqual(search(codec, metric));
      bytes[30] ^= 1;
      expect(() => deserializeCodec(bytes)).toThrow(/checksum/);
    });
  }

  it('a search over every cell ranks as the exact distance to the reconstructions does (the nearest found)', async () => {
    const codec = await ivfAdditive('rq');
    const codes = codec.encode(held, 600);
    const rec = codec.decode(codes, 600);
    const lists = InvertedLists.build(nlist, codec.codeSize, codes, 600, new Uint8Array(600)).lists.view();
    for (let qi = 0; qi < 20; qi++) {
      const heap = new TopK(1);
      codec.ivfSearcher('ip').search(x, qi * d, lists, nlist, heap);
      let bestIp = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < 600; i++) bestIp = Math.max(bestIp, dot(x, qi * d, rec, i * d, d));
      expect(Math.abs(-heap.drainSorted().dist[0] - bestIp)).toBeLessThan(1e-3 * (1 + Math.abs(bestIp)));
    }
  });

  it('without norms (inner product, cosine): codes of list id + M bytes; L2 cell tables refused', async () => {
    const codec = await ivfAdditive('rq', false);
    expect(codec.codeSize).toBe(2 + 3);
    expect(() => codec.ivfSearcher('l2')).toThrow(/norms/);
  });

  it("holds the cells' terms visited first when not all fit (additive terms: M rows and the norm row), scoring as with all held", async () => {
    const codec = await ivfAdditive('rq');
    const codes = codec.encode(held, 600);
    const lists = InvertedLists.build(nlist, codec.codeSize, codes, 600, new Uint8Array(600)).lists.view();
    const size = codec.quantizer.m * codec.quantizer.ksub;
    const all = codec.ivfSearcher('l2');
    const partial = new IVFSearcher(codec.coarse, codec.quantizer, 'l2', 3 * size * 4); // three cells' terms
    for (let qi = 0; qi < 10; qi++) {
      const [a, b] = [new TopK(10), new TopK(10)];
      all.search(x, qi * d, lists, nlist, a);
      partial.search(x, qi * d, lists, nlist, b);
      const [ga, gb] = [a.drainSorted(), b.drainSorted()];
      expect(Array.from(gb.ids)).toEqual(Array.from(ga.ids));
      for (let i = 0; i < ga.dist.length; i++) expect(gb.dist[i]).toBeCloseTo(ga.dist[i], 3);
    }
  });

  it('refuses corrupt IVF + additive bytes: a short prefix, a dimension that does not match its quantizer', async () => {
    const bytes = serializeCodec(await ivfAdditive('rq'));
    const view = new DataView(bytes.buffer);
    const withCrc = (edit: (v: DataView) => void): Uint8Array => {
      const copy = Uint8Array.from(bytes);
      const v = new DataView(copy.buffer);
      edit(v);
      const payload = v.getUint32(8, true);
      v.setUint32(12 + payload, crc32(copy, 0, 12 + payload), true);
      return copy;
    };
    expect(view.getUint32(12, true)).toBe(d);
    // nlist far larger than the payload holds.
    expect(() => deserializeCodec(withCrc((v) => v.setUint32(16, 1e6, true)))).toThrow(/shorter than/);
    // The codec's dimension differs from the quantizer's.
    expect(() => deserializeCodec(withCrc((v) => v.setUint32(12, d + 1, true)))).toThrow(CorruptCodecError);
  });
});

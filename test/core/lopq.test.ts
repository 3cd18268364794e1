import { describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import { type IVFCodec, productQuantizerOf } from '../../src/core/codec.js';
import { dot, l2sq } from '../../src/core/distance.js';
import { LocalIVFCodec, trainLocalCodec } from '../../src/core/lopq.js';
import { Rng } from '../../src/core/rng.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import { TopK } from '../../src/core/topk.js';
import { trainCodec } from '../../src/core/train.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { gaussian } from '../helpers/data.js';

const d = 24;

/**
 * Clusters that each stretch along their own random directions: one rotation
 * cannot suit them all, a rotation per cell can.
 */
function locallyCorrelated(n: number, clusters: number, seed: number): Float32Array {
  const shapes = new Rng(77);
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: d }, () => 6 * gaussian(shapes)));
  const mixes = Array.from({ length: clusters }, () => Float32Array.from({ length: d * d }, () => gaussian(shapes)));
  const rng = new Rng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = i % clusters;
    // A decaying spectrum along the cluster's own mixing directions.
    const z = Float32Array.from({ length: d }, (_, t) => gaussian(rng) * 0.85 ** t);
    for (let a = 0; a < d; a++) {
      let s = centres[c][a];
      for (let t = 0; t < d; t++) s += mixes[c][a * d + t] * z[t];
      out[i * d + a] = s;
    }
  }
  return out;
}

function mse(codec: IVFCodec, data: Float32Array, rows: number): number {
  const rec = codec.decode(codec.encode(data, rows), rows);
  let err = 0;
  for (let i = 0; i < rows; i++) err += l2sq(data, i * d, rec, i * d, d);
  return err / rows;
}

const n = 4000;
const nlist = 4;
const x = locallyCorrelated(n, nlist, 5);
const held = locallyCorrelated(1000, nlist, 6);
const config = { m: 6, nbits: 6, nlist };

async function lopq(data: Float32Array, rows: number, cfg = config, iterations = 1): Promise<LocalIVFCodec> {
  const { codec } = await trainLocalCodec(data, rows, d, cfg, { seed: 3, iterations: 10, local: { iterations } }, inlineCompute);
  return codec as LocalIVFCodec;
}

describe('LOPQ (a rotation per IVF cell)', () => {
  it('with one cell and no updates is IVF + parametric OPQ with the same seed', async () => {
    const one = { ...config, nlist: 1 };
    const local = await lopq(x, 2000, one, 0);
    const { codec: opq } = await trainCodec(
      x,
      2000,
      d,
      { type: 'opq', ...one },
      { seed: 3, iterations: 10, rotation: { start: 'parametric', iterations: 0 } },
      inlineCompute,
    );
    expect(local.local.count).toBe(2); // the global rotation and the cell's own
    expect(local.quantizer.centroids).toEqual(productQuantizerOf(opq).centroids);
    const a = local.encode(held, 1000);
    const b = opq.encode(held, 1000);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same / a.length).toBeGreaterThan(0.999);
    expect(mse(local, held, 1000)).toBeCloseTo(mse(opq as IVFCodec, held, 1000), 3);
  });

  it('gives large cells orthogonal rotations of their own and codes with less error than IVF + OPQ', async () => {
    const local = await lopq(x, n);
    expect(local.type).toBe('lopq');
    expect(local.local.count).toBe(nlist + 1);
    expect(local.local.orthogonalityError()).toBeLessThan(1e-4);
    const { codec: opq } = await trainCodec(x, n, d, { type: 'opq', ...config }, { seed: 3, iterations: 10 }, inlineCompute);
    const ours = mse(local, held, 1000);
    const theirs = mse(opq as IVFCodec, held, 1000);
    expect(ours).toBeLessThan(0.9 * theirs);
    expect(mse(local, x, n)).toBeLessThan(mse(opq as IVFCodec, x, n));
  });

  it('keeps the global rotation for cells under the row minimum and past the memory budget (coarse centroids and codebook counted)', async () => {
    const { codec } = await trainLocalCodec(
      x,
      n,
      d,
      config,
      { seed: 3, local: { maxRotationBytes: 3 * d * d * 4 + (nlist + 64) * d * 4 } },
      inlineCompute,
    );
    const local = (codec as LocalIVFCodec).local;
    expect(local.count).toBe(3);
    expect(Array.from(local.cellMatrix).filter((r) => r === 0)).toHaveLength(nlist - 2);
    // One byte short of that: the centroids and codebook leave room for one rotation fewer.
    const short = await trainLocalCodec(
      x,
      n,
      d,
      config,
      { seed: 3, local: { maxRotationBytes: 3 * d * d * 4 + (nlist + 64) * d * 4 - 1 } },
      inlineCompute,
    );
    expect((short.codec as LocalIVFCodec).local.count).toBe(2);
    const { codec: none } = await trainLocalCodec(x, n, d, config, { seed: 3, local: { minCellRows: n } }, inlineCompute);
    expect((none as LocalIVFCodec).local.count).toBe(1);
  });

  it("scores a code in a cell's table as the exact distance (L2) or negative inner product to its reconstruction", async () => {
    const codec = await lopq(x, n);
    const codes = codec.encode(held, 50);
    const rec = codec.decode(codes, 50);
    const { lists, pqCodes } = codec.split(codes, 50);
    for (const metric of ['l2', 'ip'] as const) {
      const searcher = codec.ivfSearcher(metric);
      searcher.prepare(x, 0);
      for (let i = 0; i < 50; i++) {
        const table = searcher.cellTable(lists[i]);
        const got = adcDistance(pqCodes, i, codec.quantizer.geometry, table);
        const want = metric === 'l2' ? l2sq(x, 0, rec, i * d, d) : -dot(x, 0, rec, i * d, d);
        expect(got).toBeCloseTo(want, 2);
      }
    }
  });

  it('round-trips through serialisation: same codes, reconstructions and search results', async () => {
    const codec = await lopq(x, n);
    const bytes = serializeCodec(codec);
    const back = deserializeCodec(bytes);
    expect(back).toBeInstanceOf(LocalIVFCodec);
    expect(back.type).toBe('lopq');
    const codes = codec.encode(held, 1000);
    expect(back.encode(held, 1000)).toEqual(codes);
    expect(back.decode(codes, 1000)).toEqual(codec.decode(codes, 1000));
    const lists = InvertedLists.build(nlist, codec.codeSize, codes, 1000, new Uint8Array(1000)).lists.view();
    const search = (c: IVFCodec) => {
      const heap = new TopK(10);
      c.ivfSearcher('l2').search(x, 5 * d, lists, 2, heap);
      return heap.drainSorted();
    };
    expect(search(back as IVFCodec)).toEqual(search(codec));
    // A flipped byte is refused.
    bytes[40] ^= 1;
    expect(() => deserializeCodec(bytes)).toThrow(/checksum/);
  });

  it('refuses a flat configuration', async () => {
    await expect(trainCodec(x, n, d, { type: 'lopq', m: 6, nbits: 6 }, {}, inlineCompute)).rejects.toThrow(/needs IVF/);
  });
});

import { describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import { codeShape } from '../../src/core/code-layout.js';
import { FlatCodec, IVFCodec, LIST_ID_BYTES, listOf } from '../../src/core/codec.js';
import { l2sq } from '../../src/core/distance.js';
import { CoarseQuantizer, eligibleSlots, IVFSearcher, type ListsView, trainCoarse } from '../../src/core/ivf.js';
import { ProductQuantizer } from '../../src/core/pq.js';
import { Rotation } from '../../src/core/rotation.js';
import { deserializeCodec, serializeCodec } from '../../src/core/serialize.js';
import { TopK } from '../../src/core/topk.js';
import { CollectionIndex } from '../../src/index/collection-index.js';
import { InvertedLists } from '../../src/index/inverted-lists.js';
import { Rng } from '../../src/core/rng.js';
import { blobs, uniform } from '../helpers/data.js';

const d = 16;
const n = 4000;
const nlist = 16;
const x = blobs(n, d, 40, 3, 1);

/** An IVF codec trained inline: coarse k-means, then PQ on the residuals. */
function trainIVF(data: Float32Array, rows: number, m: number, nbits: number): IVFCodec {
  const { coarse } = trainCoarse(data, rows, d, nlist, { seed: 1 });
  const residuals = coarse.residuals(data, rows, coarse.assign(data, rows));
  return new IVFCodec(ProductQuantizer.train(residuals, rows, d, { m, nbits }, { iterations: 20, seed: 2 }).pq, null, coarse);
}

function mse(codec: FlatCodec | IVFCodec, data: Float32Array, rows: number): number {
  const rec = codec.decode(codec.encode(data, rows), rows);
  let err = 0;
  for (let i = 0; i < rows; i++) err += l2sq(data, i * d, rec, i * d, d);
  return err / rows;
}

const codec = trainIVF(x, n, 4, 6);
const codes = codec.encode(x, n);
const lists = InvertedLists.build(nlist, codec.codeSize, codes, n, new Uint8Array(n)).lists.view();

describe('IVF (coarse quantizer + residual PQ)', () => {
  it('stores each vector in its nearest cell and encodes the residual: lower MSE than PQ of the vectors', () => {
    const coarse = codec.coarse;
    for (let i = 0; i < n; i += 97) {
      const list = listOf(codes, i * codec.codeSize);
      let best = 0;
      for (let l = 1; l < nlist; l++) if (l2sq(x, i * d, coarse.centroids, l * d, d) < l2sq(x, i * d, coarse.centroids, best * d, d)) best = l;
      expect(l2sq(x, i * d, coarse.centroids, list * d, d)).toBeCloseTo(l2sq(x, i * d, coarse.centroids, best * d, d), 2);
    }
    // Same code bytes, same PQ training: residuals are smaller, so they lose less.
    const flat = new FlatCodec(ProductQuantizer.train(x, n, d, { m: 4, nbits: 6 }, { iterations: 20, seed: 2 }).pq);
    expect(mse(codec, x, n)).toBeLessThan(0.8 * mse(flat, x, n));
  });

  it('with nprobe = nlist returns exactly what an exhaustive scan of the same codes returns', () => {
    const queries = uniform(20, d, 11).map((v) => v * 8 - 4);
    const searcher = codec.ivfSearcher('l2');
    for (let q = 0; q < 20; q++) {
      const ivf = new TopK(25);
      searcher.search(queries, q * d, lists, nlist, ivf);
      // Reference: every row in row order, its cell's table, the shared distance kernel.
      const flat = new TopK(25);
      searcher.prepare(queries, q * d);
      const pqCodes = codec.split(codes, n).pqCodes;
      const tables = Array.from({ length: nlist }, (_, l) => searcher.cellTable(l).slice());
      for (let r = 0; r < n; r++) flat.push(adcDistance(pqCodes, r, codeShape(4, 64), tables[listOf(codes, r * codec.codeSize)]), r);
      const a = ivf.drainSorted();
      const b = flat.drainSorted();
      expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
      expect(Array.from(a.dist)).toEqual(Array.from(b.dist));
      // And the tables give ‖q − x̂‖², the distance to the reconstruction.
      const rec = codec.decode(codes.subarray(a.ids[0] * codec.codeSize, (a.ids[0] + 1) * codec.codeSize), 1);
      expect(a.dist[0]).toBeCloseTo(l2sq(queries, q * d, rec, 0, d), 2);
    }
  });

  it('with packed 4-bit codes: probes and eligible-row scoring read two codes per byte and agree with an exhaustive scan', () => {
    const codec4 = trainIVF(x, n, 5, 4);
    expect(codec4.codeSize).toBe(3 + LIST_ID_BYTES);
    const codes4 = codec4.encode(x, n);
    const lists4 = InvertedLists.build(nlist, codec4.codeSize, codes4, n, new Uint8Array(n)).lists.view();
    const queries = uniform(6, d, 13).map((v) => v * 8 - 4);
    const skip = Uint8Array.from({ length: n }, (_, r) => ((r * 7919) % 10 < 9 ? 1 : 0));
    const slots = eligibleSlots(
      lists4,
      skip,
      skip.reduce((e, s) => e + (s ^ 1), 0),
    );
    const { pqCodes } = codec4.split(codes4, n);
    for (const metric of ['l2', 'ip'] as const) {
      const searcher = codec4.ivfSearcher(metric);
      for (let q = 0; q < 6; q++) {
        const probe = new TopK(20);
        searcher.search(queries, q * d, lists4, nlist, probe, skip);
        searcher.prepare(queries, q * d);
        const tables = Array.from({ length: nlist }, (_, l) => searcher.cellTable(l).slice());
        const flat = new TopK(20);
        for (let r = 0; r < n; r++) {
          if (skip[r] === 0) flat.push(adcDistance(pqCodes, r, codec4.quantizer.geometry, tables[listOf(codes4, r * codec4.codeSize)]), r);
        }
        const rows = new TopK(20);
        searcher.searchRows(queries, q * d, lists4, rows, slots, skip);
        const [a, b, c] = [probe.drainSorted(), flat.drainSorted(), rows.drainSorted()];
        expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
        expect(Array.from(a.dist)).toEqual(Array.from(b.dist));
        expect(Array.from(c.ids)).toEqual(Array.from(b.ids));
      }
    }
  });

  it('scoring only the eligible rows (searchRows) finds what a full probe with the skip map finds, with both ways of summing', () => {
    const queries = uniform(10, d, 12).map((v) => v * 8 - 4);
    // 10 % eligible: ~25 rows per cell, summed from the held terms; 30 %: ~75, scanned whole with the skip map; all eligible likewise.
    const sparse = Uint8Array.from({ length: n }, (_, r) => ((r * 7919) % 10 < 9 ? 1 : 0));
    const third = Uint8Array.from({ length: n }, (_, r) => ((r * 7919) % 10 < 7 ? 1 : 0));
    for (const [skip, metric] of [
      [sparse, 'l2'],
      [sparse, 'ip'],
      [third, 'l2'],
      [new Uint8Array(n), 'l2'],
    ] as const) {
      const eligible = skip.reduce((e, s) => e + (s ^ 1), 0);
      const slots = eligibleSlots(lists, skip, eligible);
      expect(slots.cellStarts[nlist]).toBe(eligible);
      const searcher = codec.ivfSearcher(metric);
      for (let q = 0; q < 10; q++) {
        const probe = new TopK(25);
        searcher.search(queries, q * d, lists, nlist, probe, skip);
        const rows = new TopK(25);
        searcher.searchRows(queries, q * d, lists, rows, slots, skip);
        const a = probe.drainSorted();
        const b = rows.drainSorted();
        expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
        for (let i = 0; i < a.dist.length; i++) expect(b.dist[i]).toBeCloseTo(a.dist[i], 3);
        for (const id of b.ids) expect(skip[id]).toBe(0);
        // With a target: the nearest cells until they held `target` eligible rows (then more until the heap is full),
        // which is what a probe of that many cells finds.
        for (const [target, k] of [
          [100, 25],
          [10, 300],
        ]) {
          searcher.prepare(queries, q * d);
          const order = searcher.probes(nlist);
          let cells = 0;
          for (let seen = 0; seen < target; cells++) seen += slots.cellStarts[order[cells] + 1] - slots.cellStarts[order[cells]];
          const near = new TopK(k);
          searcher.search(queries, q * d, lists, cells, near, skip, true);
          const nearRows = new TopK(k);
          searcher.searchRows(queries, q * d, lists, nearRows, slots, skip, target);
          const [c, e] = [near.drainSorted(), nearRows.drainSorted()];
          expect(e.ids.length).toBe(k);
          expect(Array.from(e.ids)).toEqual(Array.from(c.ids));
        }
      }
    }
  });

  it('visits only the nprobe nearest cells, and finds more true neighbours as nprobe grows', () => {
    const searcher = codec.ivfSearcher('l2');
    const q = x.subarray(0, d);
    searcher.prepare(q, 0);
    const probes = searcher.probes(2);
    const heap = new TopK(n);
    searcher.search(q, 0, lists, 2, heap);
    const found = heap.drainSorted().ids;
    expect(found.length).toBe(lists.sizes[probes[0]] + lists.sizes[probes[1]]);
    for (const row of found) expect(Array.from(probes)).toContain(listOf(codes, row * codec.codeSize));

    // Recall@10 against exact search over 50 queries, nprobe 1 vs 4.
    const recall = (nprobe: number): number => {
      let hits = 0;
      for (let i = 0; i < 50; i++) {
        const exact = new TopK(10);
        for (let r = 0; r < n; r++) exact.push(l2sq(x, i * 80 * d, x, r * d, d), r);
        const truth = new Set(exact.drainSorted().ids);
        const got = new TopK(10);
        searcher.search(x, i * 80 * d, lists, nprobe, got);
        for (const id of got.drainSorted().ids) if (truth.has(id)) hits++;
      }
      return hits / 500;
    };
    expect(recall(4)).toBeGreaterThan(recall(1));
  });

  it('with fill, goes on to the next nearest cells until k eligible rows are found', () => {
    const searcher = codec.ivfSearcher('l2');
    searcher.prepare(x, 0);
    const [nearest, second] = searcher.probes(2);
    // Only rows outside the query's nearest cell are eligible.
    const skip = new Uint8Array(n);
    for (let r = 0; r < n; r++) if (listOf(codes, r * codec.codeSize) === nearest) skip[r] = 1;
    const strict = new TopK(10);
    searcher.search(x, 0, lists, 1, strict, skip);
    expect(strict.size).toBe(0);
    const filled = new TopK(10);
    searcher.search(x, 0, lists, 1, filled, skip, true);
    const ids = filled.drainSorted().ids;
    expect(ids.length).toBe(10);
    for (const row of ids) expect(listOf(codes, row * codec.codeSize)).toBe(second);
  });

  it('ranks by inner product with the ip metric', () => {
    const searcher = codec.ivfSearcher('ip');
    const q = uniform(1, d, 5);
    const heap = new TopK(5);
    searcher.search(q, 0, lists, nlist, heap);
    const got = heap.drainSorted();
    const rec = codec.decode(codes, n);
    for (let i = 0; i < 5; i++) {
      const row = got.ids[i];
      let ip = 0;
      for (let t = 0; t < d; t++) ip += q[t] * rec[row * d + t];
      expect(-got.dist[i]).toBeCloseTo(ip, 2);
    }
    let best = -Infinity;
    for (let r = 0; r < n; r++) {
      let ip = 0;
      for (let t = 0; t < d; t++) ip += q[t] * rec[r * d + t];
      best = Math.max(best, ip);
    }
    expect(-got.dist[0]).toBeCloseTo(best, 2);
  });

  it('skips tombstoned rows and computes cell terms on the fly when they are not precomputed', () => {
    const dead = new Uint8Array(n);
    for (let r = 0; r < n; r += 2) dead[r] = 1;
    const heap = new TopK(30);
    codec.ivfSearcher('l2').search(x, 0, lists, nlist, heap, dead);
    const got = heap.drainSorted();
    expect(got.ids.length).toBe(30);
    for (const row of got.ids) expect(row % 2).toBe(1);
    const onTheFly = new TopK(30);
    new IVFSearcher(codec.coarse!, codec.quantizer, 'l2', 0).search(x, 0, lists, nlist, onTheFly, dead);
    const other = onTheFly.drainSorted();
    expect(Array.from(other.ids)).toEqual(Array.from(got.ids));
    expect(Array.from(other.dist)).toEqual(Array.from(got.dist));
  });

  it('serialises with a rotation and coarse centroids, byte for byte', () => {
    const rotation = Rotation.identity(d);
    const withRotation = new IVFCodec(codec.quantizer, rotation, codec.coarse);
    for (const c of [codec, withRotation]) {
      const bytes = serializeCodec(c);
      const back = deserializeCodec(bytes);
      expect(back.nlist).toBe(nlist);
      expect(back.codeSize).toBe(4 + LIST_ID_BYTES);
      expect(back.rotation === null).toBe(c.rotation === null);
      expect(Array.from(back.encode(x, 50))).toEqual(Array.from(c.encode(x, 50)));
      expect(serializeCodec(back)).toEqual(bytes);
    }
    const bad = serializeCodec(codec);
    bad[20] ^= 1;
    expect(() => deserializeCodec(bad)).toThrow(/checksum/);
  });

  it('cell tables from the SIMD kernel (held terms) equal, bit for bit, those summed in JavaScript per cell', () => {
    const queries = blobs(5, d, 40, 77, 2);
    for (const c of [codec, trainIVF(x, n, 3, 8)]) {
      const simd = new IVFSearcher(c.coarse, c.quantizer, 'l2');
      const plain = new IVFSearcher(c.coarse, c.quantizer, 'l2', 0); // terms too large to hold: computed per cell
      for (let q = 0; q < 5; q++) {
        simd.prepare(queries, q * d);
        plain.prepare(queries, q * d);
        for (const l of [0, 3, nlist - 1]) {
          const a = Array.from(simd.cellTable(l));
          expect(a).toEqual(Array.from(plain.cellTable(l)));
          expect(a[0]).not.toBe(0);
        }
      }
    }
  });

  it('holds the terms of the cells visited first when not all fit, and scores as with all held', () => {
    const queries = blobs(5, d, 40, 77, 2);
    const size = codec.quantizer.m * codec.quantizer.ksub;
    const all = new IVFSearcher(codec.coarse, codec.quantizer, 'l2');
    // Room for three cells' terms: those visited first are kept, the rest computed per visit.
    const partial = new IVFSearcher(codec.coarse, codec.quantizer, 'l2', 3 * size * 4);
    for (let q = 0; q < 5; q++) {
      const a = new TopK(20);
      const b = new TopK(20);
      all.search(queries, q * d, lists, nlist, a);
      partial.search(queries, q * d, lists, nlist, b);
      const [ga, gb] = [a.drainSorted(), b.drainSorted()];
      expect(Array.from(gb.ids)).toEqual(Array.from(ga.ids));
      for (let i = 0; i < ga.dist.length; i++) expect(gb.dist[i]).toBeCloseTo(ga.dist[i], 4);
      all.prepare(queries, q * d);
      partial.prepare(queries, q * d);
      for (let l = 0; l < nlist; l++) {
        const ta = all.cellTable(l);
        const tb = partial.cellTable(l);
        for (let i = 0; i < size; i++) expect(tb[i]).toBeCloseTo(ta[i], 4);
      }
    }
  });

  it('refuses to train more cells than vectors', () => {
    expect(() => trainCoarse(x, 10, d, 16)).toThrow(/at least 16/);
    expect(() => new CoarseQuantizer(0, d, new Float32Array(0))).toThrow();
  });
});

describe('inverted lists', () => {
  it('grow, move and compact without losing or reordering entries, and old views stay intact', () => {
    const size = codec.codeSize;
    const few = 40;
    const il = InvertedLists.build(nlist, size, codes, few, new Uint8Array(few)).lists;
    const before = il.view();
    const snapshot = (v: ListsView, l: number): number[] => Array.from(v.rows.subarray(v.offsets[l], v.offsets[l] + v.sizes[l]));
    const old = Array.from({ length: nlist }, (_, l) => snapshot(before, l));
    const oldCodes = Array.from({ length: nlist }, (_, l) =>
      Array.from(before.codes.subarray(before.offsets[l] * 4, (before.offsets[l] + before.sizes[l]) * 4)),
    );
    for (let r = few; r < n; r++) il.add(r, codes, r * size);
    expect(il.size).toBe(n);
    const after = il.view();
    for (let l = 0; l < nlist; l++) {
      const rows = snapshot(after, l);
      expect(rows).toEqual([...rows].sort((a, b) => a - b)); // appended in row order
      for (const r of rows) expect(listOf(codes, r * size)).toBe(l);
      for (let i = 0; i < rows.length; i++) {
        const slot = after.offsets[l] + i;
        expect(Array.from(after.codes.subarray(slot * 4, slot * 4 + 4))).toEqual(Array.from(codes.subarray(rows[i] * size + 2, rows[i] * size + 6)));
      }
      // The view taken before the growth still shows what it showed.
      expect(snapshot(before, l)).toEqual(old[l]);
      expect(Array.from(before.codes.subarray(before.offsets[l] * 4, (before.offsets[l] + before.sizes[l]) * 4))).toEqual(oldCodes[l]);
    }
  });

  it('build puts every live row in its list with its code, dead rows left out, from one buffer or segments, copied by words or by bytes', () => {
    const rng = new Rng(5);
    for (const m of [3, 4, 6, 8, 16]) {
      const size = m + 2;
      const rows = 500;
      const lists = 7;
      const raw = new Uint8Array(rows * size);
      for (let r = 0; r < rows; r++) {
        raw[r * size] = rng.nextInt(lists); // list id, uint16 little-endian
        for (let t = 2; t < size; t++) raw[r * size + t] = rng.nextInt(256);
      }
      const dead = new Uint8Array(rows);
      for (let r = 0; r < rows; r += 3) dead[r] = 1;
      const whole = InvertedLists.build(lists, size, raw, rows, dead);
      expect(whole.rowsRead).toBe(rows);
      // The same codes in segments of 37 rows, every other one at an odd byte offset (copied by bytes).
      const odd = new Uint8Array(raw.length + 1);
      odd.set(raw, 1);
      const segments = (visit: (first: number, codes: Uint8Array) => void) => {
        for (let first = 0; first < rows; first += 37) {
          const end = Math.min(rows, first + 37);
          visit(first, (first / 37) % 2 === 0 ? raw.subarray(first * size, end * size) : odd.subarray(1 + first * size, 1 + end * size));
        }
      };
      const pieces = InvertedLists.build(lists, size, segments, rows, dead);
      expect(pieces.rowsRead).toBe(rows);
      expect(pieces.lists.view()).toEqual(whole.lists.view());
      const built = whole.lists.view();
      for (let l = 0; l < lists; l++) {
        const expected: number[][] = [];
        for (let r = 0; r < rows; r++) if (dead[r] === 0 && raw[r * size] === l) expected.push([r, ...raw.subarray(r * size + 2, (r + 1) * size)]);
        const got: number[][] = [];
        for (let i = 0; i < built.sizes[l]; i++) {
          const slot = built.offsets[l] + i;
          got.push([built.rows[slot], ...built.codes.subarray(slot * m, (slot + 1) * m)]);
        }
        expect(got).toEqual(expected);
      }
    }
  });

  it('a collection index loads an IVF codec from segments, and refuses codes that cover fewer rows than it holds', () => {
    const size = codec.codeSize;
    const segments = (upTo: number) => (visit: (first: number, codes: Uint8Array) => void) => {
      for (let first = 0; first < upTo; first += 1024) visit(first, codes.subarray(first * size, Math.min(upTo, first + 1024) * size));
    };
    const active = { id: 1, version: 1, codec };
    const index = CollectionIndex.load(n, [5, 7], active, segments(n));
    expect(index.lists?.size).toBe(n - 2);
    expect(() => CollectionIndex.load(n, [], active, segments(n - 1))).toThrow(`${n - 1} rows of codes for ${n} rows`);
  });
});

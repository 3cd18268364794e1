import { describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import { ADDITIVE_K, AdditiveQuantizer, NORM_LEVELS, NormQuantizer } from '../../src/core/additive.js';
import { dot, l2sq } from '../../src/core/distance.js';
import { trainResidualQuantizer } from '../../src/core/residual.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { Rng } from '../../src/core/rng.js';
import { correlated } from '../helpers/data.js';

const d = 24;
const n = 1_200;
const x = correlated(n, d, 5);
const options = { iterations: 8, seed: 11 };
const train = (m: number, beam: number, norm = true) => trainResidualQuantizer(x, n, d, { m, beam, norm }, options, inlineCompute);

/** Mean ‖x − decode(encode(x))‖² over the rows. */
function mse(q: AdditiveQuantizer, data: Float32Array, rows: number): number {
  const rec = q.decode(q.encode(data, rows), rows);
  let s = 0;
  for (let i = 0; i < rows; i++) s += l2sq(data, i * d, rec, i * d, d);
  return s / rows;
}

/** Greedy residual encoding written out plainly: each stage the codeword nearest the residual. */
function greedyCodes(q: AdditiveQuantizer, data: Float32Array, i: number): number[] {
  const r = Float32Array.from(data.subarray(i * d, (i + 1) * d));
  const codes: number[] = [];
  for (let m = 0; m < q.stages; m++) {
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < ADDITIVE_K; k++) {
      const dd = l2sq(r, 0, q.codebooks, q.codeword(m, k), d);
      if (dd < bestD) [best, bestD] = [k, dd];
    }
    codes.push(best);
    for (let t = 0; t < d; t++) r[t] -= q.codebooks[q.codeword(m, best) + t];
  }
  return codes;
}

describe('residual quantizer', () => {
  it('error never rises with more stages, in training and on held-out data', async () => {
    const { quantizer, report } = await train(6, 4);
    for (let m = 1; m < report.stageMse.length; m++) expect(report.stageMse[m]).toBeLessThanOrEqual(report.stageMse[m - 1]);
    // Truncating the codebooks: the first s stages alone code worse than all six.
    const held = correlated(300, d, 99);
    let previous = Infinity;
    for (const s of [1, 2, 4, 6]) {
      const q = new AdditiveQuantizer('rq', d, s, quantizer.codebooks.slice(0, s * ADDITIVE_K * d), null, 4);
      const e = mse(q, held, 300);
      expect(e).toBeLessThanOrEqual(previous);
      previous = e;
    }
  });

  it('learns each stage by plain or progressive-dimension k-means, with or without refinement rounds: error never rises, codebooks differ', async () => {
    const base = await trainResidualQuantizer(
      x,
      n,
      d,
      { m: 3, beam: 4, norm: true },
      { ...options, kmeans: 'plain', refineRounds: 0 },
      inlineCompute,
    );
    for (const variant of [
      { kmeans: 'progressive', refineRounds: 0 },
      { kmeans: 'plain', refineRounds: 2 },
    ] as const) {
      const { quantizer, report } = await trainResidualQuantizer(x, n, d, { m: 3, beam: 4, norm: true }, { ...options, ...variant }, inlineCompute);
      for (let m = 1; m < 3; m++) expect(report.stageMse[m]).toBeLessThanOrEqual(report.stageMse[m - 1]);
      expect(quantizer.codebooks).not.toEqual(base.quantizer.codebooks);
      expect(mse(quantizer, x, n)).toBeCloseTo(report.trainMse, 3);
    }
    // Refinement: each kept round lowers the training error below the stages' own.
    const refined = await trainResidualQuantizer(
      x,
      n,
      d,
      { m: 3, beam: 4, norm: true },
      { ...options, kmeans: 'plain', refineRounds: 2 },
      inlineCompute,
    );
    const rounds = refined.report.refineMse ?? [];
    expect(rounds.length).toBeGreaterThan(0);
    for (const [i, e] of rounds.entries()) expect(e).toBeLessThan(i === 0 ? base.report.trainMse : rounds[i - 1]);
    expect(refined.report.trainMse).toBe(rounds.at(-1));
  });

  it('a wider beam never codes worse (codebooks trained with a beam, on training and held-out rows)', async () => {
    // (Codebooks trained greedily fit greedy residuals: there a beam of 2 measured a little worse than 1.)
    const { quantizer } = await train(5, 4);
    const held = correlated(500, d, 98);
    for (const [data, rows] of [
      [x, n],
      [held, 500],
    ] as const) {
      let previous = Infinity;
      for (const beam of [1, 2, 4, 8, 16]) {
        const q = new AdditiveQuantizer('rq', d, 5, quantizer.codebooks, null, beam);
        const e = q.encodeRows(data, rows, new Uint8Array(rows * q.codeSize), null);
        expect(e).toBeLessThanOrEqual(previous + 1e-9);
        previous = e;
      }
    }
  });

  it('a beam of 1 is greedy residual encoding', async () => {
    const { quantizer } = await train(4, 1);
    const codes = quantizer.encode(x, n);
    let same = 0;
    for (let i = 0; i < n; i++) {
      const greedy = greedyCodes(quantizer, x, i);
      if (greedy.every((c, m) => c === codes[i * quantizer.codeSize + m])) same++;
    }
    // Look-up-table distances round differently from direct ones: a near-tie may go the other way.
    expect(same).toBeGreaterThanOrEqual(n - 2);
  });

  it('encoding the training rows gives the reported error; decode(encode(x)) matches it', async () => {
    const { quantizer, report } = await train(4, 3);
    const e = new Float64Array(n);
    const total = quantizer.encodeRows(x, n, new Uint8Array(n * quantizer.codeSize), e);
    expect(total / n).toBeCloseTo(report.trainMse, 3);
    expect(mse(quantizer, x, n)).toBeCloseTo(report.trainMse, 3);
  });

  it('ADC over the code bytes (and the norm byte) is the distance to the decoded vector', async () => {
    const { quantizer } = await train(5, 4);
    const codes = quantizer.encode(x, n);
    const rec = quantizer.decode(codes, n);
    const rng = new Rng(3);
    const q = Float32Array.from({ length: d }, () => rng.nextFloat() * 4 - 2);
    const l2 = quantizer.distanceTable(q, 0, 'l2');
    const ip = quantizer.distanceTable(q, 0, 'ip');
    const bound = quantizer.norm!.maxError();
    for (let i = 0; i < 200; i++) {
      const exact = l2sq(q, 0, rec, i * d, d);
      // Within the norm quantizer's bound (plus float32 rounding of the table).
      expect(Math.abs(adcDistance(codes, i, quantizer.geometry, l2) - exact)).toBeLessThanOrEqual(bound + 1e-3 * (1 + exact));
      expect(adcDistance(codes, i, quantizer.geometry, ip)).toBeCloseTo(-dot(q, 0, rec, i * d, d), 3);
    }
  });

  it('without norms: inner-product tables only, codes of M bytes, L2 refused', async () => {
    const { quantizer } = await train(3, 2, false);
    expect(quantizer.codeSize).toBe(3);
    expect(() => quantizer.distanceTable(new Float32Array(d), 0, 'l2')).toThrow(/norms/);
  });
});

describe('NormQuantizer', () => {
  it('trains ascending levels; encodes to the nearest, within half the widest gap', () => {
    const rng = new Rng(8);
    const v = Float64Array.from({ length: 5_000 }, () => 100 + 50 * rng.nextFloat() ** 2);
    const nq = NormQuantizer.train(v, v.length);
    expect(nq.levels.length).toBe(NORM_LEVELS);
    for (let j = 1; j < NORM_LEVELS; j++) expect(nq.levels[j]).toBeGreaterThanOrEqual(nq.levels[j - 1]);
    for (const value of v.subarray(0, 500)) {
      const j = nq.encode(value);
      const err = Math.abs(nq.levels[j] - value);
      expect(err).toBeLessThanOrEqual(nq.maxError() + 1e-4);
      if (j > 0) expect(err).toBeLessThanOrEqual(Math.abs(nq.levels[j - 1] - value) + 1e-9);
      if (j < NORM_LEVELS - 1) expect(err).toBeLessThanOrEqual(Math.abs(nq.levels[j + 1] - value) + 1e-9);
    }
    // Dense where the values are (a non-uniform quantizer): more levels in the lower half of the range.
    expect(nq.levels.filter((l) => l < 125).length).toBeGreaterThan(NORM_LEVELS / 2);
  });

  it('handles fewer values than levels', () => {
    const nq = NormQuantizer.train(Float64Array.from([3, 1, 2]), 3);
    expect(nq.levels[nq.encode(2.1)]).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { adcDistance } from '../../src/core/adc.js';
import { ADDITIVE_K, AdditiveQuantizer } from '../../src/core/additive.js';
import { l2sq } from '../../src/core/distance.js';
import { codewordNorms, icmEncodeRowsTask, trainLocalSearchQuantizer, updateCodebooksTask } from '../../src/core/lsq.js';
import { trainResidualQuantizer } from '../../src/core/residual.js';
import { inlineCompute } from '../../src/core/rotation.js';
import { dotsF32 } from '../../src/core/wasm/kernels.js';
import { correlated } from '../helpers/data.js';

const d = 24;
const n = 1_500;
const x = correlated(n, d, 8);

function mse(q: AdditiveQuantizer, data: Float32Array, rows: number): number {
  const rec = q.decode(q.encode(data, rows), rows);
  let s = 0;
  for (let i = 0; i < rows; i++) s += l2sq(data, i * d, rec, i * d, d);
  return s / rows;
}

describe('local-search quantizer (LSQ++)', () => {
  it('codes correlated data with less error than a residual quantizer of the same size, on training and held-out rows', async () => {
    const rq = await trainResidualQuantizer(x, n, d, { m: 4, beam: 4, norm: true }, { iterations: 8, seed: 2 }, inlineCompute);
    const lsq = await trainLocalSearchQuantizer(x, n, d, { m: 4, norm: true }, { iterations: 6, seed: 2 }, inlineCompute);
    expect(lsq.quantizer.kind).toBe('lsq');
    expect(lsq.quantizer.codeSize).toBe(5);
    expect(mse(lsq.quantizer, x, n)).toBeLessThan(mse(rq.quantizer, x, n));
    const held = correlated(500, d, 81);
    expect(mse(lsq.quantizer, held, 500)).toBeLessThan(mse(rq.quantizer, held, 500));
    // The report's training error is the last round's, and rounds lower it overall.
    expect(lsq.report.stageMse.at(-1)!).toBeLessThan(lsq.report.stageMse[0]);
    // Encoding the training rows afresh (from a beam search, then ILS) reaches the error training reported.
    expect(mse(lsq.quantizer, x, n)).toBeLessThan(1.02 * lsq.report.trainMse);
  });

  it("ADC of its codes is the distance to the decoded vector, within the norm byte's bound", async () => {
    const { quantizer } = await trainLocalSearchQuantizer(x, n, d, { m: 3, norm: true }, { iterations: 2, seed: 4 }, inlineCompute);
    const codes = quantizer.encode(x, 300);
    const rec = quantizer.decode(codes, 300);
    const q = Float32Array.from({ length: d }, (_, i) => Math.sin(i));
    const table = quantizer.distanceTable(q, 0, 'l2');
    for (let i = 0; i < 300; i++) {
      const exact = l2sq(q, 0, rec, i * d, d);
      expect(Math.abs(adcDistance(codes, i, quantizer.geometry, table) - exact)).toBeLessThanOrEqual(quantizer.norm!.maxError() + 1e-3 * (1 + exact));
    }
  });

  it('a codebook update never raises the squared error of fixed codes', async () => {
    const { quantizer } = await trainResidualQuantizer(x, n, d, { m: 3, beam: 1, norm: false }, { iterations: 4, seed: 5 }, inlineCompute);
    const codes = new Uint8Array(n * 3);
    const rows = quantizer.encode(x, n);
    codes.set(rows);
    const codebooks = Float32Array.from(quantizer.codebooks);
    const before = mse(quantizer, x, n) * n;
    const after = updateCodebooksTask({ data: x, n, d, codes, M: 3, codebooks, ridge: 0 });
    expect(after).toBeLessThanOrEqual(before + 1e-6 * before);
    // Computed from scratch with the new codebooks: the same error.
    const updated = new AdditiveQuantizer('rq', d, 3, codebooks, null, 1);
    const rec = updated.decode(codes, n);
    let err = 0;
    for (let i = 0; i < n; i++) err += l2sq(x, i * d, rec, i * d, d);
    expect(after).toBeCloseTo(err, 0);
  });

  it('ICM re-encoding never raises a row error from its starting codes, and reports each row error exactly', async () => {
    const { quantizer } = await trainResidualQuantizer(x, n, d, { m: 4, beam: 1, norm: false }, { iterations: 4, seed: 6 }, inlineCompute);
    const M = 4;
    const codes = Uint8Array.from(quantizer.encode(x, n));
    const start = new Float64Array(n);
    const rec0 = quantizer.decode(codes, n);
    for (let i = 0; i < n; i++) start[i] = l2sq(x, i * d, rec0, i * d, d);
    const gram = new Float32Array(M * ADDITIVE_K * M * ADDITIVE_K);
    dotsF32(quantizer.codebooks, 0, quantizer.codebooks, 0, M * ADDITIVE_K, M * ADDITIVE_K, d, gram);
    const errors = new Float64Array(n);
    const options = { ils: 4, icm: 4, perturbations: 2 };
    const task = {
      data: x,
      d,
      codes,
      M,
      codebooks: quantizer.codebooks,
      codewordNorms: codewordNorms(quantizer.codebooks, M, d),
      gram,
      options,
      start: 0,
      end: n,
    };
    icmEncodeRowsTask(task, errors);
    const rec = quantizer.decode(codes, n);
    for (let i = 0; i < n; i++) {
      const exact = l2sq(x, i * d, rec, i * d, d);
      expect(exact).toBeLessThanOrEqual(start[i] * (1 + 1e-4) + 1e-4);
      expect(errors[i]).toBeCloseTo(exact, 2);
    }
  });
});
